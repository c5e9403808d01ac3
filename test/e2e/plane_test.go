package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/plane"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

const set = "web"

// The built-in StatefulSet controller creates pets one at a time, each only
// after the previous one is Ready, and every pet's claim is bound.
func TestStatefulSetOrderedStartup(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)

	rec := f.RecordPods(ctx, "app="+set)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 3))
	pets := f.WaitForReadyPets(ctx, set, 3)
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}

	want := []string{"web-0", "web-1", "web-2"}
	if got := rec.Created(); !slices.Equal(got, want) {
		t.Fatalf("creation order %v, want %v; events:\n%s", got, want, rec)
	}
	for i := 1; i < len(want); i++ {
		created, _ := rec.First(func(e framework.PodEvent) bool { return e.Type == watch.Added && e.Name == want[i] })
		ready, ok := rec.First(func(e framework.PodEvent) bool { return e.Name == want[i-1] && e.Ready })
		if !ok || ready.Seq > created.Seq {
			t.Fatalf("%s was created (event #%d) before %s was Ready; events:\n%s", want[i], created.Seq, want[i-1], rec)
		}
	}

	f.WaitForBoundClaims(ctx, "data-web-0", "data-web-1", "data-web-2")

	_, podNet, _ := net.ParseCIDR("10.244.0.0/16")
	ips := map[string]string{}
	for _, p := range pets {
		ip := net.ParseIP(p.Status.PodIP)
		if ip == nil || !podNet.Contains(ip) {
			t.Errorf("pod %s has IP %q, want one from the nodes' podCIDRs in %s", p.Name, p.Status.PodIP, podNet)
		}
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Errorf("pods %s and %s share IP %s", other, p.Name, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = p.Name
		if !strings.HasPrefix(p.Spec.NodeName, "kwok-node-") {
			t.Errorf("pod %s is on node %q, want a simulated node", p.Name, p.Spec.NodeName)
		}
		if p.Spec.Hostname != p.Name || p.Spec.Subdomain != set {
			t.Errorf("pod %s has hostname %q subdomain %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
		}
	}
}

// CoreDNS publishes one SRV record per pet of a headless Service, and an A
// record per pet with its pod IP.
func TestClusterDNSListsPets(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 3))
	pets := f.WaitForReadyPets(ctx, set, 3)

	var want []string
	for i := range 3 {
		want = append(want, f.FQDN(set, set, i))
	}
	dnsAddr := f.Plane.DNSAddr()
	for _, name := range []string{
		fmt.Sprintf("%s.%s.svc.%s", set, f.Namespace, plane.ClusterDomain),
		fmt.Sprintf("_%s._tcp.%s.%s.svc.%s", framework.PeerPort, set, f.Namespace, plane.ClusterDomain),
	} {
		var got []framework.SRV
		err := f.WaitFor(ctx, "SRV "+name+" lists 3 pets", func(ctx context.Context) (bool, error) {
			var err error
			got, err = framework.LookupSRV(ctx, dnsAddr, name)
			if err != nil {
				return false, framework.Retry(err)
			}
			return slices.Equal(targets(got), want), nil
		})
		if err != nil {
			t.Fatalf("%v; last answer %v", err, got)
		}
		for _, srv := range got {
			if srv.Port != 7000 {
				t.Errorf("SRV %s: target %s port %d, want 7000", name, srv.Target, srv.Port)
			}
		}
	}
	for i, p := range pets {
		ips, err := framework.LookupA(ctx, dnsAddr, want[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(ips) != 1 || ips[0].String() != p.Status.PodIP {
			t.Errorf("A %s = %v, want [%s]", want[i], ips, p.Status.PodIP)
		}
	}
}

func targets(srvs []framework.SRV) []string {
	out := make([]string, 0, len(srvs))
	for _, s := range srvs {
		out = append(out, s.Target)
	}
	return out
}

// writeScript writes an executable shell script that appends "---" and the
// peers it reads on stdin to out.
func writeScript(t *testing.T, dir, out string) string {
	t.Helper()
	path := filepath.Join(dir, "record-peers.sh")
	script := fmt.Sprintf("#!/bin/sh\n{ echo ---; cat; echo; } >> '%s'\n", out)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// peerLists parses the file written by writeScript into one list per run.
func peerLists(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var runs [][]string
	for _, block := range strings.Split(string(data), "---\n")[1:] {
		var peers []string
		for _, l := range strings.Split(block, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				peers = append(peers, l)
			}
		}
		runs = append(runs, peers)
	}
	return runs
}

func peerFinder(t *testing.T) string {
	return framework.BuildBinary(t, "github.com/kennel-dev/kennel/cmd/peer-finder")
}

// peer-finder, pointed at the plane's CoreDNS, finds the pets of the set
// and runs --on-start with them (init-container mode), then exits 0.
func TestPeerFinderOnStart(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	bin := peerFinder(t)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 3))
	f.WaitForReadyPets(ctx, set, 3)

	dir := t.TempDir()
	out := filepath.Join(dir, "peers")
	cmd := exec.CommandContext(ctx, bin,
		"--service", set, "--ns", f.Namespace, "--domain", plane.ClusterDomain,
		"--hostname", "web-2", "--dns-server", f.Plane.DNSAddr(),
		"--on-start", writeScript(t, dir, out), "--timeout", "60s")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peer-finder: %v\n%s", err, b)
	}
	runs := peerLists(t, out)
	want := []string{f.FQDN(set, set, 0), f.FQDN(set, set, 1), f.FQDN(set, set, 2)}
	if len(runs) != 1 || !slices.Equal(runs[0], want) {
		t.Fatalf("on-start ran with %q, want one run with %q\npeer-finder output:\n%s", runs, want, b)
	}
}

