package plane

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
