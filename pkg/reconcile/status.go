package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
)

// StatusUpdater writes a set's status.
type StatusUpdater interface {
	// UpdatePetSetStatus writes status to the set, retrying on conflicts.
	UpdatePetSetStatus(ctx context.Context, set *kennelv1.PetSet, status *kennelv1.PetSetStatus) error
	// Latest returns the set as this updater last wrote it while the
	// cache still shows an earlier version of it, else set itself. A pass
	// that starts from it neither writes the same status twice nor
	// conflicts with its own write.
	Latest(set *kennelv1.PetSet) *kennelv1.PetSet
}

type realStatusUpdater struct {
	client versioned.Interface

	mu      sync.Mutex
	written map[types.UID]*writtenSet
}

// writtenSet is a set as the updater last wrote it, and the resource
// versions of it the cache may still show (its own writes before that one
// and the version the first of them was made over).
type writtenSet struct {
	set   *kennelv1.PetSet
	stale []string
	at    time.Time
}

// writtenTTL bounds how long a write is remembered: a cache that has not
// shown it by then has missed it, and a deleted set's entry goes.
const writtenTTL = time.Minute

// NewStatusUpdater returns a StatusUpdater that writes through the status
// subresource and, on a conflict, re-reads the set and retries.
func NewStatusUpdater(client versioned.Interface) StatusUpdater {
	return &realStatusUpdater{client: client, written: map[types.UID]*writtenSet{}}
}

func (u *realStatusUpdater) UpdatePetSetStatus(ctx context.Context, set *kennelv1.PetSet, status *kennelv1.PetSetStatus) error {
	current := set.DeepCopy()
	var stored *kennelv1.PetSet
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		current.Status = *status
		var err error
		stored, err = u.client.KennelV1().PetSets(current.Namespace).UpdateStatus(ctx, current, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) {
			return err
		}
		fresh, getErr := u.client.KennelV1().PetSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != set.UID {
			stored = nil
			return nil // the set was replaced; its own sync writes its status
		}
		current = fresh.DeepCopy()
		return err
	})
	if err == nil && stored != nil {
		u.remember(set, stored)
	}
	return err
}

// remember records the set as written over the version before.
func (u *realStatusUpdater) remember(before, stored *kennelv1.PetSet) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	for uid, w := range u.written {
		if now.Sub(w.at) > writtenTTL {
			delete(u.written, uid)
		}
	}
	stale := []string{before.ResourceVersion}
	if w := u.written[stored.UID]; w != nil && w.set.ResourceVersion == before.ResourceVersion {
		// A write over our own last write: the cache may show either.
		stale = append(w.stale[max(0, len(w.stale)-7):], before.ResourceVersion)
	}
	u.written[stored.UID] = &writtenSet{set: stored, stale: stale, at: now}
}

func (u *realStatusUpdater) Latest(set *kennelv1.PetSet) *kennelv1.PetSet {
	u.mu.Lock()
	defer u.mu.Unlock()
	w := u.written[set.UID]
	switch {
	case w == nil:
		return set
	case slices.Contains(w.stale, set.ResourceVersion):
		return w.set
	}
	// The cache shows our write, or a later change by someone else.
	delete(u.written, set.UID)
	return set
}

// observed is what one pass saw and decided: the input of the status.
type observed struct {
	// pets are the pets the set owns; replicas and condemned the same
	// pets sorted by partition.
	pets                []*corev1.Pod
	replicas, condemned []*corev1.Pod
	revs                *revisions
	progress            progress
	// claimsBehind are the ordinals whose claims did not get the owner
	// references the retention policy asks for; their condemned pets stay.
	claimsBehind map[int]bool
	// resizeChecked says claims were compared with their templates in this
	// pass; resized is then the VolumeClaimsResized condition (nil: none).
	// A pass that did not compare them leaves the condition as it is.
	resizeChecked bool
	resized       *metav1.Condition
}

