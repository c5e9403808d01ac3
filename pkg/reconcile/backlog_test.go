package reconcile

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func claimIn(name string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	c := claimFor(name)
	c.Status.Phase = phase
	return c
}

func TestClaimBacklogCountsPendingClaims(t *testing.T) {
	pending, bound, lost, fresh := claimIn("a", corev1.ClaimPending), claimIn("a", corev1.ClaimBound), claimIn("a", corev1.ClaimLost), claimIn("a", "")
	for _, tc := range []struct {
		name       string
		old, claim *corev1.PersistentVolumeClaim
		want       int64
	}{
		{"added pending", nil, pending, 1},
		{"added before the binder saw it", nil, fresh, 1},
		{"added bound", nil, bound, 0},
		{"bound", pending, bound, -1},
		{"binder saw it", fresh, pending, 0},
		{"lost its volume", bound, lost, 0},
		{"deleted pending", pending, nil, -1},
		{"deleted bound", bound, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b claimBacklog
			b.changed(tc.old, tc.claim)
			if got := b.pending.Load(); got != tc.want {
				t.Fatalf("pending %d, want %d", got, tc.want)
			}
		})
	}
}

func TestClaimBacklogBusyAboveLimit(t *testing.T) {
	var b claimBacklog
	for i := range backlogLimit {
		b.changed(nil, claimIn(fmt.Sprint(i), corev1.ClaimPending))
		if b.busy() {
			t.Fatalf("busy with %d pending claims", i+1)
		}
	}
	last := claimIn("last", corev1.ClaimPending)
	b.changed(nil, last)
	if !b.busy() {
		t.Fatalf("not busy with %d pending claims", backlogLimit+1)
	}
	b.changed(last, claimIn("last", corev1.ClaimBound))
	if b.busy() {
		t.Fatal("busy after a claim was bound")
	}
}

// The claim informer's events, tombstones included, keep the backlog that
// holds claims ahead back.
func TestClaimEventsKeepTheBacklog(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{set})
	var claims []*corev1.PersistentVolumeClaim
	for i := range backlogLimit + 1 {
		c := claimIn(fmt.Sprintf("data-other-%d", i), corev1.ClaimPending)
		claims = append(claims, c)
		f.c.claimAdded(c)
	}
	if !f.c.backlog.busy() {
		t.Fatalf("not busy after %d pending claims were added", len(claims))
	}
	f.c.claimUpdated(claims[0], claimIn(claims[0].Name, corev1.ClaimBound))
	if f.c.backlog.busy() {
		t.Fatal("busy after a claim was bound")
	}
	f.c.claimAdded(claims[0])
	f.c.claimDeleted(cache.DeletedFinalStateUnknown{Key: "default/" + claims[1].Name, Obj: claims[1]})
	if got, want := f.c.backlog.pending.Load(), int64(backlogLimit); got != want {
		t.Fatalf("pending %d after a tombstone, want %d", got, want)
	}
}
