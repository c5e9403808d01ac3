package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/internal/procfs"
	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi/apitest"
)

// BenchmarkSidecarIdle builds the real binary (no race detector, as
// shipped), runs it as a sidecar watching 5 peers with the default 1s poll
// interval for PEER_FINDER_IDLE (default 20s), and reports its resident
// memory and CPU use from /proc. Each iteration is one such run.
func BenchmarkSidecarIdle(b *testing.B) {
	window, bin := idleSetup(b)
	s, err := dnstest.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var names []string
	for i := 0; i < 5; i++ {
		names = append(names, fmt.Sprintf("web-%d.web.default.svc.cluster.local", i))
	}
	s.SetSRV("web.default.svc.cluster.local", names...)
	idleRuns(b, window, bin, "--dns-server="+s.Addr)
}

// BenchmarkSidecarIdleAPI is BenchmarkSidecarIdle with --source=api: one
// EndpointSlice of 5 pets in a fake API server, one open watch.
func BenchmarkSidecarIdleAPI(b *testing.B) {
	window, bin := idleSetup(b)
	api := apitest.Start()
	defer api.Close()
	var eps []kubeapi.Endpoint
	for i := 0; i < 5; i++ {
		eps = append(eps, apitest.Endpoint(fmt.Sprintf("web-%d", i), true, true, fmt.Sprintf("10.0.0.%d", i)))
	}
	api.Apply(apitest.Slice("default", "web", "web-abcde", "IPv4", eps...))
	kc, err := api.WriteKubeconfig(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	idleRuns(b, window, bin, "--source=api", "--kubeconfig="+kc)
}

// idleSetup reads PEER_FINDER_IDLE and builds the binary as shipped.
func idleSetup(b *testing.B) (time.Duration, string) {
	if testing.Short() {
		b.Skip("runs for 20s")
	}
	window := 20 * time.Second
	if v := os.Getenv("PEER_FINDER_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	bin := filepath.Join(b.TempDir(), "peer-finder")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return window, bin
}

// idleRuns runs the sidecar for window per iteration and reports its RSS,
// peak RSS and CPU share.
func idleRuns(b *testing.B, window time.Duration, bin string, source ...string) {
	var rssKiB, hwmKiB, cpuPct float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, append([]string{"--on-change=/bin/true", "--service=web", "--ns=default", "--domain=cluster.local",
			"--hostname=web-0"}, source...)...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second) // start-up and first on-change
		cpu0 := cpuTime(b, cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(window)
		cpu1 := cpuTime(b, cmd.Process.Pid)
		elapsed := time.Since(t0)
		rss, hwm, err := procfs.Memory(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("sidecar exited with %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "on-change succeeded") {
			b.Fatalf("sidecar never ran on-change:\n%s", stderr.String())
		}
		rssKiB, hwmKiB = float64(rss)/1024, float64(hwm)/1024
		cpuPct = float64(cpu1-cpu0) / float64(elapsed) * 100
	}
	b.StopTimer()
	b.ReportMetric(rssKiB, "RSS-KiB")
	b.ReportMetric(hwmKiB, "peakRSS-KiB")
	b.ReportMetric(cpuPct, "CPU-%")
}

// cpuTime returns the user+system CPU time pid has used.
func cpuTime(b *testing.B, pid int) time.Duration {
	d, err := procfs.CPUTime(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
