package peers

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock. The loop under test blocks on timers it
// creates; the test advances time once the loop is waiting.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
		t.stopped = true
	} else {
		c.timers = append(c.timers, t)
	}
	c.mu.Unlock()
	return t.c, func() {
		c.mu.Lock()
		t.stopped = true
		c.mu.Unlock()
	}
}

// blocked reports whether the loop waits on a pending timer.
func (c *fakeClock) blocked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if !t.stopped {
			return true
		}
	}
	return false
}

// waitBlocked waits until the loop waits on a timer, or done is ready
// (done may be nil). It reports false in the latter case.
func (c *fakeClock) waitBlocked(t *testing.T, done <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.blocked() {
		select {
		case <-done:
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("loop did not wait on the clock")
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// Advance moves time forward and fires due timers.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped {
			continue
		}
		if !t.at.After(c.now) {
			t.c <- c.now
			t.stopped = true
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
}

// fakeResolver returns whatever the test set last.
type fakeResolver struct {
	mu    sync.Mutex
	res   SRVResult
	err   error
	calls int
}

func (r *fakeResolver) set(err error, names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	r.res = SRVResult{Server: "fake:53", NXDomain: names == nil && err == nil}
	for _, n := range names {
		r.res.Targets = append(r.res.Targets, Target{Name: n + "." + svcName})
	}
}

func (r *fakeResolver) LookupSRV(ctx context.Context, name string, wantAddrs bool) (SRVResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.res, r.err
}

func (r *fakeResolver) Servers() []string { return []string{"fake:53"} }

// fakeRunner records invocations and fails while fail is set.
type fakeRunner struct {
	mu   sync.Mutex
	runs []Invocation
	fail bool
}

func (r *fakeRunner) Run(ctx context.Context, inv Invocation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, inv)
	if r.fail {
		return &ScriptError{Name: inv.Name, ExitCode: 1}
	}
	return nil
}

func (r *fakeRunner) setFail(b bool) {
	r.mu.Lock()
	r.fail = b
	r.mu.Unlock()
}

func (r *fakeRunner) invocations() []Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Invocation(nil), r.runs...)
}
