package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// maxBatch bounds one batch of concurrent creates or deletes under Parallel.
const maxBatch = 500

// SetControl holds the ordering logic: given a set and the pets it owns, it
// takes the next safe steps towards the desired state and writes status.
type SetControl interface {
	// Sync acts on the set once. requeueAfter > 0 asks to be called again
	// after that long even if nothing changes (minReadySeconds).
	Sync(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod) (requeueAfter time.Duration, err error)
}

// progress is what one pass of the ordering logic found.
type progress struct {
	// blocked, when set, is why the set cannot progress (Progressing=False).
	blocked *BlockedError
	// waiting describes what the set is waiting for while progressing.
	waiting string
	// requeueAfter asks for another pass after that long.
	requeueAfter time.Duration
	// keepProgressing keeps the Progressing condition as it is (this pass
	// took no decision), unless there is none yet.
	keepProgressing bool
}

func (p *progress) wait(d time.Duration) {
	if d > 0 && (p.requeueAfter == 0 || d < p.requeueAfter) {
		p.requeueAfter = d
	}
}

type defaultSetControl struct {
	pets     PetControl
	status   StatusUpdater
	services corelisters.ServiceLister
	exp      *expectations
	clock    Clock
	recorder record.EventRecorder
	life     lifecycle
}

// NewSetControl returns the SetControl used by the controller.
func NewSetControl(pets PetControl, status StatusUpdater, services corelisters.ServiceLister,
	clock Clock, recorder record.EventRecorder) SetControl {
	return newSetControl(pets, status, services, newExpectations(clock), clock, recorder)
}

func newSetControl(pets PetControl, status StatusUpdater, services corelisters.ServiceLister,
	exp *expectations, clock Clock, recorder record.EventRecorder) *defaultSetControl {
	return &defaultSetControl{pets: pets, status: status, services: services, exp: exp, clock: clock, recorder: recorder}
}

// partition sorts the set's pets: replicas[i] is the pet on the i-th
// ordinal that must run a pet (petSlots; nil if missing); condemned are
// pets on any other ordinal (outside the range, or reserved), highest
// ordinal first.
func partition(set *kennelv1.PetSet, pets []*corev1.Pod) (replicas []*corev1.Pod, condemned []*corev1.Pod) {
	slots := petSlots(set)
	index := slotIndex(slots)
	replicas = make([]*corev1.Pod, len(slots))
	for _, pod := range pets {
		ord, ok := petOrdinal(set, pod)
		if !ok {
			continue
		}
		if i, in := index[ord]; in {
			replicas[i] = pod
		} else {
			condemned = append(condemned, pod)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		a, _ := petOrdinal(set, condemned[i])
		b, _ := petOrdinal(set, condemned[j])
		return a > b
	})
	return replicas, condemned
}

func (c *defaultSetControl) Sync(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod) (time.Duration, error) {
	revs, err := c.syncSetRevisions(ctx, set)
	if revs == nil || revs.update == nil {
		if revs != nil && err != nil {
			// A revision name collision: record the raised count so the
			// next pass hashes to another name.
			status := set.Status.DeepCopy()
			status.CollisionCount = &revs.collisionCount
			err = errors.Join(err, c.status.UpdatePetSetStatus(ctx, set, status))
		}
		return 0, err
	}
	replicas, condemned := partition(set, pets)
	slots := petSlots(set)
	var (
		p          progress
		errs       = []error{err}
		resizeCond *metav1.Condition
	)
	if set.DeletionTimestamp == nil || hasFinalizer(set) {
		errs = append(errs, c.syncFinalizer(ctx, set, pets))
	}
	claims, cerr := c.setClaims(set)
	errs = append(errs, cerr)
	if cerr == nil {
		errs = append(errs, c.syncClaimOwners(ctx, set, claims, pets, slots))
	}
	switch {
	case set.DeletionTimestamp != nil && hasFinalizer(set) && orphaning(set):
		p.waiting = "PetSet is being deleted; the garbage collector releases or deletes the pets"
	case set.DeletionTimestamp != nil && hasFinalizer(set):
		p.waiting = "PetSet is being deleted"
		if c.exp.Satisfied(setKey(set)) || c.recheckExpectations(ctx, set, &p) {
			errs = append(errs, c.teardown(ctx, set, pets, &p))
		}
	case set.DeletionTimestamp != nil:
		p.waiting = "PetSet is being deleted"
	case !c.exp.Satisfied(setKey(set)) && !c.recheckExpectations(ctx, set, &p):
		// Changes are in flight: keep reporting what they are for.
		p.keepProgressing = true
		p.waiting = "waiting for the cache to observe earlier changes"
	default:
		if cerr == nil {
			var rerr error
			resizeCond, rerr = c.syncClaimSizes(ctx, set, claims)
			errs = append(errs, rerr)
		}
		errs = append(errs, c.act(ctx, set, replicas, condemned, revs, &p))
		c.checkStuck(set, replicas, revs, &p)
	}
	err = joinErrors(nonNil(errs))
	var blocked *BlockedError
	if errors.As(err, &blocked) && p.blocked == nil {
		p.blocked = blocked
	}
	status := c.computeStatus(set, replicas, condemned, revs.update.Name, &p)
	if status.CurrentRevision != revs.update.Name {
		// Not every pet is updated and available yet.
		status.CurrentRevision = revs.current.Name
	}
	status.CurrentReplicas = countAt(pets, status.CurrentRevision)
	if revs.collisionCount != 0 || status.CollisionCount != nil {
		cc := revs.collisionCount
		status.CollisionCount = &cc
	}
	if resizeCond != nil || set.DeletionTimestamp == nil {
		setCondition(status, PetSetClaimsResized, resizeCond)
	}
	if uerr := c.updateStatus(ctx, set, status); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if terr := c.trimHistory(ctx, set, revs, pets); terr != nil {
		err = errors.Join(err, terr)
	}
	if err == nil && p.blocked != nil && p.blocked.Err != nil {
		// An API rejection: retry with backoff, the cluster may change
		// (quota freed, admission fixed) without any event we watch.
		err = p.blocked
	}
	return p.requeueAfter, err
}

