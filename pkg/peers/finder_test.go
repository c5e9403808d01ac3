package peers

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/internal/testenv"
)

type harness struct {
	t     *testing.T
	clock *fakeClock
	res   *fakeResolver
	run   *fakeRunner
	log   *syncBuffer
	f     *Finder
	done  chan struct{} // closed when Run returned
	err   error         // Run's result
	stop  context.CancelFunc
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, clock: newFakeClock(), res: &fakeResolver{}, run: &fakeRunner{}, log: &syncBuffer{}, done: make(chan struct{})}
	if cfg.Service == "" {
		cfg.Service, cfg.Namespace, cfg.Domain, cfg.DomainDerived = "web", "default", "cluster.local", true
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "web-1"
	}
	h.res.set(nil) // NXDOMAIN
	h.f = &Finder{Config: cfg, Resolver: h.res, Runner: h.run, Clock: h.clock, Log: h.log}
	return h
}

// start runs the Finder and waits until it blocks on the clock (after its
// first lookup) or returns.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.t.Cleanup(cancel)
	go func() {
		h.err = h.f.Run(ctx)
		close(h.done)
	}()
	h.clock.waitBlocked(h.t, h.done)
}

// step advances the clock by d and waits until the loop blocks again (or
// returns). Tests change the fake resolver between steps only.
func (h *harness) step(d time.Duration) bool {
	h.t.Helper()
	h.clock.Advance(d)
	return h.clock.waitBlocked(h.t, h.done)
}

func (h *harness) result() error {
	h.t.Helper()
	select {
	case <-h.done:
		return h.err
	case <-time.After(10 * time.Second):
		h.t.Fatalf("Run did not return; log:\n%s", h.log.String())
		return nil
	}
}

func (h *harness) stdins() []string {
	var out []string
	for _, inv := range h.run.invocations() {
		out = append(out, inv.Name+":"+strings.ReplaceAll(string(inv.Stdin), "."+svcName, ""))
	}
	return out
}

func envOf(inv Invocation, key string) string {
	for _, kv := range inv.Env {
		if strings.HasPrefix(kv, key+"=") {
			return kv[len(key)+1:]
		}
	}
	return "<unset>"
}