// In sidecar mode (--on-change) peer-finder runs its command again when the
// set scales from 3 to 5, with all 5 pets, and exits on SIGTERM.
func TestPeerFinderOnChangeAfterScaleUp(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(3 * time.Minute)
	bin := peerFinder(t)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 3))
	f.WaitForReadyPets(ctx, set, 3)

	dir := t.TempDir()
	out := filepath.Join(dir, "peers")
	cmd := exec.Command(bin,
		"--service", set, "--ns", f.Namespace, "--domain", plane.ClusterDomain,
		"--hostname", "web-0", "--dns-server", f.Plane.DNSAddr(), "--poll-interval", "200ms",
		"--on-change", writeScript(t, dir, out))
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	wantN := func(n int) []string {
		var w []string
		for i := range n {
			w = append(w, f.FQDN(set, set, i))
		}
		return w
	}
	waitRun := func(n int) {
		t.Helper()
		err := f.WaitFor(ctx, fmt.Sprintf("an on-change run with %d peers", n), func(context.Context) (bool, error) {
			select {
			case err := <-exited:
				return false, fmt.Errorf("peer-finder exited: %v", err)
			default:
			}
			runs := peerLists(t, out)
			return len(runs) > 0 && slices.Equal(runs[len(runs)-1], wantN(n)), nil
		})
		if err != nil {
			t.Fatalf("%v; runs %q\npeer-finder output:\n%s", err, peerLists(t, out), logs.String())
		}
	}
	waitRun(3)
	f.ScaleStatefulSet(ctx, set, 5)
	waitRun(5)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("peer-finder after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("peer-finder still running 10s after SIGTERM")
	}
}

