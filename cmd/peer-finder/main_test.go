package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	if neg || len(args) == 0 {
		ts.Fatalf("usage: dns start|srv|addr|delete|mode ...")
	}
	st := state(ts)
	if args[0] == "start" {
		s, err := dnstest.Start()
		ts.Check(err)
		st.dns = s
		ts.Defer(s.Close)
		ts.Setenv("DNS", s.Addr)
		return
	}
	if st.dns == nil {
		ts.Fatalf("dns start first")
	}
	switch args[0] {
	case "srv":
		if len(args) < 2 {
			ts.Fatalf("usage: dns srv NAME TARGET...")
		}
		st.dns.SetSRV(args[1], args[2:]...)
	case "addr":
		if len(args) < 3 {
			ts.Fatalf("usage: dns addr HOST IP...")
		}
		st.dns.SetAddrs(args[1], args[2:]...)
	case "wait-queries":
		// Waits until the server has received at least N queries.
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		deadline := time.Now().Add(20 * time.Second)
		for {
			u, t := st.dns.Queries()
			if u+t >= int64(n) {
				break
			}
			if time.Now().After(deadline) {
				ts.Fatalf("only %d queries", u+t)
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "delete":
		st.dns.DeleteSRV(args[1])
	case "mode":
		modes := map[string]dnstest.Mode{"normal": dnstest.Normal, "servfail": dnstest.ServFail, "refused": dnstest.Refused,
			"silent": dnstest.Silent, "wrongid": dnstest.WrongID, "malformed": dnstest.Malformed}
		m, ok := modes[args[1]]
		if !ok {
			ts.Fatalf("unknown mode %q", args[1])
		}
		st.dns.SetMode(m)
	default:
		ts.Fatalf("unknown dns subcommand %q", args[0])
	}
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && (re == nil || re.Match(b)) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("timed out waiting for %s to match %v; content: %q", args[0], re, b)
		}
		time.Sleep(10 * time.Millisecond)
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		gone := err != nil
		if !gone {
			s := string(st)
			i := strings.LastIndexByte(s, ')')
			gone = i > 0 && i+2 < len(s) && s[i+2] == 'Z'
		}
		if gone != neg {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("process %d: gone=%v, want %v", pid, gone, !neg)
		}
		time.Sleep(10 * time.Millisecond)
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
	if neg || len(args) == 0 {
		ts.Fatalf("usage: api start|slice|delete|forbid|down|up|compact|wait-watch ...")
	}
	st := state(ts)
	if args[0] == "start" {
		st.api = apitest.Start()
		ts.Defer(st.api.Close)
		kc, err := st.api.WriteKubeconfig(ts.MkAbs("."))
		ts.Check(err)
		ts.Setenv("KUBECONFIG_FAKE", kc)
		return
	}
	if st.api == nil {
		ts.Fatalf("api start first")
	}
	switch args[0] {
	case "slice":
		if len(args) < 3 {
			ts.Fatalf("usage: api slice NAME FAMILY EP...")
		}
		var eps []kubeapi.Endpoint
		for _, e := range args[3:] {
			host, addr, _ := strings.Cut(e, "=")
			ready, serving := true, true
			if a, cond, ok := strings.Cut(addr, "%"); ok {
				addr = a
				ready, serving = cond != "notready", false
			}
			eps = append(eps, apitest.Endpoint(host, ready, serving, addr))
		}
		st.api.Apply(apitest.Slice("default", "web", args[1], args[2], eps...))
	case "delete":
		st.api.Delete("default", args[1])
	case "forbid":
		st.api.Forbid(args[1])
	case "down", "up":
		st.api.SetDown(args[0] == "down")
	case "compact":
		st.api.Compact()
	case "wait-watch":
		deadline := time.Now().Add(20 * time.Second)
		for st.api.OpenWatches() == 0 {
			if time.Now().After(deadline) {
				ts.Fatalf("no watch opened")
			}
			time.Sleep(5 * time.Millisecond)
		}
	default:
		ts.Fatalf("unknown api subcommand %q", args[0])
	}
}
