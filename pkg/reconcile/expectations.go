package reconcile

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// expectationTTL bounds how long an unobserved create or delete holds a set
// back; after it the controller trusts its cache again (an event lost by the
// informer must not wedge a set forever).
const expectationTTL = 5 * time.Minute

// expectationRecheck is how long an expectation may stay unobserved before
// the controller asks the API server directly whether it still matters (a
// pet created and deleted again while the informer was relisting is never
// observed by the informer).
const expectationRecheck = 10 * time.Second

// expectations remembers, per set, the pod creates and deletes the controller
// issued that its informer has not shown yet. While any are outstanding the
// set's cache is known to be stale and the controller takes no action on it:
// a pet just deleted but still cached is not "recreated", and a pet just
// created but not yet cached is not created twice.
type expectations struct {
	clock Clock
	mu    sync.Mutex
	sets  map[cache.ObjectName]*setExpectations
}

type setExpectations struct {
	creates map[string]time.Time        // pod name -> when the create was issued
	made    map[string]*corev1.Pod      // pod name -> the pod as the API server returned it
	deletes map[types.UID]pendingDelete // pod UID -> the pod's name and when the delete was issued
	// gone holds the pods whose delete the informer has shown (terminating
	// or removed), by UID, with when it showed it: a list of the set's pods
	// taken before that still shows them live (ListCurrent).
	gone map[types.UID]time.Time
}

type pendingDelete struct {
	name string
	at   time.Time
}

func newExpectations(clock Clock) *expectations {
	return &expectations{clock: clock, sets: map[cache.ObjectName]*setExpectations{}}
}

func (e *expectations) get(key cache.ObjectName) *setExpectations {
	s := e.sets[key]
	if s == nil {
		s = &setExpectations{creates: map[string]time.Time{}, made: map[string]*corev1.Pod{}, deletes: map[types.UID]pendingDelete{}, gone: map[types.UID]time.Time{}}
		e.sets[key] = s
	}
	return s
}

// ExpectCreate records that a pod with the name is about to be created.
func (e *expectations) ExpectCreate(key cache.ObjectName, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).creates[name] = e.clock.Now()
}

// Created records the pod the API server returned for an expected create,
// until the cache shows it (Unseen).
func (e *expectations) Created(key cache.ObjectName, pod *corev1.Pod) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sets[key]; s != nil {
		if _, ok := s.creates[pod.Name]; ok {
			s.made[pod.Name] = pod
		}
	}
}

// Unseen returns the pods created for the set that the cache has not shown
// yet, in no particular order.
func (e *expectations) Unseen(key cache.ObjectName) []*corev1.Pod {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sets[key]
	if s == nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(s.made))
	for _, pod := range s.made {
		out = append(out, pod)
	}
	return out
}

// ExpectDelete records that the pod with the name and UID is about to be deleted.
func (e *expectations) ExpectDelete(key cache.ObjectName, name string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).deletes[uid] = pendingDelete{name: name, at: e.clock.Now()}
}

// CreationObserved clears the create expectation for the name: the informer
// has shown the pod, or the create failed.
func (e *expectations) CreationObserved(key cache.ObjectName, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sets[key]; s != nil {
		delete(s.creates, name)
		delete(s.made, name)
	}
}

// DeletionObserved clears the delete expectation for the UID: the delete
// failed, or the API server says the pod is terminating, gone or replaced
// (the informer's own observations go through DeletionSeen).
func (e *expectations) DeletionObserved(key cache.ObjectName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sets[key]; s != nil {
		delete(s.deletes, uid)
	}
}

// DeletionSeen clears the delete expectation for the UID because the
// informer has shown the pod terminating or gone, and remembers that it
// did (ListCurrent).
func (e *expectations) DeletionSeen(key cache.ObjectName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sets[key]; s != nil {
		if _, ok := s.deletes[uid]; ok {
			delete(s.deletes, uid)
			s.gone[uid] = e.clock.Now()
		}
	}
}

// ListCurrent reports whether a list of the set's pods is at least as new
// as every delete the informer has shown: a pod it shows live although
// its delete was observed comes from a list taken before that observation
// (the expectations may be satisfied by now, the list is not).
func (e *expectations) ListCurrent(key cache.ObjectName, pods []*corev1.Pod) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sets[key]
	if s == nil || len(s.gone) == 0 {
		return true
	}
	for _, pod := range pods {
		if _, ok := s.gone[pod.UID]; ok && pod.DeletionTimestamp == nil {
			return false
		}
	}
	return true
}

// Satisfied reports whether the cache has caught up with every change
// issued for the set. Entries older than expectationTTL are dropped.
func (e *expectations) Satisfied(key cache.ObjectName) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sets[key]
	if s == nil {
		return true
	}
	now := e.clock.Now()
	for name, at := range s.creates {
		if now.Sub(at) > expectationTTL {
			delete(s.creates, name)
			delete(s.made, name)
		}
	}
	for uid, d := range s.deletes {
		if now.Sub(d.at) > expectationTTL {
			delete(s.deletes, uid)
		}
	}
	for uid, at := range s.gone {
		if now.Sub(at) > expectationTTL {
			delete(s.gone, uid)
		}
	}
	return len(s.creates) == 0 && len(s.deletes) == 0
}

// Pending returns the outstanding creates (pod names) and deletes (pod UID
// to name) of the set, and when the oldest of them was issued.
func (e *expectations) Pending(key cache.ObjectName) (creates []string, deletes map[types.UID]string, oldest time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	deletes = map[types.UID]string{}
	s := e.sets[key]
	if s == nil {
		return nil, deletes, oldest
	}
	for name, at := range s.creates {
		creates = append(creates, name)
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	for uid, d := range s.deletes {
		deletes[uid] = d.name
		if oldest.IsZero() || d.at.Before(oldest) {
			oldest = d.at
		}
	}
	return creates, deletes, oldest
}

// Forget drops everything recorded for the set (the set is gone).
func (e *expectations) Forget(key cache.ObjectName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sets, key)
}

// Clock tells the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns the current time.
func (RealClock) Now() time.Time { return time.Now() }
