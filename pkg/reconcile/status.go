package reconcile

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	kennellisters "github.com/kennel-dev/kennel/pkg/generated/listers/kennel/v1"
)

// Condition reasons.
const (
	ReasonComplete   = "Complete"
	ReasonConverging = "Converging"
	ReasonAllReady   = "AllPetsReady"
	ReasonNotReady   = "PetsNotReady"
	ReasonDeleting   = "Deleting"
)

// StatusUpdater writes a set's status.
type StatusUpdater interface {
	// UpdatePetSetStatus writes status to the set, retrying on conflicts.
	UpdatePetSetStatus(ctx context.Context, set *kennelv1.PetSet, status *kennelv1.PetSetStatus) error
}

type realStatusUpdater struct {
	client versioned.Interface
	lister kennellisters.PetSetLister
}

// NewStatusUpdater returns a StatusUpdater that writes through the status
// subresource and, on a conflict, re-reads the set and retries.
func NewStatusUpdater(client versioned.Interface, lister kennellisters.PetSetLister) StatusUpdater {
	return &realStatusUpdater{client: client, lister: lister}
}

func (u *realStatusUpdater) UpdatePetSetStatus(ctx context.Context, set *kennelv1.PetSet, status *kennelv1.PetSetStatus) error {
	current := set.DeepCopy()
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		current.Status = *status
		_, err := u.client.KennelV1().PetSets(current.Namespace).UpdateStatus(ctx, current, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) {
			return err
		}
		fresh, getErr := u.client.KennelV1().PetSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != set.UID {
			return nil // the set was replaced; its own sync writes its status
		}
		current = fresh.DeepCopy()
		return err
	})
}

// computeStatus derives the status from the pets seen and the pass's progress.
func (c *defaultSetControl) computeStatus(set *kennelv1.PetSet, replicas, condemned []*corev1.Pod, revision string, p *progress) *kennelv1.PetSetStatus {
	status := set.Status.DeepCopy()
	status.ObservedGeneration = set.Generation
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	status.UpdateRevision = revision
	if status.CurrentRevision == "" {
		status.CurrentRevision = revision
	}
	if set.Spec.Selector != nil {
		if sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector); err == nil {
			status.Selector = sel.String()
		}
	}
	now := c.clock.Now()
	_, desired := ordinalRange(set)
	allPresent := true
	allUpdated := true
	allAvailable := true
	count := func(pod *corev1.Pod) {
		if !isCreated(pod) {
			return
		}
		status.Replicas++
		if isRunningAndReady(pod) {
			status.ReadyReplicas++
			left := availableIn(pod, set.Spec.MinReadySeconds, now)
			if left == 0 {
				status.AvailableReplicas++
			} else {
				p.wait(left)
			}
		}
		rev := petRevision(pod)
		if rev == status.CurrentRevision {
			status.CurrentReplicas++
		}
		if rev == revision {
			status.UpdatedReplicas++
		}
	}
	for _, pod := range replicas {
		if pod == nil || isTerminating(pod) {
			allPresent = false
			allAvailable = false
			if pod != nil {
				count(pod)
			}
			continue
		}
		count(pod)
		if availableIn(pod, set.Spec.MinReadySeconds, now) != 0 {
			allAvailable = false
		}
		if petRevision(pod) != revision {
			allUpdated = false
		}
	}
	for _, pod := range condemned {
		count(pod)
	}
	if allPresent && allUpdated && allAvailable && len(condemned) == 0 {
		status.CurrentRevision = revision
		status.CurrentReplicas = status.UpdatedReplicas
	}

	// Ready: every desired pet exists and is available, nothing is left
	// to remove, and (unless updates are manual) every pet at or above the
	// partition runs the current template.
	updatedEnough := allUpdated || set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType || partitioned(set, replicas, revision)
	ready := metav1.Condition{Type: kennelv1.PetSetReady, ObservedGeneration: set.Generation}
	if allPresent && allAvailable && updatedEnough && len(condemned) == 0 {
		ready.Status, ready.Reason = metav1.ConditionTrue, ReasonAllReady
		ready.Message = fmt.Sprintf("%d of %d pets ready", status.ReadyReplicas, desired)
	} else {
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonNotReady
		ready.Message = fmt.Sprintf("%d of %d pets ready", status.ReadyReplicas, desired)
	}
	meta.SetStatusCondition(&status.Conditions, ready)

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
	if old := meta.FindStatusCondition(status.Conditions, kennelv1.PetSetProgressing); p.keepProgressing && old != nil && old.Reason == ReasonConverging && prog.Reason == ReasonConverging {
		// Converging while earlier changes are in flight: the condition
		// still says what they are for. Messages change only when the pet
		// waited on changes, so status is not rewritten for every step.
		prog = *old
		prog.ObservedGeneration = set.Generation
	}
	meta.SetStatusCondition(&status.Conditions, prog)
	return status
}

// partitioned reports whether every pet at or above the rolling update
// partition runs the revision (pets below it keep their template).
func partitioned(set *kennelv1.PetSet, replicas []*corev1.Pod, revision string) bool {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.Partition == nil || *ru.Partition <= 0 {
		return false
	}
	for i, pod := range replicas {
		if i >= int(*ru.Partition) && (pod == nil || petRevision(pod) != revision) {
			return false
		}
	}
	return true
}

// updateStatus writes the status if it differs from the set's, and records
// a Warning event when the set newly becomes blocked.
func (c *defaultSetControl) updateStatus(ctx context.Context, set *kennelv1.PetSet, status *kennelv1.PetSetStatus) error {
	if equality.Semantic.DeepEqual(&set.Status, status) {
		return nil
	}
	old := meta.FindStatusCondition(set.Status.Conditions, kennelv1.PetSetProgressing)
	now := meta.FindStatusCondition(status.Conditions, kennelv1.PetSetProgressing)
	if now != nil && now.Status == metav1.ConditionFalse && now.Reason != ReasonDeleting &&
		(old == nil || old.Status != now.Status || old.Reason != now.Reason) {
		c.recorder.Event(set, corev1.EventTypeWarning, now.Reason, now.Message)
	}
	setLogger(ctx, set).V(4).Info("Updating status", "replicas", status.Replicas, "ready", status.ReadyReplicas)
	return c.status.UpdatePetSetStatus(ctx, set, status)
}