// computeStatus returns the set's status after the pass. It is a pure
// function of its arguments.
func computeStatus(set *kennelv1.PetSet, pass observed, now time.Time) *kennelv1.PetSetStatus {
	status := set.Status.DeepCopy()
	update := pass.revs.update.Name
	status.ObservedGeneration = set.Generation
	status.UpdateRevision = update
	if set.Spec.Selector != nil {
		if sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector); err == nil {
			status.Selector = sel.String()
		}
	}
	c := countPets(set, pass.replicas, pass.condemned, update, now)
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas, status.UpdatedReplicas = c.created, c.ready, c.available, c.updated
	// The update revision becomes current once every desired pet runs it
	// and is available; until then pets below the partition run current.
	status.CurrentRevision = pass.revs.current.Name
	if c.rolledOut() {
		status.CurrentRevision = update
	}
	status.CurrentReplicas = countAt(pass.pets, status.CurrentRevision)
	if pass.revs.collisionCount != 0 || status.CollisionCount != nil {
		cc := pass.revs.collisionCount
		status.CollisionCount = &cc
	}
	ready := readyStatus(set, pass.replicas, c, update)
	meta.SetStatusCondition(&status.Conditions, ready)
	meta.SetStatusCondition(&status.Conditions, progressingStatus(set, pass.progress, ready))
	if pass.resizeChecked {
		setCondition(status, kennelv1.PetSetVolumeClaimsResized, pass.resized)
	}
	return status
}

// petCounts are the pets of a pass counted for status.
type petCounts struct {
	created, ready, available, updated int32
	// desired pets all present (not terminating), all at the update
	// revision, all available; condemned pets left.
	allPresent, allUpdated, allAvailable bool
	condemned                            int
	desired                              int
	// notReady names the created pets that are not Running and Ready, in
	// ordinal order. (Not with a time: a time that moves as a pet starts
	// would rewrite the status once more per pet.)
	notReady []string
}

// rolledOut reports whether the update revision may become current.
func (c petCounts) rolledOut() bool {
	return c.allPresent && c.allUpdated && c.allAvailable && c.condemned == 0
}

// countPets counts the created pets among replicas and condemned.
func countPets(set *kennelv1.PetSet, replicas, condemned []*corev1.Pod, update string, now time.Time) petCounts {
	_, desired := ordinalRange(set)
	c := petCounts{allPresent: true, allUpdated: true, allAvailable: true, condemned: len(condemned), desired: desired}
	count := func(pod *corev1.Pod) {
		if pod == nil || !isCreated(pod) {
			return
		}
		c.created++
		if !isRunningAndReady(pod) {
			c.notReady = append(c.notReady, pod.Name)
		}
		if isRunningAndReady(pod) {
			c.ready++
			if availableIn(pod, set.Spec.MinReadySeconds, now) == 0 {
				c.available++
			}
		}
		if petRevision(pod) == update {
			c.updated++
		}
	}
	for _, pod := range replicas {
		count(pod)
		switch {
		case pod == nil || isTerminating(pod):
			c.allPresent, c.allAvailable = false, false
			continue
		case availableIn(pod, set.Spec.MinReadySeconds, now) != 0:
			c.allAvailable = false
		}
		if petRevision(pod) != update {
			c.allUpdated = false
		}
	}
	for _, pod := range condemned {
		count(pod)
	}
	return c
}

// readyStatus is the Ready condition: every desired pet exists and is
// available, nothing is left to remove, and (unless updates are manual)
// every pet at or above the partition runs the update revision.
func readyStatus(set *kennelv1.PetSet, replicas []*corev1.Pod, c petCounts, update string) metav1.Condition {
	updatedEnough := c.allUpdated || !isRollingUpdate(set) || partitioned(set, replicas, update)
	ready := metav1.Condition{Type: kennelv1.PetSetReady, ObservedGeneration: set.Generation,
		Message: fmt.Sprintf("%d of %d pets ready", c.ready, c.desired)}
	if n := len(c.notReady); n > 0 {
		const most = 5
		ready.Message += "; not Ready: " + strings.Join(c.notReady[:min(n, most)], ", ")
		if n > most {
			ready.Message += fmt.Sprintf(" and %d more", n-most)
		}
	}
	if c.allPresent && c.allAvailable && updatedEnough && c.condemned == 0 {
		ready.Status, ready.Reason = metav1.ConditionTrue, ReasonAllPetsReady
	} else {
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonPetsNotReady
	}
	return ready
}

