package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// Ordering.
//
// Both pod management policies run the same per-pet decision (judgePet)
// over the pets the set must run, lowest ordinal first. OrderedReady walks
// them monotonically: it stops at the first pet that is not available and
// takes at most that pet's step, then removes condemned pets one at a time
// from the highest ordinal, then rolls the update. Parallel walks them all,
// deletes what must go and creates what is missing in growing batches, and
// rolls the update in the same pass.

// maxBatch bounds one batch of concurrent creates or deletes under Parallel.
const maxBatch = 500

// petAction is what the ordering logic does about the pet at one position.
type petAction int

const (
	// petAvailable: Running, Ready for minReadySeconds; nothing to do.
	petAvailable petAction = iota
	// petMissing: no pet; create it.
	petMissing
	// petTerminating: the pet is going away; wait for it.
	petTerminating
	// petFinished: the pet failed or succeeded; delete it to make it again.
	petFinished
	// petOutdatedUnhealthy: not available on an outdated revision; delete
	// it so it is made again at the update revision.
	petOutdatedUnhealthy
	// petNotReady: not Running and Ready; wait for it.
	petNotReady
	// petWarmingUp: Ready for less than minReadySeconds; wait for it.
	petWarmingUp
)

// judgePet decides about the pet at the position (nil if missing), and for
// petWarmingUp how long until it is available.
func judgePet(set *kennelv1.PetSet, pos int, pod *corev1.Pod, update string, now time.Time) (petAction, time.Duration) {
	switch {
	case pod == nil:
		return petMissing, 0
	case isTerminating(pod):
		return petTerminating, 0
	case isFinished(pod):
		return petFinished, 0
	case replaceableUnhealthy(set, pos, pod, update, now):
		return petOutdatedUnhealthy, 0
	case !isRunningAndReady(pod):
		return petNotReady, 0
	}
	if left := availableIn(pod, set.Spec.MinReadySeconds, now); left > 0 {
		return petWarmingUp, left
	}
	return petAvailable, 0
}

// petWork is what a walk over the pets decided.
type petWork struct {
	// create holds the positions of the pets to create.
	create []int
	// remove holds the pets to delete, why holds why (for the log).
	remove []*corev1.Pod
	why    []string
	// remaining are the replicas left in place, for the rolling update.
	remaining []*corev1.Pod
	// settled is true when every pet walked over was available.
	settled bool
	err     error
}

// removePet records that the pet at the position is to be deleted.
func (w *petWork) removePet(pos int, pod *corev1.Pod, why string) {
	w.remove, w.why = append(w.remove, pod), append(w.why, why)
	if pos >= 0 {
		w.remaining[pos] = nil
	}
}

// walkPets judges each pet in position order and records what to do; a
// live pet is repaired on the way. Monotonic (OrderedReady), it stops at
// the first pet that is not available and says in p what it waits on.
func (c *defaultSetControl) walkPets(ctx context.Context, set *kennelv1.PetSet, replicas []*corev1.Pod, revs *revisions, monotonic bool, p *progress) petWork {
	slots := petSlots(set)
	now := c.clock.Now()
	w := petWork{remaining: slices.Clone(replicas), settled: true}
	var errs []error
	for i, pod := range replicas {
		act, left := judgePet(set, i, pod, revs.update.Name, now)
		p.wait(left)
		var repairErr error
		switch act {
		case petMissing:
			w.create = append(w.create, i)
		case petFinished:
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonRecreatingFailedPet,
				"Pet %s ended with phase %s; deleting it so that it is made again", pod.Name, pod.Status.Phase)
			w.removePet(i, pod, fmt.Sprintf("ended with phase %s; made again", pod.Status.Phase))
		case petOutdatedUnhealthy:
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonReplacingUnhealthyPet,
				"Pet %s is not available and runs an outdated template; replacing it", pod.Name)
			w.removePet(i, pod, fmt.Sprintf("not available on outdated revision %s; replaced at %s", petRevision(pod), revs.update.Name))
		case petAvailable, petNotReady, petWarmingUp:
			repairErr = c.repair(ctx, set, pod, slots[i])
			errs = append(errs, repairErr)
		}
		if act == petAvailable && repairErr == nil {
			continue
		}
		w.settled = false
		if !monotonic {
			continue
		}
		if repairErr == nil {
			c.orderedWait(set, act, pod, ordinal.PetName(set.Name, slots[i]), awaiting(replicas[i+1:], revs.update.Name), revs, now, p)
		}
		break
	}
	w.err = errors.Join(errs...)
	return w
}

