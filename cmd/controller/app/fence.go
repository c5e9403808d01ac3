package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// leaseFence keeps a replica from writing once it may no longer hold the
// Lease. The elector renews through fencedLock, which notes when each
// renewal by this replica was sent; a write passes only while that is
// younger than the renew deadline, by the local monotonic clock. Another
// replica takes the Lease only once the lease duration has passed since the
// renewal it saw, and the renew deadline is shorter, so a replica that was
// paused (SIGSTOP, a frozen VM, a long stall) past it has its writes refused
// the moment it runs again, before its own renew loop notices that it lost.
type leaseFence struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	renewed time.Time // zero: not leading
}

func newLeaseFence(window time.Duration) *leaseFence {
	return &leaseFence{window: window, now: time.Now}
}

// renewedAt records a renewal sent at t.
func (f *leaseFence) renewedAt(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.renewed) {
		f.renewed = t
	}
}

// lost closes the fence until the next renewal.
func (f *leaseFence) lost() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = time.Time{}
}

// check returns nil while a write is safe, else why not.
func (f *leaseFence) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewed.IsZero() {
		return fmt.Errorf("not writing: this replica does not hold the Lease")
	}
	if age := f.now().Sub(f.renewed); age >= f.window {
		return fmt.Errorf("not writing: the Lease was last renewed %s ago (renew deadline %s); another replica may lead", age.Truncate(time.Millisecond), f.window)
	}
	return nil
}

// fencedLock is the Lease lock the elector uses, noting this replica's
// successful creates and renewals in the fence.
type fencedLock struct {
	resourcelock.Interface
	fence *leaseFence
}

func (l fencedLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.noted(r, func() error { return l.Interface.Create(ctx, r) })
}

func (l fencedLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if r.HolderIdentity == "" {
		return l.release(ctx, r)
	}
	return l.noted(r, func() error { return l.Interface.Update(ctx, r) })
}

// release empties the Lease on the elector's way out, only if this replica
// still holds it. The elector decides from the record it last observed: a
// replica paused past its Lease, whose renew loop then gave up without
// reading the Lease again, would otherwise empty the Lease of the replica
// that took over, and a third could take it while that one still leads.
// The fence closes first: nothing of this replica is written once the
// Lease may be free.
func (l fencedLock) release(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	l.fence.lost()
	current, _, err := l.Interface.Get(ctx)
	if err != nil {
		return err
	}
	if current.HolderIdentity != l.Identity() {
		return nil // not ours to release
	}
	return l.Interface.Update(ctx, r)
}

// noted runs a write of the record and, if it succeeded and names this
// replica as holder, records when it was sent.
func (l fencedLock) noted(r resourcelock.LeaderElectionRecord, write func() error) error {
	sent := l.fence.now()
	if err := write(); err != nil {
		return err
	}
	if r.HolderIdentity == l.Identity() {
		l.fence.renewedAt(sent)
	} else {
		l.fence.lost()
	}
	return nil
}

// fencedTransport refuses the API writes of a replica whose fence is
// closed. Reads, and the Lease requests of the elector itself, pass.
type fencedTransport struct {
	next  http.RoundTripper
	fence *leaseFence
}

func (t fencedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return t.next.RoundTrip(req)
	}
	if strings.HasPrefix(req.URL.Path, "/apis/coordination.k8s.io/") {
		return t.next.RoundTrip(req)
	}
	if err := t.fence.check(); err != nil {
		return nil, err
	}
	return t.next.RoundTrip(req)
}