// progressingStatus is the Progressing condition after the pass.
func progressingStatus(set *kennelv1.PetSet, p progress, ready metav1.Condition) metav1.Condition {
	prog := metav1.Condition{Type: kennelv1.PetSetProgressing, ObservedGeneration: set.Generation}
	switch {
	case set.DeletionTimestamp != nil:
		prog.Status, prog.Reason, prog.Message = metav1.ConditionFalse, ReasonDeleting, "PetSet is being deleted"
	case p.blocked != nil:
		prog.Status, prog.Reason, prog.Message = metav1.ConditionFalse, p.blocked.Reason, p.blocked.Error()
	case ready.Status == metav1.ConditionTrue:
		prog.Status, prog.Reason, prog.Message = metav1.ConditionTrue, ReasonComplete, "all pets are ready"
	default:
		msg := p.waiting
		if msg == "" {
			msg = "converging"
		}
		prog.Status, prog.Reason, prog.Message = metav1.ConditionTrue, ReasonConverging, msg
	}
	if old := meta.FindStatusCondition(set.Status.Conditions, kennelv1.PetSetProgressing); p.keepProgressing && old != nil && old.Reason == ReasonConverging && prog.Reason == ReasonConverging {
		// Converging while earlier changes are in flight: the condition
		// still says what they are for. Messages change only when the pet
		// waited on changes, so status is not rewritten for every step.
		prog = *old
		prog.ObservedGeneration = set.Generation
	}
	return prog
}

// nextAvailable returns how long until the first Ready pet that has not
// been Ready for minReadySeconds becomes available (0 if none): the set's
// status changes then without any event.
func nextAvailable(set *kennelv1.PetSet, pets []*corev1.Pod, now time.Time) time.Duration {
	var next time.Duration
	for _, pod := range pets {
		if left := availableIn(pod, set.Spec.MinReadySeconds, now); left > 0 && (next == 0 || left < next) {
			next = left
		}
	}
	return next
}

// partitioned reports whether every pet at or above the rolling update
// partition runs the revision (pets below it keep their template).
func partitioned(set *kennelv1.PetSet, replicas []*corev1.Pod, revision string) bool {
	part := updatePartition(set)
	if part <= 0 {
		return false
	}
	for i, pod := range replicas {
		if i >= part && (pod == nil || petRevision(pod) != revision) {
			return false
		}
	}
	return true
}

// countAt counts the created pets running the revision.
func countAt(pets []*corev1.Pod, revision string) int32 {
	var n int32
	for _, pod := range pets {
		if isCreated(pod) && petRevision(pod) == revision {
			n++
		}
	}
	return n
}

// setCondition puts c into the status conditions, or removes the type when
// c is nil.
func setCondition(status *kennelv1.PetSetStatus, typ string, c *metav1.Condition) {
	if c == nil {
		meta.RemoveStatusCondition(&status.Conditions, typ)
		return
	}
	meta.SetStatusCondition(&status.Conditions, *c)
}

// updateStatus writes the status if it differs from the set's, unless the
// write must wait for the status spacing: it then returns how long (the
// pass at the end of that time writes what it finds). A change of the
// Ready or Progressing condition is logged, and a Warning event is
// recorded when the set newly becomes blocked.
func (c *defaultSetControl) updateStatus(ctx context.Context, set *kennelv1.PetSet, status *kennelv1.PetSetStatus, now time.Time) (time.Duration, error) {
	if equality.Semantic.DeepEqual(&set.Status, status) {
		return 0, nil
	}
	if d := c.spacer.wait(set, status, now); d > 0 {
		return d, nil
	}
	logger := klog.FromContext(ctx)
	for _, typ := range []string{kennelv1.PetSetReady, kennelv1.PetSetProgressing} {
		old := meta.FindStatusCondition(set.Status.Conditions, typ)
		now := meta.FindStatusCondition(status.Conditions, typ)
		if now == nil || (old != nil && old.Status == now.Status && old.Reason == now.Reason && old.Message == now.Message) {
			continue
		}
		logger.Info("Condition changed", "type", typ, "status", now.Status, "reason", now.Reason, "message", now.Message)
		if typ == kennelv1.PetSetProgressing && now.Status == metav1.ConditionFalse && now.Reason != ReasonDeleting &&
			(old == nil || old.Status != now.Status || old.Reason != now.Reason) {
			c.recorder.Event(set, corev1.EventTypeWarning, now.Reason, now.Message)
		}
	}
	logger.V(2).Info("Updating status", "replicas", status.Replicas, "ready", status.ReadyReplicas,
		"updated", status.UpdatedReplicas, "currentRevision", status.CurrentRevision, "updateRevision", status.UpdateRevision)
	if err := c.status.UpdatePetSetStatus(ctx, set, status); err != nil {
		return 0, err
	}
	c.spacer.wrote(set.UID, now)
	return 0, nil
}
