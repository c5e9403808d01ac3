package reconcile

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clientset "k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
)

// Event reasons of the lifecycle logic.
const (
	ReasonRevisionCollision = "RevisionCollision"
	ReasonFailedRevision    = "FailedRevision"
	ReasonClaimOwners       = "UpdatedClaimOwners"
	ReasonExpandingClaim    = "ExpandingClaim"
	ReasonTeardown          = "OrderedTeardown"
)

// lifecycle holds what the ordering logic needs for revisions, claim
// retention and resize, and ordered teardown. NewController sets all of
// it. A SetControl without it (a zero lifecycle, as some tests build)
// computes revision names without storing revisions and leaves claims and
// finalizers alone.
type lifecycle struct {
	revisions      RevisionControl
	revisionLister appslisters.ControllerRevisionLister
	claimLister    corelisters.PersistentVolumeClaimLister
	claimOwners    ClaimOwnerControl
	resize         ClaimResizeControl
	classes        ClassGetter
	finalizers     FinalizerControl
}

// ClassGetter reads StorageClasses. Classes are read only when a claim
// needs expanding, so the controller does not watch them.
type ClassGetter interface {
	GetClass(ctx context.Context, name string) (*storagev1.StorageClass, error)
}

type realClassGetter struct{ client clientset.Interface }

// NewClassGetter returns a ClassGetter reading with client.
func NewClassGetter(client clientset.Interface) ClassGetter { return &realClassGetter{client: client} }

func (g *realClassGetter) GetClass(ctx context.Context, name string) (*storagev1.StorageClass, error) {
	return g.client.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
}

// FinalizerControl adds and removes the teardown finalizer on a set.
type FinalizerControl interface {
	SetFinalizers(ctx context.Context, set *kennelv1.PetSet, finalizers []string) error
}

type realFinalizerControl struct{ client versioned.Interface }

// NewFinalizerControl returns a FinalizerControl writing with client.
func NewFinalizerControl(client versioned.Interface) FinalizerControl {
	return &realFinalizerControl{client: client}
}

// SetFinalizers writes the set's finalizers with an update of the cached
// set, so it fails with a conflict if the set changed since it was read.
func (c *realFinalizerControl) SetFinalizers(ctx context.Context, set *kennelv1.PetSet, finalizers []string) error {
	cp := set.DeepCopy()
	cp.Finalizers = finalizers
	_, err := c.client.KennelV1().PetSets(set.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setRevisions are the two revisions a pass works with.
type setRevisions struct {
	current, update *appsv1.ControllerRevision
	// currentSet is the set with the current revision's template.
	currentSet     *kennelv1.PetSet
	collisionCount int32
	owned          []*appsv1.ControllerRevision
}

// forPosition returns the set to make the pet at the position from and the
// revision name to label it with.
func (r *setRevisions) forPosition(set *kennelv1.PetSet, pos int) (*kennelv1.PetSet, string) {
	if revisionForPosition(set, pos, r.current.Name, r.update.Name) == r.current.Name && r.currentSet != nil {
		return r.currentSet, r.current.Name
	}
	return set, r.update.Name
}

// syncSetRevisions claims the set's revisions (adopting matching orphans,
// releasing non-matching ones) and makes the update revision exist.
func (c *defaultSetControl) syncSetRevisions(ctx context.Context, set *kennelv1.PetSet) (*setRevisions, error) {
	if c.life.revisions == nil || c.life.revisionLister == nil {
		plan, err := planRevisions(set, nil)
		if err != nil {
			return nil, err
		}
		return &setRevisions{current: plan.Current, update: plan.Update, collisionCount: plan.CollisionCount}, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.life.revisionLister.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	owned, adopt, release := revisionClaims(set, selector, all)
	if set.DeletionTimestamp != nil {
		// A set going away gets no new revisions: plan for status only.
		plan, err := planRevisions(set, owned)
		if err != nil {
			return nil, err
		}
		return &setRevisions{current: plan.Current, update: plan.Update, collisionCount: plan.CollisionCount}, nil
	}
	var errs []error
	for _, r := range release {
		if err := c.life.revisions.ReleaseRevision(ctx, set, r); err != nil {
			errs = append(errs, err)
		}
	}
	adopted := map[string]bool{}
	for _, r := range adopt {
		if _, err := c.life.revisions.AdoptRevision(ctx, set, r); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("adopting revision %s: %w", r.Name, err))
			adopted[r.Name] = false
		} else {
			adopted[r.Name] = err == nil
		}
	}
	if len(adopt) > 0 {
		kept := owned[:0:0]
		for _, r := range owned {
			if ok, tried := adopted[r.Name]; !tried || ok {
				kept = append(kept, r)
			}
		}
		owned = kept
	}
	res, err := syncRevisions(ctx, c.life.revisions, set, owned)
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedRevision, "revision for the current template: %v", err)
		errs = append(errs, err)
		if res.CollisionCount != 0 && (set.Status.CollisionCount == nil || *set.Status.CollisionCount != res.CollisionCount) {
			return &setRevisions{collisionCount: res.CollisionCount}, errors.Join(errs...)
		}
		return nil, errors.Join(errs...)
	}
	out := &setRevisions{current: res.Current, update: res.Update, collisionCount: res.CollisionCount}
	for _, r := range owned {
		if r.Name != res.Update.Name {
			out.owned = append(out.owned, r)
		}
	}
	out.owned = append(out.owned, res.Update)
	if res.Current.Name != res.Update.Name {
		cs, err := setAtRevision(set, res.Current)
		if err != nil {
			// An unreadable current revision: make pets from the update
			// revision rather than not at all.
			out.current = res.Update
		} else {
			out.currentSet = cs
		}
	}
	return out, joinErrors(errs)
}