// Holding pet 1 NotReady with the kennel.dev/hold-ready annotation halts an
// ordered scale-up at pet 1; releasing it lets the scale-up finish in order.
func TestHoldReadyHaltsOrderedScaleUp(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 2))
	f.WaitForReadyPets(ctx, set, 2)

	f.SetPodAnnotation(ctx, "web-1", plane.AnnotationHoldReady, "true")
	f.WaitForPodReady(ctx, "web-1", false)

	rec := f.RecordPods(ctx, "app="+set)
	f.ScaleStatefulSet(ctx, set, 4)
	// The controller must not create web-2 while web-1 is NotReady. Absence
	// can only be observed over a window: 3 seconds is many StatefulSet
	// syncs on this plane (pets are created within ~100ms when allowed).
	if err := sleep(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if e, ok := rec.First(func(e framework.PodEvent) bool { return e.Name == "web-2" || e.Name == "web-3" }); ok {
		t.Fatalf("%s appeared while web-1 was held NotReady; events:\n%s", e.Name, rec)
	}
	pod, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if plane.PodReady(pod) || pod.Status.Phase != corev1.PodRunning {
		t.Fatalf("web-1 is %s ready=%v, want Running and NotReady", pod.Status.Phase, plane.PodReady(pod))
	}

	f.SetPodAnnotation(ctx, "web-1", plane.AnnotationHoldReady, "")
	f.WaitForReadyPets(ctx, set, 4)
	created := rec.Created()
	if want := []string{"web-0", "web-1", "web-2", "web-3"}; !slices.Equal(created, want) {
		t.Fatalf("pets seen in order %v, want %v; events:\n%s", created, want, rec)
	}
	ready, _ := rec.First(func(e framework.PodEvent) bool { return e.Name == "web-1" && e.Ready })
	web2, _ := rec.First(func(e framework.PodEvent) bool { return e.Name == "web-2" })
	if web2.Seq < ready.Seq {
		t.Fatalf("web-2 created before web-1 was Ready again; events:\n%s", rec)
	}
}

// Scaling down removes pets from the highest ordinal, one at a time: the
// simulated kubelet deletes terminating pods.
func TestScaleDownRemovesHighestOrdinalsFirst(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 3))
	f.WaitForReadyPets(ctx, set, 3)

	rec := f.RecordPods(ctx, "app="+set)
	f.ScaleStatefulSet(ctx, set, 1)
	f.WaitForReadyPets(ctx, set, 1)

	var deleted []string
	for _, e := range rec.Events() {
		if e.Type == watch.Deleted {
			deleted = append(deleted, e.Name)
		}
	}
	if want := []string{"web-2", "web-1"}; !slices.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v; events:\n%s", deleted, want, rec)
	}
	// web-1 is only asked to terminate once web-2 is gone.
	gone, _ := rec.First(func(e framework.PodEvent) bool { return e.Type == watch.Deleted && e.Name == "web-2" })
	term, _ := rec.First(func(e framework.PodEvent) bool { return e.Name == "web-1" && e.Deleting })
	if term.Seq < gone.Seq {
		t.Fatalf("web-1 began terminating before web-2 was deleted; events:\n%s", rec)
	}
}

