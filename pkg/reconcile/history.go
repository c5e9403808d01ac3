package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Revision history: the set's ControllerRevisions as written through the
// API server. revision.go holds the pure part (data, hashes, planning).

// revisions are the revisions a pass works with: first as planRevisions
// plans them, then as applyRevisionPlan and syncRevisions leave them.
type revisions struct {
	// update is the revision of the set's template; current the one pets
	// below the partition run (named by status.currentRevision, else update).
	current, update *appsv1.ControllerRevision
	// currentSet is the set with the current revision's template, when it
	// differs from the update revision.
	currentSet     *kennelv1.PetSet
	collisionCount int32
	// owned are the set's revisions after the pass, update included.
	owned []*appsv1.ControllerRevision
	// create: update does not exist yet. renumber: it exists and its
	// number must be raised to update.Revision (a rollback onto an earlier
	// template).
	create, renumber bool
}

// forPosition returns the set to make the pet at the position from and the
// revision name to label it with.
func (r *revisions) forPosition(set *kennelv1.PetSet, pos int) (*kennelv1.PetSet, string) {
	if revisionForPosition(set, pos, r.current.Name, r.update.Name) == r.current.Name && r.currentSet != nil {
		return r.currentSet, r.current.Name
	}
	return set, r.update.Name
}

// syncRevisions claims the set's revisions (adopting matching orphans,
// releasing non-matching ones) and makes the update revision exist. On a
// name collision it returns revisions holding only the raised collision
// count, with the error.
func (c *defaultSetControl) syncRevisions(ctx context.Context, set *kennelv1.PetSet) (*revisions, error) {
	owned, errs, err := c.claimRevisions(ctx, set)
	if err != nil {
		return nil, err
	}
	owned = c.revWrites.apply(setKey(set), owned, c.clock.Now())
	if set.DeletionTimestamp != nil {
		// A set going away gets no new revisions: plan for status only.
		plan, err := planRevisions(set, owned)
		if err != nil {
			return nil, err
		}
		return &plan, nil
	}
	res, err := applyRevisionPlan(ctx, c.revisions, set, owned)
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedRevision, "Could not store the revision of the current template: %v", err)
		errs = append(errs, err)
		if res.collisionCount != 0 && (set.Status.CollisionCount == nil || *set.Status.CollisionCount != res.collisionCount) {
			return &revisions{collisionCount: res.collisionCount}, errors.Join(errs...)
		}
		return nil, errors.Join(errs...)
	}
	stored := false
	for _, r := range owned {
		if r.Name != res.update.Name {
			res.owned = append(res.owned, r)
		} else {
			stored = true
		}
	}
	if !stored {
		c.revWrites.created(setKey(set), res.update, c.clock.Now())
	}
	res.owned = append(res.owned, res.update)
	if res.current.Name != res.update.Name {
		cs, err := setAtRevision(set, res.current)
		if err != nil {
			// An unreadable current revision: make pets from the update
			// revision rather than not at all.
			res.current = res.update
		} else {
			res.currentSet = cs
		}
	}
	return &res, errors.Join(errs...)
}

// claimRevisions returns the revisions the set owns after releasing those
// that no longer match its selector and adopting matching orphans (a
// deleted set adopts nothing and releases nothing). errs are the failed
// releases and adoptions; err is a failure to list.
func (c *defaultSetControl) claimRevisions(ctx context.Context, set *kennelv1.PetSet) (owned []*appsv1.ControllerRevision, errs []error, err error) {
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, nil, err
	}
	all, err := ownedAndOrphans[*appsv1.ControllerRevision](c.revisionIndex, set)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range all {
		switch ownershipOf(set, r, selector.Matches(labels.Set(r.Labels))) {
		case owns:
			owned = append(owned, r)
		case release:
			klog.FromContext(ctx).Info("Releasing revision that no longer matches", "revision", r.Name)
			errs = append(errs, c.revisions.ReleaseRevision(ctx, set, r))
		case adopt:
			klog.FromContext(ctx).Info("Adopting orphan revision", "revision", r.Name)
			_, err := c.revisions.AdoptRevision(ctx, set, r)
			switch {
			case err == nil:
				owned = append(owned, r)
			case !apierrors.IsNotFound(err):
				errs = append(errs, fmt.Errorf("adopting revision %s: %w", r.Name, err))
			}
		}
	}
	return owned, errs, nil
}