// act takes the next steps for the set and records what it waits on in p.
func (c *defaultSetControl) act(ctx context.Context, set *kennelv1.PetSet, replicas, condemned []*corev1.Pod, revs *setRevisions, p *progress) error {
	start, _ := ordinalRange(set)
	span := 0 // ordinals from start to the highest pet, reserved ones included
	if slots := petSlots(set); len(slots) > 0 {
		span = slots[len(slots)-1] - start + 1
	}
	templates := make([]string, 0, len(set.Spec.VolumeClaimTemplates))
	for _, t := range set.Spec.VolumeClaimTemplates {
		templates = append(templates, t.Name)
	}
	if err := ordinal.ValidateNames(set.Name, templates, start, span); err != nil {
		p.blocked = &BlockedError{Reason: ReasonInvalidSpec, Message: err.Error()}
		return nil
	}
	for _, pod := range append(append([]*corev1.Pod{}, replicas...), condemned...) {
		if pod != nil && isPaused(pod) && !isTerminating(pod) {
			p.blocked = &BlockedError{Reason: ReasonPaused, Message: fmt.Sprintf("Pet %s has %s=false; scaling is paused", pod.Name, InitializedAnnotation)}
			return nil
		}
	}
	if isParallel(set) {
		return c.actParallel(ctx, set, replicas, condemned, revs, p)
	}
	return c.actOrdered(ctx, set, replicas, condemned, revs, p)
}

// serviceMissing returns a BlockedError if the governing Service does not exist.
func (c *defaultSetControl) serviceMissing(set *kennelv1.PetSet) *BlockedError {
	if set.Spec.ServiceName == "" || c.services == nil {
		return nil
	}
	_, err := c.services.Services(set.Namespace).Get(set.Spec.ServiceName)
	if apierrors.IsNotFound(err) {
		return &BlockedError{Reason: ReasonServiceNotFound, Message: fmt.Sprintf("governing Service %s/%s not found; pets are not created until it exists", set.Namespace, set.Spec.ServiceName)}
	}
	return nil
}

// recheckExpectations asks the API server about creates and deletes the
// cache has not shown for expectationRecheck: a create whose pod no longer
// exists, and a delete whose pod is gone, replaced or terminating, are
// observed. It reports whether the set's expectations are now satisfied;
// if not, it asks for another pass later.
func (c *defaultSetControl) recheckExpectations(ctx context.Context, set *kennelv1.PetSet, p *progress) bool {
	key := setKey(set)
	creates, deletes, oldest := c.exp.Pending(key)
	if age := c.clock.Now().Sub(oldest); age < expectationRecheck {
		p.wait(expectationRecheck - age)
		return false
	}
	for _, name := range creates {
		if _, err := c.pets.GetPet(ctx, set.Namespace, name); apierrors.IsNotFound(err) {
			c.exp.CreationObserved(key, name)
		}
	}
	for uid, name := range deletes {
		pod, err := c.pets.GetPet(ctx, set.Namespace, name)
		if apierrors.IsNotFound(err) || (err == nil && (pod.UID != uid || pod.DeletionTimestamp != nil)) {
			c.exp.DeletionObserved(key, uid)
		}
	}
	if c.exp.Satisfied(key) {
		return true
	}
	p.wait(expectationRecheck)
	return false
}