// A pod annotated kennel.dev/fail=true ends in phase Failed, and the
// StatefulSet controller replaces a failed pet.
func TestFailAnnotation(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	f.CreateStatefulSet(ctx, framework.StatefulSet(set, 1))
	pets := f.WaitForReadyPets(ctx, set, 1)
	oldUID := pets[0].UID

	f.SetPodAnnotation(ctx, "web-0", plane.AnnotationFail, "true")
	err := f.WaitFor(ctx, "web-0 replaced after failing", func(ctx context.Context) (bool, error) {
		pod, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return pod.UID != oldUID && plane.PodReady(pod), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	events, err := f.Client.CoreV1().Events(f.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, e := range events.Items {
		if e.InvolvedObject.UID == oldUID && e.Reason == "Failed" {
			failed = true
		}
	}
	if !failed {
		t.Fatalf("no Failed event for the first web-0 (uid %s)", oldUID)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// A second plane runs beside the shared one (own ports and directory), and
// Stop ends every one of its processes and removes its temporary directory.
func TestSecondPlaneSideBySide(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	p, err := plane.Start(ctx, plane.Options{BinDir: f.Plane.BinDir(), Nodes: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.Stop()
		}
	})
	if p.DNSAddr() == f.Plane.DNSAddr() || p.APIServerURL() == f.Plane.APIServerURL() || p.Dir() == f.Plane.Dir() {
		t.Fatalf("second plane shares an address or directory with the first")
	}
	nodes, err := p.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("second plane has %d nodes, want 1", len(nodes.Items))
	}
	if err := p.AddNode(ctx, 1); err != nil {
		t.Fatal(err)
	}
	n1, err := p.Client().CoreV1().Nodes().Get(ctx, plane.NodeName(1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n1.Spec.PodCIDR != "10.244.1.0/24" {
		t.Errorf("added node has pod CIDR %q", n1.Spec.PodCIDR)
	}
	// A claim binds on the second plane too; Stop removes its volume's directory.
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := p.Client().CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var volumeDir string
	err = f.WaitFor(ctx, "claim bound on the second plane", func(ctx context.Context) (bool, error) {
		got, err := p.Client().CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Get(ctx, "data", metav1.GetOptions{})
		if err != nil || got.Spec.VolumeName == "" || got.Status.Phase != corev1.ClaimBound {
			return false, framework.Retry(err)
		}
		pv, err := p.Client().CoreV1().PersistentVolumes().Get(ctx, got.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		if pv.Spec.HostPath == nil {
			return false, fmt.Errorf("volume %s is not a hostPath volume", pv.Name)
		}
		volumeDir = pv.Spec.HostPath.Path
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(volumeDir); err != nil {
		t.Fatalf("volume directory: %v", err)
	}

	pids := p.Pids()
	if len(pids) != 6 {
		t.Fatalf("second plane runs %v, want 6 components", pids)
	}
	p.Stop()
	stopped = true
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
	}
	for _, dir := range []string{p.Dir(), volumeDir} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Stop (err %v)", dir, err)
		}
	}
	// The shared plane is unaffected.
	if _, err := f.Client.CoreV1().Namespaces().Get(ctx, f.Namespace, metav1.GetOptions{}); err != nil {
		t.Fatalf("shared plane after stopping the second: %v", err)
	}
}

// The kennel-plane command (behind make cluster-up) writes its state once the
// plane is ready, and on SIGTERM stops every component and removes the state.
func TestKennelPlaneCommand(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	bin := framework.BuildBinary(t, "github.com/kennel-dev/kennel/test/plane/cmd/kennel-plane")
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	cmd := exec.Command(bin, "--bin", f.Plane.BinDir(), "--dir", filepath.Join(dir, "data"), "--state", state, "--nodes", "1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	done := false
	t.Cleanup(func() {
		if !done {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	var st struct {
		Pid        int            `json:"pid"`
		Kubeconfig string         `json:"kubeconfig"`
		DNS        string         `json:"dns"`
		Components map[string]int `json:"components"`
	}
	err := f.WaitFor(ctx, "the state file", func(context.Context) (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("kennel-plane exited: %v\n%s", err, out.String())
		default:
		}
		data, err := os.ReadFile(state)
		if err != nil {
			return false, nil
		}
		return true, json.Unmarshal(data, &st)
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != cmd.Process.Pid || len(st.Components) != 6 || st.DNS == "" {
		t.Fatalf("state %+v", st)
	}
	kubectl := exec.CommandContext(ctx, filepath.Join(f.Plane.BinDir(), "kubectl"), "--kubeconfig", st.Kubeconfig, "get", "nodes", "-o", "name")
	if b, err := kubectl.CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "node/"+plane.NodeName(0) {
		t.Fatalf("kubectl get nodes: %v: %s", err, b)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		done = true
		if err != nil {
			t.Fatalf("kennel-plane after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("kennel-plane still running 30s after SIGTERM\n%s", out.String())
	}
	for name, pid := range st.Components {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("%s (pid %d) still running", name, pid)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file still there after exit (err %v)", err)
	}
}