func TestInitModeWaitsForSelf(t *testing.T) {
	h := newHarness(t, Config{OnStart: []string{"/on-start"}, PollInterval: time.Second})
	h.start() // NXDOMAIN
	h.res.set(nil, "web-0")
	h.step(time.Second) // only web-0
	h.res.set(nil, "web-10", "web-1", "web-2", "web-0")
	h.step(time.Second)
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	runs := h.run.invocations()
	if len(runs) != 1 {
		t.Fatalf("runs = %v", h.stdins())
	}
	inv := runs[0]
	if got := h.stdins()[0]; got != "on-start:web-0\nweb-1\nweb-2\nweb-10\n" {
		t.Fatalf("stdin = %q", got)
	}
	for k, want := range map[string]string{
		"PEER_COUNT": "4", "SELF": "web-1." + svcName, "ORDINAL": "1",
		"SERVICE": "web", "NAMESPACE": "default", "DOMAIN": "cluster.local",
	} {
		if got := envOf(inv, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := envOf(inv, "PEERS"); !strings.HasPrefix(got, "web-0."+svcName+" web-1.") {
		t.Errorf("PEERS = %q", got)
	}
	log := h.log.String()
	if strings.Count(log, "peers changed") != 2 || !strings.Contains(log, "peers changed: 1 → 4 (+web-1.") {
		t.Errorf("log:\n%s", log)
	}
}

func TestInitModeTimeoutAndDiagnosis(t *testing.T) {
	h := newHarness(t, Config{OnStart: []string{"/x"}, PollInterval: time.Second, Timeout: 30 * time.Second, DiagnoseAfter: 10 * time.Second})
	// The pod's peers are published under another domain: a mismatch.
	h.res.mu.Lock()
	h.res.res = SRVResult{Targets: []Target{{Name: "web-0.web.default.svc.iron-cluster.local"}, {Name: "web-1.web.default.svc.iron-cluster.local"}}}
	h.res.mu.Unlock()
	h.start()
	for i := 0; i < 40 && h.step(time.Second); i++ {
	}
	err := h.result()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	log := h.log.String()
	testenv.WantAll(t, "log", log,
		"has not found itself after 10s",
		"queried:     SRV web.default.svc.cluster.local via fake:53",
		"found:       2 peers: web-0.web.default.svc.iron-cluster.local",
		"publishNotReadyAddresses: true",
		"a peer with this pod's hostname has a different name: web-1.web.default.svc.iron-cluster.local",
		"peers do not end in .web.default.svc.cluster.local",
		"gave up after 30s")
	if n := strings.Count(log, "has not found itself"); n != 3 { // 10s, 30s (doubling), timeout
		t.Errorf("%d diagnoses, want 3:\n%s", n, log)
	}
	if len(h.run.invocations()) != 0 {
		t.Error("on-start ran")
	}
}

func TestInitModeOnStartFails(t *testing.T) {
	h := newHarness(t, Config{OnStart: []string{"/x"}})
	h.run.setFail(true)
	h.res.set(nil, "web-1")
	h.start()
	var oe *OnStartError
	if err := h.result(); !errors.As(err, &oe) {
		t.Fatalf("got %v", err)
	}
}

func TestInitModeInterrupted(t *testing.T) {
	h := newHarness(t, Config{OnStart: []string{"/x"}})
	h.start()
	h.stop()
	if err := h.result(); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v", err)
	}
}

func TestSidecarLifecycle(t *testing.T) {
	h := newHarness(t, Config{
		OnStart: []string{"/start"}, OnChange: []string{"/change"},
		PollInterval: time.Second, RetryInitial: 4 * time.Second, RetryMax: 8 * time.Second,
	})
	h.res.set(nil, "web-0", "web-1")
	h.start()
	h.res.set(nil, "web-0", "web-1", "web-2") // scale up
	h.step(time.Second)
	h.step(time.Second) // unchanged: nothing runs
	h.run.setFail(true)
	h.res.set(nil, "web-1", "web-2")          // web-0 gone; on-change fails
	h.step(time.Second)                       // t=3
	h.step(time.Second)                       // retry not due yet (t=7)
	h.step(3 * time.Second)                   // first retry at t=7 fails again; backoff doubles to 8s
	h.res.set(nil, "web-1", "web-2", "web-3") // newer membership supersedes the retry
	h.run.setFail(false)
	h.step(time.Second)
	h.step(time.Second)
	h.stop()
	if err := h.result(); err != nil {
		t.Fatalf("sidecar returned %v", err)
	}
	got := strings.Join(h.stdins(), "|")
	want := strings.Join([]string{
		"on-start:web-0\nweb-1\n",
		"on-change:web-0\nweb-1\nweb-2\n",
		"on-change:web-1\nweb-2\n",
		"on-change:web-1\nweb-2\n",
		"on-change:web-1\nweb-2\nweb-3\n",
	}, "|")
	if got != want {
		t.Fatalf("runs:\n%q\nwant\n%q\nlog:\n%s", got, want, h.log.String())
	}
	if log := h.log.String(); !strings.Contains(log, "on-change exited with status 1; retrying in 4s") ||
		!strings.Contains(log, "retrying in 8s") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestSidecarSettleAndMinPeers(t *testing.T) {
	h := newHarness(t, Config{OnChange: []string{"/change"}, PollInterval: time.Second, Settle: 3 * time.Second, MinPeers: 3})
	h.res.set(nil, "web-0", "web-1")
	h.start()
	h.step(time.Second)
	h.step(time.Second)
	h.step(time.Second)
	h.step(time.Second) // two peers for 4s: below --min-peers
	h.res.set(nil, "web-0", "web-1", "web-2")
	h.step(time.Second) // t=5 seen
	h.res.set(nil, "web-0", "web-1", "web-2", "web-3")
	h.step(time.Second) // t=6 changed again: settle restarts
	h.step(time.Second)
	h.step(time.Second)
	if n := len(h.run.invocations()); n != 0 {
		t.Fatalf("ran %d times before settling: %q", n, h.stdins())
	}
	h.step(time.Second) // t=9: stable for 3s
	h.step(time.Second)
	h.stop()
	_ = h.result()
	if got := strings.Join(h.stdins(), "|"); got != "on-change:web-0\nweb-1\nweb-2\nweb-3\n" {
		t.Fatalf("runs %q\nlog:\n%s", got, h.log.String())
	}
	log := h.log.String()
	if !strings.Contains(log, "waiting for at least 3 peers (have 2)") || !strings.Contains(log, "waiting for the membership to stay unchanged for 3s") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestSidecarKeepsStateOnErrorsAndLogsOnce(t *testing.T) {
	h := newHarness(t, Config{OnChange: []string{"/change"}, PollInterval: time.Second})
	h.res.set(nil, "web-0", "web-1")
	h.start()
	boom := errors.New("SERVFAIL from fake:53")
	h.res.set(boom)
	for i := 0; i < 5; i++ {
		h.step(time.Second)
	}
	h.res.set(nil, "web-0", "web-1")
	h.step(time.Second)
	h.step(time.Second)
	h.stop()
	_ = h.result()
	if n := len(h.run.invocations()); n != 1 {
		t.Fatalf("%d runs, want 1 (errors keep the membership): %q", n, h.stdins())
	}
	log := h.log.String()
	if strings.Count(log, "SERVFAIL") != 1 || strings.Count(log, "works again") != 1 {
		t.Fatalf("log:\n%s", log)
	}
}

func TestSidecarWatchEventRerunsOnChange(t *testing.T) {
	events := make(chan string)
	h := newHarness(t, Config{OnChange: []string{"/change"}, PollInterval: time.Second, WatchEvents: events, WatchDebounce: 100 * time.Millisecond})
	h.res.set(nil, "web-0", "web-1")
	h.start()
	events <- "/etc/config/app.conf"
	h.clock.waitBlocked(t, h.done)
	events <- "/etc/config/app.conf" // a burst: one run
	h.clock.waitBlocked(t, h.done)
	h.step(100 * time.Millisecond)
	h.step(time.Second)
	h.stop()
	_ = h.result()
	if got := strings.Join(h.stdins(), "|"); got != "on-change:web-0\nweb-1\n|on-change:web-0\nweb-1\n" {
		t.Fatalf("runs %q\nlog:\n%s", got, h.log.String())
	}
}

func TestSidecarDiagnosesLostSelf(t *testing.T) {
	h := newHarness(t, Config{OnChange: []string{"/change"}, PollInterval: time.Second, DiagnoseAfter: 10 * time.Second})
	h.res.set(nil, "web-0", "web-1")
	h.start()
	for i := 0; i < 20; i++ { // found for 20s: no diagnosis
		h.step(time.Second)
	}
	h.res.set(nil, "web-0")
	for i := 0; i < 11; i++ {
		h.step(time.Second)
	}
	h.stop()
	_ = h.result()
	log := h.log.String()
	if strings.Contains(log, "has not found itself") || !strings.Contains(log, "this pod is no longer among its peers") ||
		!strings.Contains(log, "has not been among its peers for 10s") {
		t.Fatalf("log:\n%s", log)
	}
	// The membership without this pod is not handed to on-change.
	if got := strings.Join(h.stdins(), "|"); got != "on-change:web-0\nweb-1\n" {
		t.Fatalf("runs %q", got)
	}
}

// TestSidecarAfterStart: the end-of-start-up hook runs once, after the
// first script run that succeeded, and never in init mode.
func TestSidecarAfterStart(t *testing.T) {
	start, change := []string{"/start"}, []string{"/change"}
	for _, tc := range []struct {
		name         string
		cfg          Config
		firstFails   bool
		runsBeforeIt int // script runs before the hook ran; -1: it must not run
		runsAtTheEnd int
	}{
		{"after on-start", Config{OnStart: start, OnChange: change}, false, 1, 2},
		{"after on-change without on-start", Config{OnChange: change}, false, 1, 2},
		{"after the retry that succeeded", Config{OnStart: start, OnChange: change}, true, 2, 3},
		{"never in init mode", Config{OnStart: start}, false, -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PollInterval, tc.cfg.RetryInitial = time.Second, time.Second
			h := newHarness(t, tc.cfg)
			var calls []int // runs recorded when the hook ran
			h.f.AfterStart = func() { calls = append(calls, len(h.run.invocations())) }
			h.run.setFail(tc.firstFails)
			h.res.set(nil, "web-0", "web-1")
			h.start()
			if tc.cfg.OnChange != nil {
				h.run.setFail(false)
				h.step(time.Second) // the retry, when the first run failed
				h.res.set(nil, "web-1")
				h.step(time.Second)
				h.stop()
			}
			if err := h.result(); err != nil {
				t.Fatal(err)
			}
			want := []int{tc.runsBeforeIt}
			if tc.runsBeforeIt < 0 {
				want = nil
			}
			if !slices.Equal(calls, want) || len(h.run.invocations()) != tc.runsAtTheEnd {
				t.Fatalf("hook ran after runs %v, want %v; %d runs, want %d; log:\n%s",
					calls, want, len(h.run.invocations()), tc.runsAtTheEnd, h.log.String())
			}
		})
	}
}

// TestLoopYieldsAfterEachWake: every wake-up by the clock yields before
// the loop goes on (see yield).
func TestLoopYieldsAfterEachWake(t *testing.T) {
	var yields atomic.Int32
	yield = func() { yields.Add(1) }
	t.Cleanup(func() { yield = runtime.Gosched })
	h := newHarness(t, Config{OnChange: []string{"/change"}, PollInterval: time.Second})
	h.res.set(nil, "web-0", "web-1")
	h.start()
	if n := yields.Load(); n != 0 {
		t.Fatalf("%d yields before the first wake-up", n)
	}
	for i := int32(1); i <= 3; i++ {
		h.step(time.Second)
		if n := yields.Load(); n != i {
			t.Fatalf("%d yields after %d wake-ups", n, i)
		}
	}
	h.stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
}