// awaiting says what waits behind a pet that is not available: the pets
// above it that are missing, or on an outdated revision, or nothing.
func awaiting(above []*corev1.Pod, update string) string {
	for _, pod := range above {
		if pod == nil {
			return "waiting before creating further pets"
		}
	}
	for _, pod := range above {
		if petRevision(pod) != update {
			return "the rolling update waits for it"
		}
	}
	return "waiting for it"
}

// orderedWait says in p what an OrderedReady walk stopped for; behind says
// what waits behind the pet.
func (c *defaultSetControl) orderedWait(set *kennelv1.PetSet, act petAction, pod *corev1.Pod, name, behind string, revs *revisions, now time.Time, p *progress) {
	switch act {
	case petMissing:
		p.waiting = fmt.Sprintf("creating pet %s", name)
	case petFinished, petTerminating:
		p.waiting = fmt.Sprintf("replacing pet %s", name)
	case petOutdatedUnhealthy:
		p.waiting = fmt.Sprintf("replacing pet %s with revision %s", name, revs.update.Name)
	case petNotReady:
		c.notReady(pod, now, behind, p)
	case petWarmingUp:
		p.waiting = fmt.Sprintf("waiting for pet %s to be available for %ds", name, set.Spec.MinReadySeconds)
	}
}

// act takes the next steps for the set and records what it waits on in the
// pass's progress.
func (c *defaultSetControl) act(ctx context.Context, set *kennelv1.PetSet, pass *observed) error {
	replicas, condemned, revs, p := pass.replicas, pass.condemned, pass.revs, &pass.progress
	if b := actionBlocked(set, replicas, condemned); b != nil {
		p.blocked = b
		return nil
	}
	ordered := !isParallel(set)
	w := c.walkPets(ctx, set, replicas, revs, ordered, p)
	if ordered {
		if !w.settled {
			return errors.Join(w.err, c.apply(ctx, set, w, revs, p, false))
		}
		if len(condemned) > 0 {
			return c.scaleDown(ctx, set, condemned, pass.claimsBehind, p)
		}
		return c.rollingUpdate(ctx, set, replicas, revs, p)
	}
	for _, pod := range condemned {
		w.settled = false
		if !isTerminating(pod) && !claimsHold(set, pod, pass.claimsBehind, p) {
			w.removePet(-1, pod, condemnedWhy(set, pod))
		}
	}
	if err := errors.Join(w.err, c.apply(ctx, set, w, revs, p, true)); err != nil {
		return err
	}
	// The rolling update counts missing and unavailable pets against
	// maxUnavailable, so it need not wait for the set to settle.
	if err := c.rollingUpdate(ctx, set, w.remaining, revs, p); err != nil || w.settled {
		return err
	}
	if p.waiting == "" {
		p.waiting = "waiting for pets to become Running and Ready"
	}
	return nil
}

