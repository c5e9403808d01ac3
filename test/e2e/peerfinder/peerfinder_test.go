// Package peerfinder runs peer-finder with --source=api and --source=dns
// side by side against the local plane, beside a PetSet, including a
// restart of kube-apiserver. It has its own plane, as the restart would
// disturb other tests.
package peerfinder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/plane"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

const (
	set           = "web"
	peerFinderPkg = "github.com/kennel-dev/kennel/cmd/peer-finder"
)

// record.sh appends "<kind> <peers, space-separated>" to $1.
const recordScript = `#!/bin/sh
printf '%s %s\n' "$2" "$PEERS" >> "$1"
`

// finder is one peer-finder sidecar process.
type finder struct {
	name, runs, peers, log string
	cmd                    *exec.Cmd
	done                   chan error
}

func startFinder(t *testing.T, dir, name string, f *framework.Framework, extra ...string) *finder {
	t.Helper()
	bin := framework.BuildBinary(t, peerFinderPkg)
	pf := &finder{name: name, runs: filepath.Join(dir, name+".runs"), peers: filepath.Join(dir, name+".peers"),
		log: filepath.Join(dir, name+".log"), done: make(chan error, 1)}
	script := filepath.Join(dir, "record.sh")
	args := append([]string{
		"--service=" + set, "--ns=" + f.Namespace, "--domain=" + plane.ClusterDomain, "--hostname=" + set + "-1",
		"--on-start=" + script + " " + pf.runs + " start", "--on-change=" + script + " " + pf.runs + " change",
		"--peers-file=" + pf.peers,
	}, extra...)
	logf, err := os.Create(pf.log)
	if err != nil {
		t.Fatal(err)
	}
	pf.cmd = exec.Command(bin, args...)
	pf.cmd.Stdout, pf.cmd.Stderr = logf, logf
	pf.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := pf.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { pf.done <- pf.cmd.Wait(); _ = logf.Close() }()
	t.Cleanup(func() {
		_ = pf.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-pf.done:
		case <-time.After(10 * time.Second):
			_ = pf.cmd.Process.Kill()
			<-pf.done
		}
		b, _ := os.ReadFile(pf.log)
		t.Logf("peer-finder --source=%s log:\n%s", name, b)
	})
	return pf
}

// runList returns the recorded runs, one "kind peers" line each.
func (pf *finder) runList() []string {
	b, _ := os.ReadFile(pf.runs)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func peersOfRun(run string) string {
	_, p, _ := strings.Cut(run, " ")
	return p
}

func (pf *finder) logText() string {
	b, _ := os.ReadFile(pf.log)
	return string(b)
}

// waitPeers waits until the last run and the peers file both show pets
// 0..n-1.
func waitPeers(t *testing.T, f *framework.Framework, pf *finder, n int, timeout time.Duration) {
	t.Helper()
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, f.FQDN(set, set, i))
	}
	wantFile := strings.Join(want, "\n") + "\n"
	err := f.WaitFor(f.Context(timeout), fmt.Sprintf("%s: %d peers", pf.name, n), func(context.Context) (bool, error) {
		runs := pf.runList()
		b, _ := os.ReadFile(pf.peers)
		return len(runs) > 0 && peersOfRun(runs[len(runs)-1]) == strings.Join(want, " ") && string(b) == wantFile, nil
	})
	if err != nil {
		t.Fatalf("%v; runs %q", err, pf.runList())
	}
}

