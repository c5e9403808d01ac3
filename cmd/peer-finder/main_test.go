package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi/apitest"
)

// TestMain makes the test binary double as the peer-finder command: the
// scripts run it as a separate process, exactly as main() runs in a pod.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"peer-finder": main})
}

type scriptState struct {
	dns *dnstest.Server
	api *apitest.Server
}

type stateKey struct{}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Values[stateKey{}] = &scriptState{}
			env.Setenv("POD_NAMESPACE", "")
			env.Setenv("POD_IP", "")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dns":      cmdDNS,
			"api":      cmdAPI,
			"exitcode": cmdExitCode,
			"waitfile": cmdWaitFile,
			"sigterm":  cmdSigterm,
			"pidgone":  cmdPidGone,
			"isexec":   cmdIsExec,
			"sleep":    cmdSleep,
		},
	})
}

func state(ts *testscript.TestScript) *scriptState {
	return ts.Value(stateKey{}).(*scriptState)
}

// dns start                 start a server on 127.0.0.1; $DNS is its address
// dns srv NAME TARGET...    set SRV records (no targets: the name has none)
// dns addr HOST IP...       set A/AAAA records
// dns delete NAME           NXDOMAIN for NAME
// dns wait-queries N        wait until the server has seen N queries
// dns mode normal|servfail|refused|silent|wrongid|malformed
func cmdDNS(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	start := func() {
		s, err := dnstest.Start()
		ts.Check(err)
		st.dns = s
		ts.Defer(s.Close)
		ts.Setenv("DNS", s.Addr)
	}
	modes := map[string]dnstest.Mode{"normal": dnstest.Normal, "servfail": dnstest.ServFail, "refused": dnstest.Refused,
		"silent": dnstest.Silent, "wrongid": dnstest.WrongID, "malformed": dnstest.Malformed}
	serverCmd(ts, neg, args, "dns", start, func() bool { return st.dns != nil }, map[string]subcommand{
		"srv":    {"NAME TARGET...", 1, func(a []string) { st.dns.SetSRV(a[0], a[1:]...) }},
		"addr":   {"HOST IP...", 2, func(a []string) { st.dns.SetAddrs(a[0], a[1:]...) }},
		"delete": {"NAME", 1, func(a []string) { st.dns.DeleteSRV(a[0]) }},
		"wait-queries": {"N", 1, func(a []string) {
			n, err := strconv.Atoi(a[0])
			ts.Check(err)
			var seen int64
			if !poll(20*time.Second, 5*time.Millisecond, func() bool {
				u, t := st.dns.Queries()
				seen = u + t
				return seen >= int64(n)
			}) {
				ts.Fatalf("only %d queries", seen)
			}
		}},
		"mode": {"normal|servfail|refused|silent|wrongid|malformed", 1, func(a []string) {
			m, ok := modes[a[0]]
			if !ok {
				ts.Fatalf("unknown mode %q", a[0])
			}
			st.dns.SetMode(m)
		}},
	})
}

// subcommand is one subcommand of a script command that drives a fake
// server.
type subcommand struct {
	usage string // its arguments
	min   int    // how many arguments it needs at least
	run   func(args []string)
}

// serverCmd runs the script command name that drives a fake server:
// "start" starts it (start); any other subcommand needs it started and at
// least the arguments the subcommand asks for.
func serverCmd(ts *testscript.TestScript, neg bool, args []string, name string, start func(), started func() bool, subs map[string]subcommand) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: %s start|%s ...", name, strings.Join(slices.Sorted(maps.Keys(subs)), "|"))
	}
	if args[0] == "start" {
		start()
		return
	}
	if !started() {
		ts.Fatalf("%s start first", name)
	}
	sub, ok := subs[args[0]]
	switch {
	case !ok:
		ts.Fatalf("unknown %s subcommand %q", name, args[0])
	case len(args)-1 < sub.min:
		ts.Fatalf("usage: %s %s %s", name, args[0], sub.usage)
	}
	sub.run(args[1:])
}

