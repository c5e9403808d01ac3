package plane

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kennel-dev/kennel/internal/testenv"
)

// binDir returns the plane binaries, or skips: these tests start real
// components (hack/test.sh runs them in its e2e stage).
func binDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane: skipped under -short")
	}
	dir, err := BinDirFromEnv()
	if err != nil {
		testenv.SkipOrFail(t, "%v", err)
	}
	return dir
}

// When a port is taken between picking and binding, Start retries with new
// ports instead of failing.
func TestStartRetriesWhenAPortIsTaken(t *testing.T) {
	bin := binDir(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	attempts := 0
	pickPorts = func() (ports, error) {
		attempts++
		pt, err := freePorts()
		if attempts == 1 {
			pt.etcdClient = taken.Addr().(*net.TCPAddr).Port
		}
		return pt, err
	}
	defer func() { pickPorts = freePorts }()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := Start(ctx, Options{BinDir: bin, Nodes: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if attempts != 2 {
		t.Errorf("picked ports %d times, want 2", attempts)
	}
	if _, err := p.Client().CoreV1().Nodes().Get(ctx, NodeName(0), metav1.GetOptions{}); err != nil {
		t.Errorf("node after retried start: %v", err)
	}
}

// A component that cannot start makes Start fail with its log tail, and
// leaves no process behind.
func TestStartFailsWithComponentLog(t *testing.T) {
	bin := binDir(t)
	// etcd's peer port held for the whole test: every attempt fails.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	pickPorts = func() (ports, error) {
		pt, err := freePorts()
		pt.etcdPeer = taken.Addr().(*net.TCPAddr).Port
		return pt, err
	}
	defer func() { pickPorts = freePorts }()

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = Start(ctx, Options{BinDir: bin, DataDir: dir, Nodes: 1, Logf: t.Logf})
	if err == nil {
		t.Fatal("Start succeeded with etcd's peer port taken")
	}
	msg := err.Error()
	for _, want := range []string{"etcd", "last lines of", strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

// BenchmarkStartStop measures a whole plane start (until nodes Ready and the
// default ServiceAccount exists) and stop, and reports the components'
// resident memory once started.
func BenchmarkStartStop(b *testing.B) {
	if os.Getenv("KENNEL_PLANE_BIN") == "" {
		b.Skip("KENNEL_PLANE_BIN is not set; export KENNEL_PLANE_BIN=$(hack/plane-binaries.sh)")
	}
	bin, err := BinDirFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	var rssTotal, apiserver float64
	for b.Loop() {
		p, err := Start(b.Context(), Options{BinDir: bin, Nodes: 3})
		if err != nil {
			b.Fatal(err)
		}
		rss, err := p.RSS()
		if err != nil {
			b.Fatal(err)
		}
		for name, v := range rss {
			rssTotal += float64(v)
			if name == "kube-apiserver" {
				apiserver += float64(v)
			}
		}
		p.Stop()
	}
	b.ReportMetric(rssTotal/float64(b.N)/(1<<20), "MiB-rss/op")
	b.ReportMetric(apiserver/float64(b.N)/(1<<20), "MiB-apiserver-rss/op")
}

// With Options.StatefulSetApart the StatefulSet controller runs in a
// kube-controller-manager of its own: a StatefulSet gets its pod, both
// controller managers run, and the plane's says it left the StatefulSet
// controller out.
func TestStatefulSetApart(t *testing.T) {
	bin := binDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := Start(ctx, Options{BinDir: bin, Nodes: 1, Logf: t.Logf, StatefulSetApart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	pids := p.Pids()
	if pids["kube-controller-manager"] == 0 || pids[StatefulSetProcess] == 0 {
		t.Fatalf("pids %v: want both kube-controller-manager and %s", pids, StatefulSetProcess)
	}
	labels := map[string]string{"app": "apart"}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "apart", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1), ServiceName: "apart",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/c"}}},
			},
		},
	}
	if _, err := p.Client().AppsV1().StatefulSets("default").Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := p.Client().CoreV1().Pods("default").Get(ctx, "apart-0", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no pod apart-0: the StatefulSet controller does not run")
		case <-time.After(200 * time.Millisecond):
		}
	}
	for name, want := range map[string]bool{"kube-controller-manager": true, StatefulSetProcess: false} {
		log, err := os.ReadFile(p.LogPath(name))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(log), `"Warning: controller is disabled" controller="statefulset-controller"`); got != want {
			t.Errorf("%s's log says the StatefulSet controller is disabled: %v, want %v", name, got, want)
		}
	}
}
