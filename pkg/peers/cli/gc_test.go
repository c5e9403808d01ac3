package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The DNS source lowers the collector's target unless GOGC is set; the API
// source leaves it alone.
func TestGCPercent(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: c
  context: {cluster: c, user: u}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, source, gogc string
		want               []int
	}{
		{"dns", "dns", "", []int{dnsGCPercent}},
		{"dns with GOGC", "dns", "50", nil},
		{"api", "api", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			env := Env{
				Getenv:       func(k string) string { return map[string]string{"POD_NAMESPACE": "prod", "GOGC": tc.gogc}[k] },
				Hostname:     func() (string, error) { return "zk-0", nil },
				Stdout:       &strings.Builder{},
				Stderr:       &strings.Builder{},
				SetGCPercent: func(p int) int { got = append(got, p); return 100 },
			}
			args := []string{"--on-change=/bin/true", "--service=zk", "--domain=c.local", "--source=" + tc.source}
			if tc.source == "api" {
				args = append(args, "--kubeconfig="+kc)
			} else {
				args = append(args, "--dns-server=127.0.0.1:5353")
			}
			o, _, err := Parse(args)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Build(context.Background(), o, env); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
				t.Fatalf("SetGCPercent calls %v, want %v", got, tc.want)
			}
		})
	}
}
