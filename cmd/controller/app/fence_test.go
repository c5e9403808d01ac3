package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// fakeLock is a Lease lock whose writes succeed or fail on demand; holder
// is the Lease's holder as stored.
type fakeLock struct {
	resourcelock.Interface
	id     string
	err    error
	holder string
	// onWrite, if set, runs before each write.
	onWrite func(r resourcelock.LeaderElectionRecord)
}

func (l *fakeLock) Identity() string { return l.id }
func (l *fakeLock) Create(_ context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.write(r)
}
func (l *fakeLock) Update(_ context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.write(r)
}
func (l *fakeLock) write(r resourcelock.LeaderElectionRecord) error {
	if l.onWrite != nil {
		l.onWrite(r)
	}
	if l.err == nil {
		l.holder = r.HolderIdentity
	}
	return l.err
}
func (l *fakeLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	return &resourcelock.LeaderElectionRecord{HolderIdentity: l.holder}, nil, nil
}

// TestReleaseOnlyOwnLease: on its way out the elector empties the Lease. A
// replica that lost it meanwhile (another holds it) must leave it alone,
// and the fence is closed before any release is sent.
func TestReleaseOnlyOwnLease(t *testing.T) {
	f := newLeaseFence(10 * time.Second)
	fake := &fakeLock{id: "a"}
	lock := fencedLock{Interface: fake, fence: f}
	ctx := context.Background()
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"}); err != nil {
		t.Fatal(err)
	}
	fake.holder = "b" // b took over while a was paused
	released := false
	fake.onWrite = func(r resourcelock.LeaderElectionRecord) { released = r.HolderIdentity == "" }
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{}); err != nil {
		t.Fatal(err)
	}
	if released || fake.holder != "b" {
		t.Fatalf("a emptied b's Lease (holder now %q)", fake.holder)
	}
	if f.check() == nil {
		t.Fatal("fence open after giving up the Lease")
	}
	// Its own Lease it releases, with the fence already closed when the
	// release is sent.
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"}); err != nil {
		t.Fatal(err)
	}
	fake.onWrite = func(resourcelock.LeaderElectionRecord) {
		if f.check() == nil {
			t.Error("fence open while the release is sent")
		}
	}
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{}); err != nil || fake.holder != "" {
		t.Fatalf("own Lease not released: %v, holder %q", err, fake.holder)
	}
}

func TestLeaseFence(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newLeaseFence(10 * time.Second)
	f.now = func() time.Time { return now }
	lock := fencedLock{Interface: &fakeLock{id: "a"}, fence: f}
	ctx := context.Background()

	if f.check() == nil {
		t.Fatal("fence open before any renewal")
	}
	if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := f.check(); err != nil {
		t.Fatalf("fence closed right after acquiring: %v", err)
	}
	// Paused past the renew deadline (no renewal meanwhile): closed.
	now = now.Add(10 * time.Second)
	if err := f.check(); err == nil || !strings.Contains(err.Error(), "last renewed 10s ago") {
		t.Fatalf("fence after 10s without renewal: %v", err)
	}
	// A renewal reopens it.
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := f.check(); err != nil {
		t.Fatalf("fence closed after a renewal: %v", err)
	}
	// A failed renewal does not count.
	now = now.Add(9 * time.Second)
	lock.Interface.(*fakeLock).err = errors.New("conflict")
	_ = lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"})
	now = now.Add(2 * time.Second)
	if f.check() == nil {
		t.Fatal("a failed renewal kept the fence open")
	}
	// Releasing the Lease (holder emptied on cancel) closes it at once.
	lock.Interface.(*fakeLock).err = nil
	_ = lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"})
	_ = lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: ""})
	if f.check() == nil {
		t.Fatal("fence open after the Lease was released")
	}
}

func TestFencedTransport(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
	}))
	defer srv.Close()
	f := newLeaseFence(10 * time.Second) // never renewed: closed
	c := &http.Client{Transport: fencedTransport{next: http.DefaultTransport, fence: f}}
	do := func(method, path string) error {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, tc := range []struct {
		method, path string
		pass         bool
	}{
		{"GET", "/api/v1/namespaces/default/pods", true},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/kennel-system/leases/kennel-controller", true},
		{"POST", "/api/v1/namespaces/default/pods", false},
		{"DELETE", "/api/v1/namespaces/default/pods/web-0", false},
		{"PUT", "/apis/kennel.dev/v1/namespaces/default/petsets/web/status", false},
		{"PATCH", "/apis/apps/v1/namespaces/default/controllerrevisions/web-1", false},
	} {
		err := do(tc.method, tc.path)
		if (err == nil) != tc.pass {
			t.Errorf("%s %s: err %v, want pass=%v", tc.method, tc.path, err, tc.pass)
		}
	}
	f.renewedAt(time.Now())
	if err := do("POST", "/api/v1/namespaces/default/pods"); err != nil {
		t.Errorf("write refused by an open fence: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("requests that reached the server: %v", got)
	}
}
