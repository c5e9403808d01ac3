package reconcile

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// SetControl holds the ordering logic: given a set and the pets it owns, it
// takes the next safe steps towards the desired state and writes status.
type SetControl interface {
	// Sync acts on the set once. requeueAfter > 0 asks to be called again
	// after that long even if nothing changes (minReadySeconds).
	Sync(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod) (requeueAfter time.Duration, err error)
}

// deps are the collaborators of the ordering logic: listers to read, narrow
// controls to write. They are given once to newSetControl and every field
// is set (tests pass fakes).
type deps struct {
	pets       PetControl
	claims     ClaimControl
	revisions  RevisionControl
	status     StatusUpdater
	finalizers FinalizerControl

	services corelisters.ServiceLister
	// claimIndex and revisionIndex are the informers' indexers, with
	// Indexers (ownership.go) added.
	claimIndex    cache.Indexer
	revisionIndex cache.Indexer

	exp       *expectations
	revWrites *revisionWrites
	clock     Clock
	recorder  record.EventRecorder
	// holdAhead reports whether work done ahead of need (claims ahead) is
	// left out: while other sets are queued for a pass, or claims queue
	// for volumes (backlog.go).
	holdAhead func() bool
}

// defaultSetControl is the SetControl of the controller.
type defaultSetControl struct {
	deps
	// spacer spaces a converging set's status writes (spacing.go).
	spacer *statusSpacer
}

// newSetControl returns the ordering logic working through d. A missing
// collaborator is a programming error and panics here rather than in the
// middle of a sync.
func newSetControl(d deps) *defaultSetControl {
	v := reflect.ValueOf(d)
	for i := range v.NumField() {
		if f := v.Field(i); f.IsNil() {
			panic(fmt.Sprintf("reconcile: dependency %s is nil", v.Type().Field(i).Name))
		}
	}
	return &defaultSetControl{deps: d, spacer: newStatusSpacer()}
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

// wait asks for another pass after d, unless an earlier one is asked for.
func (p *progress) wait(d time.Duration) {
	if d > 0 && (p.requeueAfter == 0 || d < p.requeueAfter) {
		p.requeueAfter = d
	}
}

// block records why the set cannot progress, unless a reason is recorded.
func (p *progress) block(b *BlockedError) {
	if p.blocked == nil {
		p.blocked = b
	}
}

// Sync runs one pass over the set: revisions, finalizer and claim owners
// first, then the ordering logic (or the teardown of a deleted set), then
// status and revision history.
func (c *defaultSetControl) Sync(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod) (time.Duration, error) {
	set = c.status.Latest(set)
	revs, err := c.syncRevisions(ctx, set)
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
	pass := observed{pets: pets, revs: revs}
	pass.replicas, pass.condemned = partition(set, pets)
	err = errors.Join(err, c.decide(ctx, set, &pass))
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		pass.progress.block(blocked)
	}
	// Status counts the pets this and earlier passes created that the
	// cache does not show yet: the next pass, seeing them, then finds
	// nothing new to write.
	if unseen := c.exp.Unseen(setKey(set)); len(unseen) > 0 {
		pass.pets = withUnseen(pets, unseen)
		pass.replicas, pass.condemned = partition(set, pass.pets)
	}
	now := c.clock.Now()
	pass.progress.wait(nextAvailable(set, pets, now))
	status := computeStatus(set, pass, now)
	deferred, statusErr := c.updateStatus(ctx, set, status, now)
	pass.progress.wait(deferred)
	err = errors.Join(err, statusErr, c.trimHistory(ctx, set, revs, status.CurrentRevision, pets))
	if err == nil && pass.progress.blocked != nil && pass.progress.blocked.Err != nil {
		// An API rejection: retry with backoff, the cluster may change
		// (quota freed, admission fixed) without any event we watch.
		err = pass.progress.blocked
	}
	return pass.progress.requeueAfter, err
}

// decide keeps the finalizer and the claims' owners in line with the spec,
// then takes the pass's steps: ordered teardown of a deleted set, or claim
// resize and the ordering logic of a live one whose cache is up to date.
func (c *defaultSetControl) decide(ctx context.Context, set *kennelv1.PetSet, pass *observed) error {
	var errs []error
	p := &pass.progress
	if set.DeletionTimestamp == nil || hasFinalizer(set) {
		errs = append(errs, c.syncFinalizer(ctx, set, pass.pets))
	}
	claims, cerr := c.setClaims(set)
	errs = append(errs, cerr)
	if cerr == nil {
		var oerr error
		pass.claimsBehind, oerr = c.syncClaimOwners(ctx, set, claims, pass.pets)
		errs = append(errs, oerr)
	}
	deleting := set.DeletionTimestamp != nil
	switch {
	case deleting && hasFinalizer(set) && orphaning(set):
		p.waiting = "PetSet is being deleted; the garbage collector releases or deletes the pets"
	case deleting && hasFinalizer(set):
		p.waiting = "PetSet is being deleted"
		if c.cacheCurrent(ctx, set, pass.pets, p) {
			errs = append(errs, c.teardown(ctx, set, pass.pets, p))
		}
	case deleting:
		p.waiting = "PetSet is being deleted"
	case !c.cacheCurrent(ctx, set, pass.pets, p):
		// Changes are in flight: keep reporting what they are for.
		p.keepProgressing = true
		p.waiting = "waiting for the cache to observe earlier changes"
	default:
		if cerr == nil {
			var rerr error
			pass.resized, rerr = c.syncClaimSizes(ctx, set, claims)
			pass.resizeChecked = true
			errs = append(errs, rerr)
		}
		errs = append(errs, c.act(ctx, set, pass))
		c.checkStuck(set, pass.replicas, pass.revs, p)
	}
	return errors.Join(errs...)
}

// cacheCurrent reports whether the cache shows every create and delete
// issued for the set, rechecking old ones with the API server, and the
// pets of this pass were listed after the deletes it has shown: a list
// taken just before the informer showed the last delete satisfies the
// expectations by the time they are checked, yet still holds the pet
// live (deleting it again would be a wasted write). The event that
// showed the delete has queued the set again.
func (c *defaultSetControl) cacheCurrent(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod, p *progress) bool {
	if !c.exp.ListCurrent(setKey(set), pets) {
		return false
	}
	return c.exp.Satisfied(setKey(set)) || c.recheckExpectations(ctx, set, p)
}

// serviceMissing returns a BlockedError if the governing Service does not exist.
func (c *defaultSetControl) serviceMissing(set *kennelv1.PetSet) *BlockedError {
	if set.Spec.ServiceName == "" {
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

// withUnseen returns the cached pets and the created pets the cache does
// not show yet. A pod the API server has just created is Pending.
func withUnseen(pets, unseen []*corev1.Pod) []*corev1.Pod {
	out := slices.Clone(pets)
	cached := make(map[string]bool, len(pets))
	for _, p := range pets {
		cached[p.Name] = true
	}
	for _, pod := range unseen {
		if cached[pod.Name] {
			continue
		}
		if pod.Status.Phase == "" {
			pod = pod.DeepCopy()
			pod.Status.Phase = corev1.PodPending
		}
		out = append(out, pod)
	}
	return out
}

// setKey is the workqueue and expectations key of the set.
func setKey(set *kennelv1.PetSet) cache.ObjectName { return cache.MetaObjectToName(set) }

// setLogger returns the contextual logger with the set attached.
func setLogger(ctx context.Context, set *kennelv1.PetSet) klog.Logger {
	return klog.FromContext(ctx).WithValues("petset", klog.KObj(set))
}