// actionBlocked returns why the ordering logic may not act at all: pet or
// claim names that would be invalid, or a pet pausing the set.
func actionBlocked(set *kennelv1.PetSet, replicas, condemned []*corev1.Pod) *BlockedError {
	start, _ := ordinalRange(set)
	span := 0 // ordinals from start to the highest pet, reserved ones included
	if slots := petSlots(set); len(slots) > 0 {
		span = slots[len(slots)-1] - start + 1
	}
	if err := ordinal.ValidateNames(set.Name, claimTemplateNames(set), start, span); err != nil {
		return &BlockedError{Reason: ReasonInvalidSpec, Message: err.Error()}
	}
	for _, pod := range slices.Concat(replicas, condemned) {
		if pod != nil && isPaused(pod) && !isTerminating(pod) {
			return &BlockedError{Reason: ReasonPaused, Message: fmt.Sprintf("Pet %s has %s=false; scaling is paused", pod.Name, InitializedAnnotation)}
		}
	}
	return nil
}

// apply deletes the walk's pets to remove, then creates its missing pets
// unless the governing Service is missing. batch says what p reports
// (Parallel) when it is doing either.
func (c *defaultSetControl) apply(ctx context.Context, set *kennelv1.PetSet, w petWork, revs *revisions, p *progress, batch bool) error {
	var errs []error
	if len(w.remove) > 0 {
		if batch {
			p.waiting = "removing pets"
		}
		errs = append(errs, batched(len(w.remove), func(i int) error { return c.deletePet(ctx, set, w.remove[i], w.why[i]) }))
	}
	if len(w.create) > 0 {
		if b := c.serviceMissing(set); b != nil {
			p.blocked = b
			return errors.Join(errs...)
		}
		if batch {
			p.waiting = fmt.Sprintf("creating %d pets", len(w.create))
		}
		slots := petSlots(set)
		create, claimsMade, err := c.claimsFirst(ctx, set, slots, w.create, batch)
		errs = append(errs, err)
		err = batched(len(create), func(i int) error {
			return c.createPet(ctx, set, create[i], slots[create[i]], revs, createWhy(set, slots, create[i], batch), claimsMade)
		})
		if err == nil && !batch {
			// What the next pass, seeing the new pet Pending, will say.
			p.waiting = awaitReady(ordinal.PetName(set.Name, slots[w.create[0]]))
			c.claimsAhead(ctx, set, slots, w.create[0], w.remaining)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// claimsBeforePets says whether claims may be created before their pet
// (made ahead, or first in a Parallel pass): the set has claim templates
// and keeps the claims of scaled-away ordinals (whenScaled: Retain). Under
// Delete a claim whose pet is never made would carry no reference to a
// pet, and no scale-down would take it away.
func claimsBeforePets(set *kennelv1.PetSet) bool {
	_, whenScaled := retentionPolicy(set)
	return len(set.Spec.VolumeClaimTemplates) > 0 && whenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

// claimsFirst creates, under Parallel with whenScaled: Retain, the claims
// of every pet the pass creates before any of those pets, and returns the
// positions whose claims are now made and claimsMade true; createPet then
// makes the pods alone. The provisioner starts on every claim at once, and
// a pod created after its claim is bound is scheduled on its first try
// instead of waiting out the scheduler's backoff. If a batch of claims
// fails, the later batches are not tried and only the pets whose claims
// were made are created; the error is returned with theirs. A set whose
// claims may not come before their pets (claimsBeforePets) leaves them to
// each pet's create.
func (c *defaultSetControl) claimsFirst(ctx context.Context, set *kennelv1.PetSet, slots, create []int, batch bool) ([]int, bool, error) {
	if !batch || !claimsBeforePets(set) {
		return create, false, nil
	}
	made := make([]bool, len(create))
	err := batched(len(create), func(i int) error {
		err := c.pets.EnsureClaims(ctx, set, slots[create[i]])
		made[i] = err == nil
		return err
	})
	if err == nil {
		return create, true, nil
	}
	var ready []int
	for i, pos := range create {
		if made[i] {
			ready = append(ready, pos)
		}
	}
	return ready, true, err
}

// claimsAhead creates, after an OrderedReady set's pet at the position,
// the claims of the pet at the next position. The next step then waits on
// the pod's create alone, and the claim binds while the pet before it
// starts. Only if claims may come before their pets (claimsBeforePets): a
// claim made ahead for a pet that a scale-down then never makes stays, as
// every claim of a scaled-away ordinal does under Retain. A failure is
// only logged: the next pet's create ensures its claims again
// and reports what stands in the way. Nothing is done if the next pet
// exists (replicas holds the pets by position): its claims are its own;
// nor while other sets wait for a pass (in a burst of many sets, claims
// made ahead would double the first wave of claims, and a set created
// during the burst would wait for theirs to be provisioned before its
// own), nor while claims queue for volumes (backlog.go).
func (c *defaultSetControl) claimsAhead(ctx context.Context, set *kennelv1.PetSet, slots []int, pos int, replicas []*corev1.Pod) {
	if pos+1 >= len(slots) || !claimsBeforePets(set) || (pos+1 < len(replicas) && replicas[pos+1] != nil) || c.holdAhead() {
		return
	}
	if err := c.pets.EnsureClaims(ctx, set, slots[pos+1]); err != nil {
		klog.FromContext(ctx).V(2).Info("Claims ahead of the next pet not created; its create retries them",
			"pet", klog.KRef(set.Namespace, ordinal.PetName(set.Name, slots[pos+1])), "err", err)
	}
}

// scaleDown removes the condemned pets of an OrderedReady set whose
// replicas are all available, one at a time, each gone before the next.
// A condemned pet that has already failed or succeeded serves nothing and
// goes first, whatever its ordinal: waiting on it would halt the scale-down
// for good. Otherwise the highest goes, unless a lower one is unhealthy;
// the lowest unhealthy condemned pet may always be removed.
func (c *defaultSetControl) scaleDown(ctx context.Context, set *kennelv1.PetSet, condemned []*corev1.Pod, claimsBehind map[int]bool, p *progress) error {
	for _, pod := range condemned {
		if isTerminating(pod) {
			p.waiting = fmt.Sprintf("removing pet %s", pod.Name)
			return nil
		}
	}
	for _, pod := range condemned {
		if isFinished(pod) {
			if claimsHold(set, pod, claimsBehind, p) {
				return nil
			}
			p.waiting = fmt.Sprintf("removing pet %s", pod.Name)
			return c.deletePet(ctx, set, pod, fmt.Sprintf("%s; it ended with phase %s, so it goes first", condemnedWhy(set, pod), pod.Status.Phase))
		}
	}
	pod := condemned[0] // the highest ordinal
	for i := len(condemned) - 1; i >= 0; i-- {
		if lowest := condemned[i]; !isRunningAndReady(lowest) {
			if lowest != pod {
				c.notReady(lowest, c.clock.Now(), "scale-down halted", p)
				return nil
			}
			break
		}
	}
	if claimsHold(set, pod, claimsBehind, p) {
		return nil
	}
	p.waiting = fmt.Sprintf("removing pet %s", pod.Name)
	return c.deletePet(ctx, set, pod, condemnedWhy(set, pod))
}

// claimsHold reports whether the condemned pet must stay because its
// claims did not get the owner references the retention policy asks for
// (the update failed this pass and is retried); it says so in p.
func claimsHold(set *kennelv1.PetSet, pod *corev1.Pod, claimsBehind map[int]bool, p *progress) bool {
	if ord, ok := petOrdinal(set, pod); !ok || !claimsBehind[ord] {
		return false
	}
	p.waiting = fmt.Sprintf("waiting to remove pet %s until its claims' owner references are updated", pod.Name)
	return true
}

// condemnedWhy says why a pet outside the set's slots is removed.
func condemnedWhy(set *kennelv1.PetSet, pod *corev1.Pod) string {
	if ord, ok := petOrdinal(set, pod); ok && reservedOrdinals(set)[ord] {
		return fmt.Sprintf("ordinal %d is reserved", ord)
	}
	_, replicas := ordinalRange(set)
	return fmt.Sprintf("scale-down to %d", replicas)
}

// createWhy says why the pet at the position is created: under
// OrderedReady, the pets below it are available.
func createWhy(set *kennelv1.PetSet, slots []int, pos int, parallel bool) string {
	switch {
	case parallel:
		return "missing (Parallel)"
	case pos == 0:
		return "first pet"
	case pos == 1:
		return ordinal.PetName(set.Name, slots[0]) + " available"
	}
	return fmt.Sprintf("%s..%s available", ordinal.PetName(set.Name, slots[0]), ordinal.PetName(set.Name, slots[pos-1]))
}

// notReadyGrace is how long a pet may be not Ready before the set reports
// itself halted (Progressing=False, PetNotReady) rather than converging: a
// pet that has just started usually becomes Ready on its own.
const notReadyGrace = 30 * time.Second

// notReady records in p that the set waits on a pet that is not Ready
// (behind says what waits behind it):
// converging while the pet is Pending or became not Ready less than
// notReadyGrace ago (with a pass requeued for when the grace ends), halted
// after that.
func (c *defaultSetControl) notReady(pod *corev1.Pod, now time.Time, behind string, p *progress) {
	since := notReadySince(pod)
	if pod.Status.Phase != corev1.PodRunning && !isFailed(pod) {
		p.waiting = awaitReady(pod.Name)
		return
	}
	if left := since.Add(notReadyGrace).Sub(now); !since.IsZero() && left > 0 {
		p.waiting = awaitReady(pod.Name)
		p.wait(left)
		return
	}
	// Since when, as a time: the message stays the same from pass to pass.
	p.blocked = &BlockedError{Reason: ReasonPetNotReady,
		Message: fmt.Sprintf("pet %s is not Ready since %s; %s", pod.Name, since.UTC().Format(time.RFC3339), behind)}
}

// awaitReady is what a set waits on while the pet starts.
func awaitReady(name string) string {
	return fmt.Sprintf("waiting for pet %s to become Running and Ready", name)
}

// rollingUpdate deletes, from the highest ordinal down to the partition,
// the pets not at the update revision that planRollingUpdate allows under
// maxUnavailable; the ordering logic recreates them at the update revision.
func (c *defaultSetControl) rollingUpdate(ctx context.Context, set *kennelv1.PetSet, replicas []*corev1.Pod, revs *revisions, p *progress) error {
	plan := planRollingUpdate(set, replicas, revs.update.Name, c.clock.Now())
	if plan.Waiting != "" && p.waiting == "" {
		p.waiting = plan.Waiting
	}
	var errs []error
	for _, pod := range plan.Delete {
		if slices.Contains(plan.Unhealthy, pod) {
			c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonReplacingUnhealthyPet,
				"Pet %s is not available on revision %s; replacing it with a pet on revision %s", pod.Name, petRevision(pod), revs.update.Name)
		}
		errs = append(errs, c.deletePet(ctx, set, pod, fmt.Sprintf("rolling update from revision %s to %s", petRevision(pod), revs.update.Name)))
	}
	return errors.Join(errs...)
}

// checkStuck reports a rollout stuck on a pet that stays not Ready past
// the progress deadline, and asks to be called again when the first pet
// still within it would reach it.
func (c *defaultSetControl) checkStuck(set *kennelv1.PetSet, replicas []*corev1.Pod, revs *revisions, p *progress) {
	blocked, next := stuckRollout(set, replicas, revs.current.Name, revs.update.Name, c.clock.Now())
	if blocked != nil && (p.blocked == nil || p.blocked.Reason == ReasonPetNotReady) {
		p.blocked = blocked
	}
	p.wait(next)
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
		if err := errors.Join(errs...); err != nil {
			return err
		}
		done = end
		size = min(2*size, maxBatch)
	}
	return nil
}