// trimHistory deletes revisions beyond the history limit.
func (c *defaultSetControl) trimHistory(ctx context.Context, set *kennelv1.PetSet, revs *setRevisions, pets []*corev1.Pod) error {
	if c.life.revisions == nil {
		return nil
	}
	var errs []error
	for _, r := range revisionsToTrim(set, revs.owned, revs.current.Name, revs.update.Name, pets) {
		if err := c.life.revisions.DeleteRevision(ctx, set, r); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrors(errs)
}

// setClaims returns the claims in the set's namespace named after one of
// its claim templates.
func (c *defaultSetControl) setClaims(set *kennelv1.PetSet) ([]*corev1.PersistentVolumeClaim, error) {
	if len(set.Spec.VolumeClaimTemplates) == 0 || c.life.claimLister == nil {
		return nil, nil
	}
	all, err := c.life.claimLister.PersistentVolumeClaims(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*corev1.PersistentVolumeClaim
	for _, claim := range all {
		if _, ok := claimOrdinal(set, claim); ok {
			out = append(out, claim)
		}
	}
	return out, nil
}

// syncClaimOwners applies the retention policy to the set's claims. slots
// are the ordinals that keep pets; any other ordinal is condemned.
func (c *defaultSetControl) syncClaimOwners(ctx context.Context, set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim, pets []*corev1.Pod, slots []int) error {
	if c.life.claimOwners == nil {
		return nil
	}
	byOrd := map[int]*corev1.Pod{}
	for _, p := range pets {
		if ord, ok := petOrdinal(set, p); ok {
			byOrd[ord] = p
		}
	}
	keep := slotIndex(slots)
	condemned := func(ord int) bool { _, ok := keep[ord]; return !ok }
	var errs []error
	for _, ch := range planClaimRetention(set, claims, byOrd, condemned) {
		if err := c.life.claimOwners.SetClaimOwners(ctx, set, ch.Claim, ch.Owners); err != nil {
			errs = append(errs, fmt.Errorf("claim %s owners: %w", ch.Claim.Name, err))
		}
	}
	return joinErrors(errs)
}

// syncClaimSizes expands claims whose template's storage request grew and
// returns the VolumeClaimsResized condition (nil when not applicable).
func (c *defaultSetControl) syncClaimSizes(ctx context.Context, set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim) (*metav1.Condition, error) {
	if len(claims) == 0 || c.life.resize == nil || c.life.classes == nil {
		return nil, nil
	}
	classes := map[string]*storagev1.StorageClass{}
	unreadable := map[string]string{}
	want := templateStorage(set)
	for _, claim := range claims {
		tmpl, ok := claimTemplate(set, claim)
		if !ok || claim.Spec.StorageClassName == nil || classes[*claim.Spec.StorageClassName] != nil || unreadable[*claim.Spec.StorageClassName] != "" {
			continue
		}
		to, ok := want[tmpl]
		if have := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || to.Cmp(have) <= 0 {
			continue
		}
		class, err := c.life.classes.GetClass(ctx, *claim.Spec.StorageClassName)
		switch {
		case err == nil:
			classes[class.Name] = class
		case !apierrors.IsNotFound(err):
			// Reported in the condition (e.g. no RBAC access to
			// StorageClasses) rather than failing the whole sync.
			unreadable[*claim.Spec.StorageClassName] = err.Error()
		}
	}
	plan := planClaimResize(set, claims, classes, unreadable)
	var errs []error
	for _, e := range plan.Expand {
		if err := c.life.resize.ExpandClaim(ctx, set, e.Claim, e.To); err != nil {
			errs = append(errs, fmt.Errorf("expanding claim %s: %w", e.Claim.Name, err))
			continue
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonExpandingClaim, "Claim %s storage request raised to %s", e.Claim.Name, e.To.String())
	}
	return plan.condition(set.Generation), joinErrors(errs)
}

// syncFinalizer adds or removes the teardown finalizer.
func (c *defaultSetControl) syncFinalizer(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod) error {
	if c.life.finalizers == nil {
		return nil
	}
	switch finalizerChange(set, pets) {
	case +1:
		return c.life.finalizers.SetFinalizers(ctx, set, append(append([]string(nil), set.Finalizers...), TeardownFinalizer))
	case -1:
		var kept []string
		for _, f := range set.Finalizers {
			if f != TeardownFinalizer {
				kept = append(kept, f)
			}
		}
		return c.life.finalizers.SetFinalizers(ctx, set, kept)
	}
	return nil
}

// teardown removes the pets of a deleted set that holds the teardown
// finalizer, highest ordinal first, one at a time.
func (c *defaultSetControl) teardown(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod, p *progress) error {
	next, waiting := planTeardown(set, pets)
	if waiting != "" {
		p.waiting = waiting
	}
	if next == nil {
		return nil
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonTeardown, "Deleting pet %s (ordered teardown)", next.Name)
	return c.deletePet(ctx, set, next)
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

// newLifecycle returns the lifecycle dependencies talking to the API server.
func newLifecycle(kube clientset.Interface, kennel versioned.Interface, revisions appslisters.ControllerRevisionLister, claims corelisters.PersistentVolumeClaimLister) lifecycle {
	return lifecycle{
		revisions:      NewRevisionControl(kube),
		revisionLister: revisions,
		claimLister:    claims,
		claimOwners:    NewClaimOwnerControl(kube),
		resize:         NewClaimResizeControl(kube),
		classes:        NewClassGetter(kube),
		finalizers:     NewFinalizerControl(kennel),
	}
}