// poll calls done every interval until it returns true or timeout has
// passed, and reports whether it returned true.
func poll(timeout, interval time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// exitcode N PROG ARGS...: runs PROG and requires exit status N; stdout and
// stderr are kept for the following stdout/stderr checks.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("running %s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// waitfile FILE [REGEXP]: waits (up to 20s) until FILE exists and, if given,
// its content matches REGEXP.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [REGEXP]")
	}
	var re *regexp.Regexp
	if len(args) == 2 {
		re = regexp.MustCompile(args[1])
	}
	path := ts.MkAbs(args[0])
	var b []byte
	if !poll(20*time.Second, 10*time.Millisecond, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && (re == nil || re.Match(b))
	}) {
		ts.Fatalf("timed out waiting for %s to match %v; content: %q", args[0], re, b)
	}
}

// sigterm: sends SIGTERM to every background command.
func cmdSigterm(ts *testscript.TestScript, neg bool, args []string) {
	for _, c := range ts.BackgroundCmds() {
		if c.Process != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
	}
}

// pidgone FILE: the process whose pid FILE holds must be gone (or a zombie)
// within 5s.
func cmdPidGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: pidgone FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	ts.Check(err)
	var gone bool
	if !poll(5*time.Second, 10*time.Millisecond, func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		gone = err != nil
		if !gone {
			s := string(st)
			i := strings.LastIndexByte(s, ')')
			gone = i > 0 && i+2 < len(s) && s[i+2] == 'Z'
		}
		return gone != neg
	}) {
		ts.Fatalf("process %d: gone=%v, want %v", pid, gone, !neg)
	}
}

// isexec FILE: FILE must be a regular file with mode 0755.
func cmdIsExec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: isexec FILE")
	}
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if ok := st.Mode().IsRegular() && st.Mode().Perm() == 0o755; ok == neg {
		ts.Fatalf("%s has mode %v", filepath.Base(args[0]), st.Mode())
	}
}

// sleep DURATION
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// api start                  fake Kubernetes API on 127.0.0.1; $KUBECONFIG_FAKE reaches it
// api slice NAME FAMILY EP... create or replace EndpointSlice NAME of Service web in
//
//	namespace default; FAMILY: IPv4 or IPv6; EP: HOST=IP (ready),
//	HOST=IP%notready, HOST=IP%unserving (ready as with
//	publishNotReadyAddresses, not serving); empty HOST: none
//
// api delete NAME             delete slice NAME
// api forbid USER             answer 403 naming USER ("" allows again)
// api down | up               cut every connection / answer again
// api compact                 forget the history: watches from before get 410 Gone
// api wait-watch              wait until a watch is open
func cmdAPI(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	start := func() {
		st.api = apitest.Start()
		ts.Defer(st.api.Close)
		kc, err := st.api.WriteKubeconfig(ts.MkAbs("."))
		ts.Check(err)
		ts.Setenv("KUBECONFIG_FAKE", kc)
	}
	serverCmd(ts, neg, args, "api", start, func() bool { return st.api != nil }, map[string]subcommand{
		"slice": {"NAME FAMILY EP...", 2, func(a []string) {
			var eps []kubeapi.Endpoint
			for _, e := range a[2:] {
				host, addr, _ := strings.Cut(e, "=")
				ready, serving := true, true
				if ip, cond, ok := strings.Cut(addr, "%"); ok {
					addr = ip
					ready, serving = cond != "notready", false
				}
				eps = append(eps, apitest.Endpoint(host, ready, serving, addr))
			}
			st.api.Apply(apitest.Slice("default", "web", a[0], a[1], eps...))
		}},
		"delete":  {"NAME", 1, func(a []string) { st.api.Delete("default", a[0]) }},
		"forbid":  {"USER", 1, func(a []string) { st.api.Forbid(a[0]) }},
		"down":    {"", 0, func([]string) { st.api.SetDown(true) }},
		"up":      {"", 0, func([]string) { st.api.SetDown(false) }},
		"compact": {"", 0, func([]string) { st.api.Compact() }},
		"wait-watch": {"", 0, func([]string) {
			if !poll(20*time.Second, 5*time.Millisecond, func() bool { return st.api.OpenWatches() > 0 }) {
				ts.Fatalf("no watch opened")
			}
		}},
	})
}