// trimHistory deletes revisions beyond the history limit. current is the
// current revision as this pass's status says: once a rollout completes,
// the revision it replaced is trimmed in the same pass, not in a later one
// after the set has settled.
func (c *defaultSetControl) trimHistory(ctx context.Context, set *kennelv1.PetSet, revs *revisions, current string, pets []*corev1.Pod) error {
	var errs []error
	for _, r := range revisionsToTrim(set, revs.owned, current, revs.update.Name, pets) {
		klog.FromContext(ctx).Info("Deleting revision beyond the history limit", "revision", r.Name)
		err := c.revisions.DeleteRevision(ctx, set, r)
		if err == nil {
			c.revWrites.deleted(setKey(set), r.Name, c.clock.Now())
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// applyRevisionPlan makes the revision of the set's template exist with the
// highest number and returns the current and update revisions. A create
// that finds the name taken by other data raises the collision count and
// fails; the caller records the count in status and retries.
func applyRevisionPlan(ctx context.Context, rc RevisionControl, set *kennelv1.PetSet, owned []*appsv1.ControllerRevision) (revisions, error) {
	res, err := planRevisions(set, owned)
	if err != nil {
		return res, err
	}
	switch {
	case res.create:
		klog.FromContext(ctx).Info("Storing revision of the template", "revision", res.update.Name, "number", res.update.Revision)
		created, err := rc.CreateRevision(ctx, set, res.update)
		switch {
		case err == nil:
			res.update = created
		case apierrors.IsAlreadyExists(err) && created != nil && equalRevisions(created, res.update):
			// The cache had not seen it yet.
			res.update = created
		case apierrors.IsAlreadyExists(err):
			res.collisionCount++
			return res, fmt.Errorf("revision name %s is taken by other data; collision count raised to %d", res.update.Name, res.collisionCount)
		default:
			return res, err
		}
	case res.renumber:
		klog.FromContext(ctx).Info("Renumbering revision: the template returned to it", "revision", res.update.Name, "number", res.update.Revision)
		updated, err := rc.RenumberRevision(ctx, set, res.update)
		if err != nil {
			return res, err
		}
		res.update = updated
	}
	res.create, res.renumber = false, false
	if res.current.Name == res.update.Name {
		res.current = res.update
	}
	return res, nil
}

// RevisionControl writes a set's ControllerRevisions.
type RevisionControl interface {
	// CreateRevision creates the revision. If one of the same name exists
	// it returns that one and an AlreadyExists error.
	CreateRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// RenumberRevision writes rev.Revision to the existing revision.
	RenumberRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// DeleteRevision deletes the revision.
	DeleteRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error
	// AdoptRevision makes the set the revision's controller.
	AdoptRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// ReleaseRevision removes the set's reference from the revision.
	ReleaseRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error
}

// realRevisionControl is the RevisionControl that talks to the API server.
type realRevisionControl struct {
	client clientset.Interface
}

// NewRevisionControl returns a RevisionControl writing with client.
func NewRevisionControl(client clientset.Interface) RevisionControl {
	return &realRevisionControl{client: client}
}

func (c *realRevisionControl) CreateRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	created, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, rev, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		live, getErr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, errors.Join(err, getErr)
		}
		return live, err
	}
	return created, err
}

func (c *realRevisionControl) RenumberRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	patch := fmt.Appendf(nil, `{"revision":%d}`, rev.Revision)
	return c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

func (c *realRevisionControl) DeleteRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error {
	err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, rev.Name, deleteIfSame(rev))
	return tolerate(err, apierrors.IsNotFound, apierrors.IsConflict)
}

func (c *realRevisionControl) AdoptRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	return c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.StrategicMergePatchType, adoptPatch(set, rev), metav1.PatchOptions{})
}

func (c *realRevisionControl) ReleaseRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error {
	_, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.StrategicMergePatchType, releasePatch(set, rev), metav1.PatchOptions{})
	return tolerate(err, apierrors.IsNotFound, apierrors.IsInvalid)
}

// revisionWrites remembers, per set, the ControllerRevisions this controller
// created or deleted that its cache does not show yet. A pass works from
// the cache corrected by them: a revision cache left stale for seconds (its
// watch relisting with backoff after an API server restart) made every pass
// create the same revision again and delete the same one again, each time
// failing, and writing to a set that had settled.
type revisionWrites struct {
	mu   sync.Mutex
	sets map[cache.ObjectName]*setRevisionWrites
}

type setRevisionWrites struct {
	created map[string]*appsv1.ControllerRevision
	deleted map[string]time.Time
	at      map[string]time.Time // when each created one was recorded
}

func newRevisionWrites() *revisionWrites {
	return &revisionWrites{sets: map[cache.ObjectName]*setRevisionWrites{}}
}

func (w *revisionWrites) of(key cache.ObjectName) *setRevisionWrites {
	s := w.sets[key]
	if s == nil {
		s = &setRevisionWrites{created: map[string]*appsv1.ControllerRevision{}, deleted: map[string]time.Time{}, at: map[string]time.Time{}}
		w.sets[key] = s
	}
	return s
}

func (w *revisionWrites) created(key cache.ObjectName, rev *appsv1.ControllerRevision, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.of(key)
	s.created[rev.Name], s.at[rev.Name] = rev, now
	delete(s.deleted, rev.Name)
}

func (w *revisionWrites) deleted(key cache.ObjectName, name string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.of(key)
	s.deleted[name] = now
	delete(s.created, name)
}

// apply returns owned corrected by the set's writes the cache does not show
// yet, and forgets those it shows (and any older than expectationTTL).
func (w *revisionWrites) apply(key cache.ObjectName, owned []*appsv1.ControllerRevision, now time.Time) []*appsv1.ControllerRevision {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sets[key]
	if s == nil {
		return owned
	}
	cached := map[string]bool{}
	out := make([]*appsv1.ControllerRevision, 0, len(owned)+len(s.created))
	for _, r := range owned {
		cached[r.Name] = true
		if at, gone := s.deleted[r.Name]; gone && now.Sub(at) < expectationTTL {
			continue
		}
		out = append(out, r)
	}
	for name, at := range s.deleted {
		if !cached[name] || now.Sub(at) >= expectationTTL {
			delete(s.deleted, name)
		}
	}
	for name, r := range s.created {
		switch {
		case cached[name] || now.Sub(s.at[name]) >= expectationTTL:
			delete(s.created, name)
			delete(s.at, name)
		default:
			out = append(out, r)
		}
	}
	if len(s.created) == 0 && len(s.deleted) == 0 {
		delete(w.sets, key)
	}
	return out
}