func (c *defaultSetControl) createPet(ctx context.Context, set *kennelv1.PetSet, pos, ord int, revs *setRevisions) error {
	from, revision := revs.forPosition(set, pos)
	pod := newPet(from, ord, revision)
	key := setKey(set)
	c.exp.ExpectCreate(key, pod.Name)
	if err := c.pets.CreatePet(ctx, set, pod); err != nil {
		c.exp.CreationObserved(key, pod.Name)
		if apierrors.IsAlreadyExists(err) {
			return c.nameTaken(ctx, set, pod.Name, err)
		}
		return err
	}
	return nil
}

// nameTaken explains an AlreadyExists on a pet's create. If the pod is the
// set's own (the cache was behind), the next pass sees it. If another pod
// holds the name (an orphan the set may not adopt, or a pod controlled by
// something else), the set is blocked on it and retried with backoff.
func (c *defaultSetControl) nameTaken(ctx context.Context, set *kennelv1.PetSet, name string, err error) error {
	live, getErr := c.pets.GetPet(ctx, set.Namespace, name)
	if getErr != nil || live == nil {
		return nil
	}
	if ref := metav1.GetControllerOf(live); ref != nil && ref.UID == set.UID {
		return nil
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonPetNameTaken, "Pod %s exists and is not controlled by PetSet %s; delete it, or make it adoptable (labels matching the selector, no controller)", name, set.Name)
	return &BlockedError{Reason: ReasonPetNameTaken, Message: fmt.Sprintf("Pod %s exists and is not controlled by this PetSet", name), Err: err}
}

func (c *defaultSetControl) deletePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error {
	key := setKey(set)
	c.exp.ExpectDelete(key, pod.Name, pod.UID)
	if err := c.pets.DeletePet(ctx, set, pod); err != nil {
		c.exp.DeletionObserved(key, pod.UID)
		return err
	}
	return nil
}

// repair fixes what can be fixed on a live pet: identity labels (pets
// adopted from elsewhere may lack them) and, while it is not yet scheduled,
// missing claims.
func (c *defaultSetControl) repair(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod, ord int) error {
	if isTerminating(pod) {
		return nil
	}
	if !hasIdentityLabels(set, pod, ord) {
		cp := pod.DeepCopy()
		if cp.Labels == nil {
			cp.Labels = map[string]string{}
		}
		for k, v := range identityLabels(set, cp.Name, ord) {
			cp.Labels[k] = v
		}
		if err := c.pets.UpdatePetLabels(ctx, set, cp); err != nil {
			return err
		}
	}
	if pod.Status.Phase == corev1.PodPending && pod.Spec.NodeName == "" && len(set.Spec.VolumeClaimTemplates) > 0 {
		return c.pets.EnsureClaims(ctx, set, ord)
	}
	return nil
}

