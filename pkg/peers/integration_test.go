package peers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/internal/testenv"
	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// realFinder wires a Finder to a real DNS server and real processes.
func realFinder(s *dnstest.Server, cfg Config, log *syncBuffer) *Finder {
	if cfg.Service == "" {
		cfg.Service, cfg.Namespace, cfg.Domain = "web", "default", "cluster.local"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	return &Finder{
		Config:   cfg,
		Resolver: &DNSResolver{Nameservers: []string{s.Addr}, Timeout: time.Second},
		Runner:   &ExecRunner{Stdout: log, Stderr: log, Grace: 500 * time.Millisecond},
		Clock:    RealClock{},
		Log:      log,
	}
}

// recorder is a script that appends "<name> <PEER_COUNT>: <stdin joined>" lines.
func recorder(t *testing.T, out string) []string {
	return []string{writeScript(t, `printf '%s %s: %s\n' "$1" "$PEER_COUNT" "$(tr '\n' ' ')" >> "$2"`), "", out}
}

func TestIntegrationInitWaitsForSelfLargeSet(t *testing.T) {
	s := startDNS(t)
	dir := t.TempDir()
	out, peersFile := filepath.Join(dir, "runs"), filepath.Join(dir, "peers")
	argv := recorder(t, out)
	argv[1] = "start"
	log := &syncBuffer{}
	f := realFinder(s, Config{Hostname: "web-999", OnStart: argv, PeersFile: peersFile, Settle: 30 * time.Millisecond}, log)
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()

	s.SetSRV(svcName, podNames(500)...) // web-999 not there yet
	// For a while (ten poll intervals), the finder keeps waiting for itself.
	if err := testenv.Consistently(context.Background(), 100*time.Millisecond, 5*time.Millisecond, func(context.Context) error {
		select {
		case err := <-done:
			return fmt.Errorf("returned before finding itself: %v", err)
		default:
			return nil
		}
	}); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	s.SetSRV(svcName, podNames(1000)...)
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	lines := strings.Split(strings.TrimSuffix(readFile(peersFile), "\n"), "\n")
	if len(lines) != 1000 || lines[0] != "web-0."+svcName || lines[2] != "web-2."+svcName || lines[999] != "web-999."+svcName {
		t.Fatalf("peers file has %d lines: %v …", len(lines), lines[:3])
	}
	runs := readFile(out)
	if !strings.HasPrefix(runs, "start 1000: web-0."+svcName+" web-1.") || strings.Count(runs, "\n") != 1 {
		t.Fatalf("runs: %.200s", runs)
	}
	if _, tcp := s.Queries(); tcp == 0 {
		t.Fatal("a 1000-peer answer did not go over TCP")
	}
}

func TestIntegrationSidecarScaleUpDown(t *testing.T) {
	s := startDNS(t)
	dir := t.TempDir()
	out, peersFile := filepath.Join(dir, "runs"), filepath.Join(dir, "peers")
	start, change := recorder(t, out), recorder(t, out)
	start[1], change[1] = "start", "change"
	log := &syncBuffer{}
	f := realFinder(s, Config{Hostname: "web-0", OnStart: start, OnChange: change, PeersFile: peersFile}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	expect := func(n int, line string) {
		t.Helper()
		eventually(t, fmt.Sprintf("run %d: %s", n, line), func() bool {
			runs := strings.Split(strings.TrimSuffix(readFile(out), "\n"), "\n")
			return len(runs) >= n && runs[n-1] == line
		})
	}
	short := func(names ...string) string {
		var b strings.Builder
		for _, n := range names {
			b.WriteString(n + "." + svcName + " ")
		}
		return b.String()
	}
	s.SetSRV(svcName, podNames(1)...)
	expect(1, "start 1: "+short("web-0"))
	s.SetSRV(svcName, podNames(3)...)
	expect(2, "change 3: "+short("web-0", "web-1", "web-2"))
	if got := readFile(peersFile); got != strings.ReplaceAll(short("web-0", "web-1", "web-2"), " ", "\n") {
		t.Fatalf("peers file %q", got)
	}
	s.SetSRV(svcName, podNames(2)...)
	expect(3, "change 2: "+short("web-0", "web-1"))
	// A DNS outage keeps the membership: no run with an empty set.
	s.SetMode(dnstest.ServFail)
	eventually(t, "SERVFAIL logged", func() bool { return strings.Contains(log.String(), "SERVFAIL") })
	s.SetMode(dnstest.Normal)
	s.DeleteSRV(svcName) // NXDOMAIN: everyone gone, self included
	eventually(t, "NXDOMAIN seen", func() bool { return strings.Contains(log.String(), "peers changed: 2 → 0") })
	s.SetSRV(svcName, podNames(2)...)
	eventually(t, "peers back", func() bool { return strings.Contains(log.String(), "peers changed: 0 → 2") })
	// Two more lookups: any run for the unchanged membership would have started.
	u0, t0 := s.Queries()
	eventually(t, "two more lookups", func() bool { u, tc := s.Queries(); return u+tc >= u0+t0+2 })
	if runs := strings.Count(readFile(out), "\n"); runs != 3 {
		t.Fatalf("%d runs after outage and NXDOMAIN, want 3:\n%s", runs, readFile(out))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l := log.String()
	testenv.WantAll(t, "log", l, "peers changed: 0 → 1 (+web-0.", "peers changed: 3 → 2 (-web-2.", "SERVFAIL", "peers changed: 2 → 0 (", "this pod is no longer among its peers")
	if strings.Count(l, "SERVFAIL") != 1 {
		t.Errorf("SERVFAIL logged %d times:\n%s", strings.Count(l, "SERVFAIL"), l)
	}
}

func TestIntegrationCancelKillsRunningScript(t *testing.T) {
	s := startDNS(t)
	s.SetSRV(svcName, podNames(2)...)
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := writeScript(t, `sleep 300 & echo $! > "$1"; wait`)
	log := &syncBuffer{}
	f := realFinder(s, Config{Hostname: "web-1", OnChange: []string{script, pidFile}}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	pid := readPid(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	eventually(t, "the script's child to die", func() bool { return !alive(pid) })
}

// configMapDir builds a directory laid out like a Kubernetes ConfigMap
// volume: app.conf -> ..data/app.conf, ..data -> ..<ts>.
func configMapDir(t *testing.T, content string) (dir string, update func(string)) {
	dir = t.TempDir()
	n := 0
	write := func(content string) {
		n++
		ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", n, n)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ts, "app.conf"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(ts, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write(content)
	if err := os.Symlink("..data/app.conf", filepath.Join(dir, "app.conf")); err != nil {
		t.Fatal(err)
	}
	return dir, write
}

func TestWatchFilesConfigMapSwap(t *testing.T) {
	dir, update := configMapDir(t, "v1")
	plain := filepath.Join(t.TempDir(), "plain.conf")
	if err := os.WriteFile(plain, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := WatchFiles(ctx, []string{filepath.Join(dir, "app.conf"), plain}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	next := func() string {
		t.Helper()
		select {
		case p := <-events:
			return p
		case <-time.After(5 * time.Second):
			t.Fatal("no watch event")
			return ""
		}
	}
	update("v2")
	if p := next(); p != filepath.Join(dir, "app.conf") {
		t.Fatalf("event for %s", p)
	}
	// Atomic replace of a plain file.
	if err := WriteFileAtomic(plain, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := next(); p != plain {
		t.Fatalf("event for %s", p)
	}
	// Same content again: no event.
	update("v2")
	select {
	case p := <-events:
		t.Fatalf("event for unchanged content of %s", p)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestIntegrationWatchRerunsOnChange(t *testing.T) {
	s := startDNS(t)
	s.SetSRV(svcName, podNames(2)...)
	dir, update := configMapDir(t, "v1")
	out := filepath.Join(t.TempDir(), "runs")
	change := recorder(t, out)
	change[1] = "change"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := WatchFiles(ctx, []string{filepath.Join(dir, "app.conf")}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	f := realFinder(s, Config{Hostname: "web-0", OnChange: change, WatchEvents: events, WatchDebounce: 20 * time.Millisecond}, log)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	eventually(t, "first run", func() bool { return strings.Count(readFile(out), "\n") == 1 })
	update("v2")
	eventually(t, "re-run after the ConfigMap update", func() bool { return strings.Count(readFile(out), "\n") == 2 })
	runs := strings.Split(readFile(out), "\n")
	if runs[0] != runs[1] {
		t.Fatalf("re-run saw other peers: %q vs %q", runs[0], runs[1])
	}
	cancel()
	<-done
}

func TestWriteFileAtomicAndInstall(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "peers")
	if err := WriteFileAtomic(p, PeerLines([]string{"a", "b"}), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readFile(p); got != "a\nb\n" {
		t.Fatalf("got %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	src := writeScript(t, "echo installed")
	dst, err := InstallFrom(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o755 || filepath.Base(dst) != "peer-finder" {
		t.Fatalf("installed %s: %v %v", dst, st.Mode(), err)
	}
	if readFile(dst) != readFile(src) {
		t.Fatal("content differs")
	}
	if _, err := InstallFrom(src, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("install into a missing directory succeeded")
	}
}
