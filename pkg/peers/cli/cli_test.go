package cli

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/pkg/peers"
)

func TestNormalizeArgs(t *testing.T) {
	var o Options
	fs := NewFlagSet(&o)
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-on-start=/x.sh", "-service=zk", "-ns", "default"}, []string{"--on-start=/x.sh", "--service=zk", "--ns", "default"}},
		// The value of a flag that takes one is never rewritten.
		{[]string{"-domain", "-weird", "-on-start", "/x"}, []string{"--domain", "-weird", "--on-start", "/x"}},
		// Bool flags do not consume the next argument.
		{[]string{"-shell", "-version"}, []string{"--shell", "--version"}},
		{[]string{"-h", "-", "--", "-ns=x"}, []string{"-h", "-", "--", "-ns=x"}},
		{[]string{"--ns=a", "-min-peers", "-1"}, []string{"--ns=a", "--min-peers", "-1"}},
	} {
		if got := NormalizeArgs(fs, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("NormalizeArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripQuotes(t *testing.T) {
	for in, want := range map[string]string{
		`"/work-dir/on-start.sh"`: "/work-dir/on-start.sh",
		`'/x'`:                    "/x",
		`"a" "b"`:                 `"a" "b"`,
		`"`:                       `"`,
		`"x'`:                     `"x'`,
		`plain`:                   "plain",
	} {
		if got := StripQuotes(in); got != want {
			t.Errorf("StripQuotes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseOldSyntax(t *testing.T) {
	o, _, err := Parse([]string{`-on-start="/work-dir/on-start.sh"`, "-service=zk", "-ns", "default", "--dns-server=127.0.0.1:53,10.0.0.1", "--dns-server", "10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if o.OnStart != "/work-dir/on-start.sh" || o.Service != "zk" || o.Namespace != "default" {
		t.Fatalf("%+v", o)
	}
	servers, err := nameservers(o.DNSServers)
	if err != nil || strings.Join(servers, ",") != "127.0.0.1:53,10.0.0.1:53,10.0.0.2:53" {
		t.Fatalf("servers %v %v", servers, err)
	}
}

func TestBuild(t *testing.T) {
	env := Env{
		Getenv:   func(k string) string { return map[string]string{"POD_NAMESPACE": "prod", "POD_IP": "10.0.0.9"}[k] },
		Hostname: func() (string, error) { return "zk-2", nil },
		Stdout:   &strings.Builder{}, Stderr: &strings.Builder{},
	}
	o, _, err := Parse([]string{"-on-change", "/bin/x 'a b'", "-service=zk", "-domain=c.local", "-dns-server=127.0.0.1:5353", "-address-type=IP", "-settle=2s"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Build(context.Background(), o, env)
	if err != nil {
		t.Fatal(err)
	}
	if f.Namespace != "prod" || f.Hostname != "zk-2" || f.Domain != "c.local" || f.AddressType != peers.AddressIP ||
		!reflect.DeepEqual(f.PodIPs, []string{"10.0.0.9"}) || !reflect.DeepEqual(f.OnChange, []string{"/bin/x", "a b"}) ||
		f.Settle != 2*time.Second || !f.Sidecar() {
		t.Fatalf("%+v", f.Config)
	}
	if got := f.Resolver.Servers(); !reflect.DeepEqual(got, []string{"127.0.0.1:5353"}) {
		t.Fatalf("servers %v", got)
	}
}

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil:              ExitOK,
		usagef("x"):      ExitUsage,
		peers.ErrTimeout: ExitTimeout,
		&peers.OnStartError{Err: errors.New("x")}: ExitOnStart,
		peers.ErrInterrupted:                      ExitInterrupted,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}