// actOrdered is the OrderedReady policy: replicas in ascending order, at
// most one change per pass, never past a pet that is not Running, Ready and
// available; then condemned pets from the highest ordinal, one at a time,
// each gone before the next.
func (c *defaultSetControl) actOrdered(ctx context.Context, set *kennelv1.PetSet, replicas, condemned []*corev1.Pod, revs *setRevisions, p *progress) error {
	slots := petSlots(set)
	now := c.clock.Now()
	for i, pod := range replicas {
		ord := slots[i]
		name := ordinal.PetName(set.Name, ord)
		if pod == nil {
			if b := c.serviceMissing(set); b != nil {
				p.blocked = b
				return nil
			}
			p.waiting = fmt.Sprintf("creating pet %s", name)
			return c.createPet(ctx, set, i, ord, revs)
		}
		if isFailed(pod) || isSucceeded(pod) {
			if !isTerminating(pod) {
				c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonRecreatePet, "Pet %s has phase %s; deleting it to recreate it", pod.Name, pod.Status.Phase)
				p.waiting = fmt.Sprintf("replacing pet %s", name)
				return c.deletePet(ctx, set, pod)
			}
		}
		if isTerminating(pod) {
			p.waiting = fmt.Sprintf("replacing pet %s", name)
			return nil
		}
		if err := c.repair(ctx, set, pod, ord); err != nil {
			return err
		}
		if replaceableUnhealthy(set, i, pod, revs.update.Name, now) {
			c.replaceStuck(set, pod)
			p.waiting = fmt.Sprintf("replacing pet %s with revision %s", name, revs.update.Name)
			return c.deletePet(ctx, set, pod)
		}
		if !isRunningAndReady(pod) {
			c.notReady(pod, now, fmt.Sprintf("pet %s is not Ready; waiting before creating further pets", name), p)
			return nil
		}
		if left := availableIn(pod, set.Spec.MinReadySeconds, now); left > 0 {
			p.waiting = fmt.Sprintf("waiting for pet %s to be available for %ds", name, set.Spec.MinReadySeconds)
			p.wait(left)
			return nil
		}
	}
	// Every replica is healthy here; the only unhealthy pets are condemned.
	// Removal waits for any condemned pet still terminating. A condemned pet
	// that has already failed or succeeded serves nothing and goes first,
	// whatever its ordinal: waiting on it would halt the scale-down for good.
	// Otherwise the highest goes, unless a lower one is unhealthy; the
	// lowest unhealthy condemned pet may always be removed.
	for _, pod := range condemned {
		if isTerminating(pod) {
			p.waiting = fmt.Sprintf("removing pet %s", pod.Name)
			return nil
		}
	}
	for _, pod := range condemned {
		if isFailed(pod) || isSucceeded(pod) {
			p.waiting = fmt.Sprintf("removing pet %s", pod.Name)
			return c.deletePet(ctx, set, pod)
		}
	}
	var firstUnhealthy *corev1.Pod
	for i := len(condemned) - 1; i >= 0; i-- {
		if !isHealthy(condemned[i]) {
			firstUnhealthy = condemned[i]
			break
		}
	}
	if len(condemned) == 0 {
		return c.rollingUpdate(ctx, set, replicas, revs, p)
	}
	pod := condemned[0] // the highest ordinal
	if firstUnhealthy != nil && pod != firstUnhealthy {
		c.notReady(firstUnhealthy, now, fmt.Sprintf("pet %s is not Ready; scale-down halted", firstUnhealthy.Name), p)
		return nil
	}
	p.waiting = fmt.Sprintf("removing pet %s", pod.Name)
	return c.deletePet(ctx, set, pod)
}

// replaceStuck records that a pet that is not available and runs an old
// template is being replaced. Waiting for it would stall a rollout (or a
// scale-up) on a template the user has already changed: this is how a
// rollout onto a broken template is rolled back by fixing the template.
func (c *defaultSetControl) replaceStuck(set *kennelv1.PetSet, pod *corev1.Pod) {
	c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonReplacingStuckPet,
		"Pet %s is not available and runs an outdated template; replacing it", pod.Name)
}

// notReadyGrace is how long a pet may be not Ready before the set reports
// itself halted (Progressing=False, PetNotReady) rather than converging: a
// pet that has just started usually becomes Ready on its own.
const notReadyGrace = 30 * time.Second

// notReady records in p that the set waits on a pet that is not Ready:
// converging while the pet is Pending or became not Ready less than
// notReadyGrace ago (with a pass requeued for when the grace ends), halted
// after that.
func (c *defaultSetControl) notReady(pod *corev1.Pod, now time.Time, msg string, p *progress) {
	since := pod.CreationTimestamp.Time
	if pod.Status.StartTime != nil {
		since = pod.Status.StartTime.Time
	}
	if rc := readyCondition(pod); rc != nil && rc.LastTransitionTime.After(since) {
		since = rc.LastTransitionTime.Time
	}
	if pod.Status.Phase != corev1.PodRunning && !isFailed(pod) {
		p.waiting = fmt.Sprintf("waiting for pet %s to become Running and Ready", pod.Name)
		return
	}
	if left := since.Add(notReadyGrace).Sub(now); !since.IsZero() && left > 0 {
		p.waiting = fmt.Sprintf("waiting for pet %s to become Running and Ready", pod.Name)
		p.wait(left)
		return
	}
	p.blocked = &BlockedError{Reason: ReasonPetNotReady, Message: msg}
}

