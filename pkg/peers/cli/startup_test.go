package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A sidecar gives back its start-up pages once; init mode never does, and
// a failure is reported, not fatal.
func TestSidecarDropsStartupPages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		dropErr  error
		wantHook bool
		wantLog  string
	}{
		{"sidecar", []string{"--on-change=/bin/true"}, nil, true, ""},
		{"sidecar, drop fails", []string{"--on-change=/bin/true"}, errors.New("madvise: EINVAL"), true,
			"peer-finder: could not give back start-up memory: madvise: EINVAL"},
		{"init container", []string{"--on-start=/bin/true"}, nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			stderr := &strings.Builder{}
			env := Env{
				Getenv:           func(k string) string { return map[string]string{"POD_NAMESPACE": "prod"}[k] },
				Hostname:         func() (string, error) { return "zk-0", nil },
				Stdout:           &strings.Builder{},
				Stderr:           stderr,
				DropStartupPages: func() (uint64, error) { calls++; return 4096, tc.dropErr },
			}
			o, _, err := Parse(append(tc.args, "--service=zk", "--domain=c.local", "--dns-server=127.0.0.1:5353"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Build(context.Background(), o, env)
			if err != nil {
				t.Fatal(err)
			}
			if (f.AfterStart != nil) != tc.wantHook {
				t.Fatalf("AfterStart set: %v, want %v", f.AfterStart != nil, tc.wantHook)
			}
			if f.AfterStart == nil {
				return
			}
			f.AfterStart()
			if calls != 1 {
				t.Fatalf("DropStartupPages called %d times, want 1", calls)
			}
			if got := strings.TrimSpace(stderr.String()); got != tc.wantLog {
				t.Fatalf("stderr %q, want %q", got, tc.wantLog)
			}
		})
	}
}
