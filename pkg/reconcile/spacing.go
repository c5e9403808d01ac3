package reconcile

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Status spacing.
//
// While a set converges its counts change with nearly every pod event: a
// Parallel scale of 100 pets would write the status every few tens of
// milliseconds, and a PetSet status write costs the API server several
// times what a StatefulSet's does (the custom resource is validated and
// its managed fields computed against the whole schema, pod template
// included). So a converging set's status is written at most once per
// statusSpacing: a change that comes sooner after the set's last write
// waits for a pass at the end of that time, which writes whatever the
// counts are then. Nothing waits that a user or the controller acts on: a
// new observedGeneration, a change of revision or collision count, and any
// status whose Progressing condition is not True/Converging (the set is
// done, blocked or deleting, or was one of these) is written at once.
const statusSpacing = 250 * time.Millisecond

// statusSpacer remembers when each set's status was last written.
type statusSpacer struct {
	mu        sync.Mutex
	written   map[types.UID]time.Time
	lastSweep time.Time
}

func newStatusSpacer() *statusSpacer {
	return &statusSpacer{written: map[types.UID]time.Time{}}
}

// wait returns how long the write of status over the set's current one
// waits: zero if it is urgent or the set's last write is statusSpacing
// old, else what is left of that time.
func (s *statusSpacer) wait(set *kennelv1.PetSet, status *kennelv1.PetSetStatus, now time.Time) time.Duration {
	if urgentStatus(&set.Status, status) {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.written[set.UID]
	if !ok {
		return 0
	}
	return max(0, at.Add(statusSpacing).Sub(now))
}

// wrote records a write of the set's status at now, and forgets, at most
// once per statusSpacing, the writes too old to hold any set back.
func (s *statusSpacer) wrote(uid types.UID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written[uid] = now
	if now.Sub(s.lastSweep) < statusSpacing {
		return
	}
	s.lastSweep = now
	for k, at := range s.written {
		if now.Sub(at) >= statusSpacing {
			delete(s.written, k)
		}
	}
}

// urgentStatus says whether the change from old to status is written at
// once whatever the spacing: anything but a converging set's counts and
// messages.
func urgentStatus(old, status *kennelv1.PetSetStatus) bool {
	if old.ObservedGeneration != status.ObservedGeneration || old.CurrentRevision != status.CurrentRevision ||
		old.UpdateRevision != status.UpdateRevision || !equalCollisions(old.CollisionCount, status.CollisionCount) {
		return true
	}
	return !converging(old) || !converging(status)
}

// converging says the status's Progressing condition is True/Converging.
func converging(status *kennelv1.PetSetStatus) bool {
	c := meta.FindStatusCondition(status.Conditions, kennelv1.PetSetProgressing)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == ReasonConverging
}

func equalCollisions(a, b *int32) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