// actParallel is the Parallel policy: every missing pet is created and every
// condemned pet deleted without waiting, in batches of growing size.
func (c *defaultSetControl) actParallel(ctx context.Context, set *kennelv1.PetSet, replicas, condemned []*corev1.Pod, revs *setRevisions, p *progress) error {
	slots := petSlots(set)
	now := c.clock.Now()
	var (
		missing []int
		// remaining are the replicas not deleted in this pass, for the
		// rolling update.
		remaining = append([]*corev1.Pod(nil), replicas...)
		doomed    []*corev1.Pod
		errs      []error
		settled   = true
	)
	for i, pod := range replicas {
		ord := slots[i]
		switch {
		case pod == nil:
			missing = append(missing, i)
			settled = false
		case isTerminating(pod):
			settled = false
		case isFailed(pod) || isSucceeded(pod):
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonRecreatePet, "Pet %s has phase %s; deleting it to recreate it", pod.Name, pod.Status.Phase)
			doomed = append(doomed, pod)
			remaining[i] = nil
			settled = false
		case replaceableUnhealthy(set, i, pod, revs.update.Name, now):
			c.replaceStuck(set, pod)
			doomed = append(doomed, pod)
			remaining[i] = nil
			settled = false
		default:
			if err := c.repair(ctx, set, pod, ord); err != nil {
				errs = append(errs, err)
			}
			left := availableIn(pod, set.Spec.MinReadySeconds, now)
			if left != 0 {
				settled = false
			}
			p.wait(left)
		}
	}
	for _, pod := range condemned {
		settled = false
		if !isTerminating(pod) {
			doomed = append(doomed, pod)
		}
	}
	if len(doomed) > 0 {
		p.waiting = "removing pets"
		errs = append(errs, batched(len(doomed), func(i int) error { return c.deletePet(ctx, set, doomed[i]) }))
	}
	if len(missing) > 0 {
		if b := c.serviceMissing(set); b != nil {
			p.blocked = b
		} else {
			p.waiting = fmt.Sprintf("creating %d pets", len(missing))
			errs = append(errs, batched(len(missing), func(i int) error { return c.createPet(ctx, set, missing[i], slots[missing[i]], revs) }))
		}
	}
	if err := joinErrors(nonNil(errs)); err != nil {
		return err
	}
	// The rolling update counts missing and unavailable pets against
	// maxUnavailable, so it need not wait for the set to settle.
	if err := c.rollingUpdate(ctx, set, remaining, revs, p); err != nil || settled {
		return err
	}
	if p.waiting == "" {
		p.waiting = "waiting for pets to become Running and Ready"
	}
	return nil
}

// rollingUpdate deletes, from the highest ordinal down to the partition,
// the pets not at the update revision that planRollingUpdate allows under
// maxUnavailable; the ordering logic recreates them at the update revision.
func (c *defaultSetControl) rollingUpdate(ctx context.Context, set *kennelv1.PetSet, replicas []*corev1.Pod, revs *setRevisions, p *progress) error {
	plan := planRollingUpdate(set, replicas, revs.update.Name, c.clock.Now())
	if plan.Waiting != "" && p.waiting == "" {
		p.waiting = plan.Waiting
	}
	unhealthy := map[*corev1.Pod]bool{}
	for _, pod := range plan.Unhealthy {
		unhealthy[pod] = true
	}
	var errs []error
	for _, pod := range plan.Delete {
		if unhealthy[pod] {
			c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonReplacingStuckPet, "Pet %s on revision %s is not available; replacing it with revision %s", pod.Name, petRevision(pod), revs.update.Name)
		}
		if err := c.deletePet(ctx, set, pod); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrors(errs)
}

// checkStuck reports a rollout stuck on a pet that stays not Ready past
// the progress deadline, and asks to be called again when the first pet
// still within it would reach it.
func (c *defaultSetControl) checkStuck(set *kennelv1.PetSet, replicas []*corev1.Pod, revs *setRevisions, p *progress) {
	_, blocked, next := stuckRollout(set, replicas, revs.current.Name, revs.update.Name, c.clock.Now())
	if blocked != nil && (p.blocked == nil || p.blocked.Reason == ReasonPetNotReady) {
		p.blocked = blocked
	}
	p.wait(next)
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

// batched calls fn for 0..n-1 in batches of 1, 2, 4, … up to maxBatch,
// running each batch concurrently and stopping after the first batch with
// an error.
func batched(n int, fn func(i int) error) error {
	size := 1
	for done := 0; done < n; {
		end := min(done+size, n)
		errs := make([]error, end-done)
		var wg sync.WaitGroup
		for i := done; i < end; i++ {
			wg.Go(func() { errs[i-done] = fn(i) })
		}
		wg.Wait()
		if err := joinErrors(nonNil(errs)); err != nil {
			return err
		}
		done = end
		size = min(2*size, maxBatch)
	}
	return nil
}

func nonNil(errs []error) []error {
	out := errs[:0:0]
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// setKey is the workqueue key of the set.
func setKey(set *kennelv1.PetSet) string { return set.Namespace + "/" + set.Name }

// logger returns the contextual logger with the set attached.
func setLogger(ctx context.Context, set *kennelv1.PetSet) klog.Logger {
	return klog.FromContext(ctx).WithValues("petset", klog.KObj(set))
}
