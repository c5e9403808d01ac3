package reconcile

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"k8s.io/klog/v2"
)

// Ordered teardown.
//
// A PetSet annotated kennel.dev/ordered-teardown: "true" carries the
// finalizer kennel.dev/ordered-teardown. When it is deleted (background or
// orphan propagation), the finalizer holds it while the controller removes
// its pets from the highest ordinal down, each gone before the next is
// deleted; then the finalizer is removed and the garbage collector deletes
// what remains (claims under whenDeleted: Delete). With orphan propagation
// the garbage collector releases the pets first, so none are deleted.
// Foreground propagation deletes all dependents at once and is not ordered.

const (
	// OrderedTeardownAnnotation set to "true" opts a set into ordered teardown.
	OrderedTeardownAnnotation = "kennel.dev/ordered-teardown"
	// TeardownFinalizer holds a deleted set until its pets are gone.
	TeardownFinalizer = "kennel.dev/ordered-teardown"
)

// orphaning reports whether the set is being deleted with orphan (or
// foreground) propagation: the garbage collector then releases (or
// deletes) the pets itself, and ordered teardown stands aside.
func orphaning(set *kennelv1.PetSet) bool {
	for _, f := range set.Finalizers {
		if f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents {
			return true
		}
	}
	return false
}

// wantsOrderedTeardown reports whether the set asks for ordered teardown.
func wantsOrderedTeardown(set *kennelv1.PetSet) bool {
	return set.Annotations[OrderedTeardownAnnotation] == "true"
}

// hasFinalizer reports whether the set carries the teardown finalizer.
func hasFinalizer(set *kennelv1.PetSet) bool {
	for _, f := range set.Finalizers {
		if f == TeardownFinalizer {
			return true
		}
	}
	return false
}

// finalizerChange says whether the teardown finalizer must be added (+1),
// removed (-1) or left as it is (0). A live set gets it when it opts in and
// loses it when it opts out; a deleted set loses it once no pet is left.
// A set already being deleted never gains it.
func finalizerChange(set *kennelv1.PetSet, pets []*corev1.Pod) int {
	has := hasFinalizer(set)
	switch {
	case set.DeletionTimestamp != nil:
		if has && len(pets) == 0 {
			return -1
		}
	case wantsOrderedTeardown(set) && !has:
		return +1
	case !wantsOrderedTeardown(set) && has:
		return -1
	}
	return 0
}

// planTeardown returns the next pet to delete while the set is torn down in
// order: the pet with the highest ordinal, once no pet is terminating. It
// returns nil and what it waits for while a pet terminates, and nil and ""
// when no pet is left.
func planTeardown(set *kennelv1.PetSet, pets []*corev1.Pod) (*corev1.Pod, string) {
	sorted := slices.Clone(pets)
	sortDescending(set, sorted)
	for _, pod := range sorted {
		if isTerminating(pod) {
			return nil, fmt.Sprintf("ordered teardown: waiting for pet %s to terminate", pod.Name)
		}
	}
	if len(sorted) == 0 {
		return nil, ""
	}
	return sorted[0], fmt.Sprintf("ordered teardown: removing pet %s", sorted[0].Name)
}

// syncFinalizer adds or removes the teardown finalizer.
func (c *defaultSetControl) syncFinalizer(ctx context.Context, set *kennelv1.PetSet, pets []*corev1.Pod) error {
	change := finalizerChange(set, pets)
	if change != 0 {
		klog.FromContext(ctx).Info("Updating the ordered-teardown finalizer", "add", change > 0)
	}
	switch change {
	case +1:
		return c.finalizers.SetFinalizers(ctx, set, append(slices.Clone(set.Finalizers), TeardownFinalizer))
	case -1:
		kept := slices.DeleteFunc(slices.Clone(set.Finalizers), func(f string) bool { return f == TeardownFinalizer })
		if len(kept) == 0 {
			kept = nil
		}
		return c.finalizers.SetFinalizers(ctx, set, kept)
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
	c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonOrderedTeardown, "Deleting pet %s: the set is being deleted, highest ordinal first", next.Name)
	return c.deletePet(ctx, set, next, "ordered teardown of the deleted set")
}

// FinalizerControl adds and removes the teardown finalizer on a set.
type FinalizerControl interface {
	// SetFinalizers writes the set's finalizers; it fails with a conflict
	// if the set changed since it was read.
	SetFinalizers(ctx context.Context, set *kennelv1.PetSet, finalizers []string) error
}

type realFinalizerControl struct{ client versioned.Interface }

// NewFinalizerControl returns a FinalizerControl writing with client.
func NewFinalizerControl(client versioned.Interface) FinalizerControl {
	return &realFinalizerControl{client: client}
}

func (c *realFinalizerControl) SetFinalizers(ctx context.Context, set *kennelv1.PetSet, finalizers []string) error {
	cp := set.DeepCopy()
	cp.Finalizers = finalizers
	_, err := c.client.KennelV1().PetSets(set.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	return tolerate(err, apierrors.IsNotFound)
}
