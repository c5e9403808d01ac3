package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	ticks := float64(100) // USER_HZ on Linux
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
		cpu0 := cpuTicks(b, cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(window)
		cpu1 := cpuTicks(b, cmd.Process.Pid)
		elapsed := time.Since(t0).Seconds()
		rss, hwm := memKiB(b, cmd.Process.Pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("sidecar exited with %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "on-change succeeded") {
			b.Fatalf("sidecar never ran on-change:\n%s", stderr.String())
		}
		rssKiB, hwmKiB = rss, hwm
		cpuPct = (cpu1 - cpu0) / ticks / elapsed * 100
	}
	b.StopTimer()
	b.ReportMetric(rssKiB, "RSS-KiB")
	b.ReportMetric(hwmKiB, "peakRSS-KiB")
	b.ReportMetric(cpuPct, "CPU-%")
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is f[0]; utime and stime are stat
	// fields 14 and 15, i.e. f[11] and f[12].
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return u + st
}

// memKiB returns VmRSS and VmHWM of pid.
func memKiB(b *testing.B, pid int) (rss, hwm float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
