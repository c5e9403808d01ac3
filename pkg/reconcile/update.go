package reconcile

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Rolling updates.
//
// Positions: the partition counts pets from the first one, so with
// ordinals.start = s and partition = p the pets with ordinals below s+p keep
// the current revision. A rolling update replaces pets from the highest
// ordinal down to the partition. Pets that are not available (missing,
// terminating, not Running and Ready, or Ready for less than
// minReadySeconds) use up the maxUnavailable budget; an available pet on
// an old revision is deleted only while the budget allows. A pet on an old
// revision that is not available is replaced whatever the budget: deleting
// it makes nothing less available, and it is how a rollout stuck on a
// broken template recovers once the template is fixed or reverted.

// ProgressDeadlineAnnotation on a PetSet sets, in seconds, how long a pet on
// the update revision may stay not Ready before the rollout is reported
// stuck (Progressing=False, reason RolloutStuck).
const ProgressDeadlineAnnotation = "kennel.dev/progress-deadline-seconds"

// DefaultProgressDeadline is the progress deadline unless the annotation sets one.
const DefaultProgressDeadline = 600 * time.Second

// isRollingUpdate reports whether the set updates pets itself.
func isRollingUpdate(set *kennelv1.PetSet) bool {
	return set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
}

// updatePartition returns the rolling update partition (0 unless set, and 0
// under OnDelete, where it has no meaning).
func updatePartition(set *kennelv1.PetSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if !isRollingUpdate(set) || ru == nil || ru.Partition == nil || *ru.Partition < 0 {
		return 0
	}
	return int(*ru.Partition)
}

// maxUnavailable resolves spec.updateStrategy.rollingUpdate.maxUnavailable
// against the number of desired pets: an integer, or a percentage rounded
// up; at least 1, and 1 when unset or invalid.
func maxUnavailable(set *kennelv1.PetSet, replicas int) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, true)
	if err != nil || v < 1 {
		return 1
	}
	return v
}

// revisionForPosition returns the revision a pet created at the position
// (index from the first ordinal) must run: the current revision below a
// rolling update's partition, the update revision otherwise.
func revisionForPosition(set *kennelv1.PetSet, pos int, current, update string) string {
	if isRollingUpdate(set) && pos < updatePartition(set) {
		return current
	}
	return update
}

// isAvailable reports whether the pet is Running, Ready for minReadySeconds
// and not terminating.
func isAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return pod != nil && !isTerminating(pod) && availableIn(pod, minReadySeconds, now) == 0
}

// replaceableUnhealthy reports whether the pet at the position is on an old
// revision, inside the rolling update's range and not available, so that
// the rolling update may replace it even though the ordering logic would
// otherwise wait for it to become Ready.
func replaceableUnhealthy(set *kennelv1.PetSet, pos int, pod *corev1.Pod, update string, now time.Time) bool {
	return isRollingUpdate(set) && pod != nil && pos >= updatePartition(set) && !isTerminating(pod) &&
		petRevision(pod) != update && !isAvailable(pod, set.Spec.MinReadySeconds, now)
}

// updatePlan is what one pass of a rolling update does.
type updatePlan struct {
	// Delete lists the pets to delete now, highest ordinal first.
	Delete []*corev1.Pod
	// Unhealthy lists those of Delete that were not available.
	Unhealthy []*corev1.Pod
	// Waiting says what the update waits for, or is empty when every pet
	// at or above the partition runs the update revision.
	Waiting string
}

// planRollingUpdate decides which pets a rolling update deletes now.
// replicas[i] is the pet at position i (nil if missing). It never deletes a
// pet below the partition, and never makes more than maxUnavailable pets
// unavailable by deleting available ones.
func planRollingUpdate(set *kennelv1.PetSet, replicas []*corev1.Pod, update string, now time.Time) updatePlan {
	var plan updatePlan
	if !isRollingUpdate(set) {
		return plan
	}
	budget := maxUnavailable(set, len(replicas))
	unavailable := 0
	for _, pod := range replicas {
		if !isAvailable(pod, set.Spec.MinReadySeconds, now) {
			unavailable++
		}
	}
	part := updatePartition(set)
	for i := len(replicas) - 1; i >= part; i-- {
		pod := replicas[i]
		if pod == nil || isTerminating(pod) || petRevision(pod) == update {
			continue
		}
		if !isAvailable(pod, set.Spec.MinReadySeconds, now) {
			plan.Delete = append(plan.Delete, pod)
			plan.Unhealthy = append(plan.Unhealthy, pod)
			continue
		}
		if unavailable < budget {
			plan.Delete = append(plan.Delete, pod)
			unavailable++
			continue
		}
		if plan.Waiting == "" {
			plan.Waiting = fmt.Sprintf("rolling update waiting: %d of at most %d pets unavailable before updating %s", unavailable, budget, pod.Name)
		}
	}
	if plan.Waiting == "" {
		for i := len(replicas) - 1; i >= part; i-- {
			if pod := replicas[i]; pod == nil || isTerminating(pod) || petRevision(pod) != update {
				plan.Waiting = "rolling update waiting for replaced pets to return"
				break
			}
		}
	}
	if len(plan.Delete) > 0 {
		plan.Waiting = fmt.Sprintf("updating pet %s to revision %s", plan.Delete[0].Name, update)
	}
	return plan
}

// progressDeadline returns the set's progress deadline.
func progressDeadline(set *kennelv1.PetSet) time.Duration {
	if v, ok := set.Annotations[ProgressDeadlineAnnotation]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return DefaultProgressDeadline
}

// stuckRollout looks for a pet that keeps a rollout from finishing: a pet on
// the update revision, while the update revision is not yet current, that
// has not been Ready for longer than the progress deadline. It returns the
// pet and a BlockedError describing it, or, when no pet is stuck yet, how
// long until the first not-Ready pet on the update revision reaches the
// deadline (0 if none).
func stuckRollout(set *kennelv1.PetSet, replicas []*corev1.Pod, current, update string, now time.Time) (*BlockedError, time.Duration) {
	if current == update || current == "" {
		return nil, 0
	}
	deadline := progressDeadline(set)
	var next time.Duration
	for _, pod := range replicas {
		if pod == nil || isTerminating(pod) || petRevision(pod) != update || isRunningAndReady(pod) {
			continue
		}
		since := pod.CreationTimestamp.Time
		if c := readyCondition(pod); c != nil && c.LastTransitionTime.After(since) {
			since = c.LastTransitionTime.Time
		}
		if since.IsZero() {
			continue
		}
		notReadyFor := now.Sub(since)
		if notReadyFor >= deadline {
			return &BlockedError{
				Reason: ReasonRolloutStuck,
				// A time, not a duration: the message must not change on
				// every pass, or status would be rewritten each time.
				Message: fmt.Sprintf("rollout to revision %s is stuck: pet %s has not been Ready since %s (progress deadline %s); fix or revert spec.template and the pet is replaced",
					update, pod.Name, since.UTC().Format(time.RFC3339), deadline),
			}, 0
		}
		if left := deadline - notReadyFor; next == 0 || left < next {
			next = left
		}
	}
	return nil, next
}