func scale(t *testing.T, f *framework.Framework, kc versioned.Interface, replicas int32) {
	t.Helper()
	ctx := f.Context(30 * time.Second)
	err := retry.OnError(retry.DefaultRetry, func(error) bool { return true }, func() error {
		s, err := kc.KennelV1().PetSets(f.Namespace).GetScale(ctx, set, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = replicas
		_, err = kc.KennelV1().PetSets(f.Namespace).UpdateScale(ctx, set, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("scale to %d: %v", replicas, err)
	}
}

// TestAPISourceBesideAPetSet: peer-finder --source=api (watching
// EndpointSlices) and --source=dns (polling the plane's CoreDNS) run as
// sidecars of pet web-1 while the PetSet scales 1 → 3 → 5, kube-apiserver
// restarts, and the set scales to 2.
func TestAPISourceBesideAPetSet(t *testing.T) {
	f := framework.New(t)
	kc := f.InstallPetSetCRD()
	// No leader election: the controller would give up its Lease while
	// kube-apiserver restarts.
	f.StartController("controller", "--namespace="+f.Namespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	ctx := f.Context(time.Minute)
	if _, err := f.Client.CoreV1().Services(f.Namespace).Create(ctx, framework.HeadlessService(set), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.KennelV1().PetSets(f.Namespace).Create(ctx, framework.PetSet(set, 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "record.sh"), []byte(recordScript), 0o755); err != nil {
		t.Fatal(err)
	}
	api := startFinder(t, dir, "api", f, "--source=api", "--kubeconfig="+f.Plane.Kubeconfig())
	dns := startFinder(t, dir, "dns", f, "--source=dns", "--dns-server="+f.Plane.DNSAddr(), "--poll-interval=200ms")

	// Only web-0 exists: web-1's peer-finder waits for itself.
	f.WaitForReadyPets(f.Context(2*time.Minute), set, 1)
	if err := f.WaitFor(f.Context(30*time.Second), "api: web-0 seen", func(context.Context) (bool, error) {
		return strings.Contains(api.logText(), "peers changed: 0 → 1"), nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if runs := api.runList(); len(runs) != 0 {
		t.Fatalf("api ran before this pod existed: %q", runs)
	}

	scale(t, f, kc, 3)
	waitPeers(t, f, api, 3, 2*time.Minute)
	waitPeers(t, f, dns, 3, time.Minute)
	if runs := api.runList(); !strings.HasPrefix(runs[0], "start ") {
		t.Fatalf("the first run was not on-start: %q", runs)
	}
	scale(t, f, kc, 5)
	waitPeers(t, f, api, 5, 2*time.Minute)
	waitPeers(t, f, dns, 5, time.Minute)
	before := len(api.runList())

	t.Log("restarting kube-apiserver")
	if err := f.Plane.RestartAPIServer(f.Context(2*time.Minute), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	scale(t, f, kc, 2)
	waitPeers(t, f, api, 2, 3*time.Minute)
	waitPeers(t, f, dns, 2, time.Minute)

	runs := api.runList()
	for i := 1; i < len(runs); i++ {
		if peersOfRun(runs[i]) == peersOfRun(runs[i-1]) {
			t.Errorf("api: run %d repeats the membership of run %d: %q", i, i-1, runs)
		}
	}
	if len(runs) <= before {
		t.Errorf("api: no run after the restart: %q", runs)
	}
	for _, r := range runs[before:] {
		if strings.Count(peersOfRun(r), " ")+1 >= 5 {
			t.Errorf("api: after the restart a run had the old membership: %q", r)
		}
	}
	if got := strings.Count(api.logText(), "cannot watch EndpointSlices"); got != 1 {
		t.Errorf("api: the outage was logged %d times, want once", got)
	}
	if !strings.Contains(api.logText(), "the API server answers again") {
		t.Errorf("api: recovery not logged")
	}
	// Pets come and go in ordinal order (OrderedReady): every membership
	// the api source ran with is web-0..web-k, nothing invented.
	for _, r := range runs {
		var want []string
		for i := 0; i <= strings.Count(peersOfRun(r), " "); i++ {
			want = append(want, f.FQDN(set, set, i))
		}
		if peersOfRun(r) != strings.Join(want, " ") {
			t.Errorf("api ran with %q, not a state of the set", r)
		}
	}
	dnsRuns := dns.runList()
	t.Logf("api runs: %q\ndns runs: %q", runs, dnsRuns)
}
