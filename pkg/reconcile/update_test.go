package reconcile

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pet states used by the tables.
const (
	ok       = "ok"      // Running, Ready since long ago
	fresh    = "fresh"   // Running, Ready for 5s
	notReady = "unready" // Running, not Ready
	pending  = "pending"
	gone     = "gone" // missing
	dying    = "dying"
)

func testPet(set *kennelv1.PetSet, ord int, rev, state string) *corev1.Pod {
	if state == gone {
		return nil
	}
	pod := newPet(set, ord, rev)
	pod.UID = types.UID("uid-" + pod.Name)
	pod.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
	switch state {
	case ok, fresh, dying:
		since := t0.Add(-time.Hour)
		if state == fresh {
			since = t0.Add(-5 * time.Second)
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)}}
		if state == dying {
			dt := metav1.NewTime(t0)
			pod.DeletionTimestamp = &dt
		}
	case notReady:
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	case pending:
		pod.Status.Phase = corev1.PodPending
	}
	return pod
}

// pets builds replicas from "rev/state" strings, e.g. "old/ok".
func pets(set *kennelv1.PetSet, specs ...string) []*corev1.Pod {
	out := make([]*corev1.Pod, len(specs))
	for i, s := range specs {
		rev, state, _ := strings.Cut(s, "/")
		out[i] = testPet(set, i, rev, state)
	}
	return out
}

func updSet(partition int32, maxUnavail *intstr.IntOrString, minReady int32) *kennelv1.PetSet {
	set := revSet("nginx")
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition, MaxUnavailable: maxUnavail},
	}
	set.Spec.MinReadySeconds = minReady
	return set
}

func podNames(pods []*corev1.Pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, p.Name)
	}
	return strings.Join(s, ",")
}

func TestMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		v        *intstr.IntOrString
		replicas int
		want     int
	}{
		{nil, 10, 1},
		{new(intstr.FromInt32(3)), 10, 3},
		{new(intstr.FromString("25%")), 10, 3},
		{new(intstr.FromString("1%")), 10, 1},
		{new(intstr.FromString("100%")), 4, 4},
		{new(intstr.FromString("50%")), 0, 1},
		{new(intstr.FromString("bogus")), 4, 1},
	} {
		set := updSet(0, tc.v, 0)
		if got := maxUnavailable(set, tc.replicas); got != tc.want {
			t.Errorf("%v of %d: %d, want %d", tc.v, tc.replicas, got, tc.want)
		}
	}
}

func TestPlanRollingUpdate(t *testing.T) {
	two := intstr.FromInt32(2)
	for _, tc := range []struct {
		name     string
		set      *kennelv1.PetSet
		pets     []string
		want     string
		unhealth string
		waiting  bool
	}{
		{name: "highest first", set: updSet(0, nil, 0), pets: []string{"old/ok", "old/ok", "old/ok"}, want: "web-2", waiting: true},
		{name: "one at a time", set: updSet(0, nil, 0), pets: []string{"old/ok", "old/ok", "new/pending"}, waiting: true},
		{name: "continues down", set: updSet(0, nil, 0), pets: []string{"old/ok", "old/ok", "new/ok"}, want: "web-1", waiting: true},
		{name: "done", set: updSet(0, nil, 0), pets: []string{"new/ok", "new/ok", "new/ok"}},
		{name: "partition stops", set: updSet(2, nil, 0), pets: []string{"old/ok", "old/ok", "new/ok"}},
		{name: "partition canary", set: updSet(2, nil, 0), pets: []string{"old/ok", "old/ok", "old/ok"}, want: "web-2", waiting: true},
		{name: "maxUnavailable 2", set: updSet(0, &two, 0), pets: []string{"old/ok", "old/ok", "old/ok"}, want: "web-2,web-1", waiting: true},
		{name: "budget used by missing pet", set: updSet(0, &two, 0), pets: []string{"old/ok", "old/ok", "new/gone"}, want: "web-1", waiting: true},
		{name: "budget used by unhealthy below partition", set: updSet(1, nil, 0), pets: []string{"old/unready", "old/ok", "old/ok"}, waiting: true},
		{name: "minReadySeconds", set: updSet(0, nil, 10), pets: []string{"old/ok", "old/ok", "new/fresh"}, waiting: true},
		{name: "minReadySeconds passed", set: updSet(0, nil, 3), pets: []string{"old/ok", "old/ok", "new/fresh"}, want: "web-1", waiting: true},
		{name: "stuck pet on old revision replaced", set: updSet(0, nil, 0), pets: []string{"new/ok", "new/ok", "old/unready"}, want: "web-2", unhealth: "web-2", waiting: true},
		{name: "unhealthy old pets replaced beyond budget", set: updSet(0, nil, 0), pets: []string{"old/ok", "old/pending", "old/unready"}, want: "web-2,web-1", unhealth: "web-2,web-1", waiting: true},
		{name: "unhealthy below partition untouched", set: updSet(2, nil, 0), pets: []string{"old/unready", "old/ok", "new/ok"}},
		{name: "terminating skipped", set: updSet(0, nil, 0), pets: []string{"old/ok", "old/ok", "old/dying"}, waiting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := planRollingUpdate(tc.set, pets(tc.set, tc.pets...), "new", t0)
			if got := podNames(plan.Delete); got != tc.want {
				t.Errorf("delete %q, want %q", got, tc.want)
			}
			if got := podNames(plan.Unhealthy); got != tc.unhealth {
				t.Errorf("unhealthy %q, want %q", got, tc.unhealth)
			}
			if (plan.Waiting != "") != tc.waiting {
				t.Errorf("waiting %q, want waiting=%v", plan.Waiting, tc.waiting)
			}
		})
	}
	onDelete := revSet("nginx")
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	if plan := planRollingUpdate(onDelete, pets(onDelete, "old/ok", "old/unready"), "new", t0); len(plan.Delete) != 0 {
		t.Errorf("OnDelete deleted %s", podNames(plan.Delete))
	}
}

// TestPlanRollingUpdateInvariants checks, over random sets of pets, that a
// plan never deletes below the partition, never deletes a pet already on
// the update revision or terminating, and never leaves more pets
// unavailable than maxUnavailable allows by deleting available ones.
func TestPlanRollingUpdateInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	states := []string{ok, ok, ok, fresh, notReady, pending, gone, dying}
	for iter := range 5000 {
		n := 1 + rng.IntN(8)
		part := int32(rng.IntN(n + 1))
		var mu *intstr.IntOrString
		switch rng.IntN(3) {
		case 1:
			mu = new(intstr.FromInt32(int32(1 + rng.IntN(4))))
		case 2:
			mu = new(intstr.FromString(fmt.Sprintf("%d%%", 1+rng.IntN(100))))
		}
		set := updSet(part, mu, int32(rng.IntN(2)*10))
		specs := make([]string, n)
		for i := range specs {
			rev := "old"
			if rng.IntN(2) == 0 {
				rev = "new"
			}
			specs[i] = rev + "/" + states[rng.IntN(len(states))]
		}
		replicas := pets(set, specs...)
		plan := planRollingUpdate(set, replicas, "new", t0)
		budget := maxUnavailable(set, n)
		before := 0
		for _, p := range replicas {
			if !isAvailable(p, set.Spec.MinReadySeconds, t0) {
				before++
			}
		}
		deleted := map[string]bool{}
		for _, p := range plan.Delete {
			deleted[p.Name] = true
			ord, _ := petOrdinal(set, p)
			if ord < int(part) {
				t.Fatalf("iter %d %v partition %d: deleted %s below the partition", iter, specs, part, p.Name)
			}
			if petRevision(p) == "new" || isTerminating(p) {
				t.Fatalf("iter %d %v: deleted %s (updated or terminating)", iter, specs, p.Name)
			}
		}
		after := 0
		for _, p := range replicas {
			if p == nil || deleted[p.Name] || !isAvailable(p, set.Spec.MinReadySeconds, t0) {
				after++
			}
		}
		if after > max(budget, before) {
			t.Fatalf("iter %d %v partition %d maxUnavailable %d: %d unavailable after deleting %s (before %d)",
				iter, specs, part, budget, after, podNames(plan.Delete), before)
		}
	}
}

func TestRevisionForPosition(t *testing.T) {
	set := updSet(2, nil, 0)
	for pos, want := range []string{"cur", "cur", "upd", "upd"} {
		if got := revisionForPosition(set, pos, "cur", "upd"); got != want {
			t.Errorf("position %d: %s, want %s", pos, got, want)
		}
	}
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	if got := revisionForPosition(set, 0, "cur", "upd"); got != "upd" {
		t.Errorf("OnDelete: %s, want upd", got)
	}
}

func TestReplaceableUnhealthy(t *testing.T) {
	set := updSet(1, nil, 0)
	for _, tc := range []struct {
		pos  int
		spec string
		want bool
	}{
		{0, "old/unready", false}, // below partition
		{1, "old/unready", true},
		{1, "old/pending", true},
		{1, "new/unready", false},
		{1, "old/ok", false},
		{1, "old/dying", false},
	} {
		rev, state, _ := strings.Cut(tc.spec, "/")
		if got := replaceableUnhealthy(set, tc.pos, testPet(set, tc.pos, rev, state), "new", t0); got != tc.want {
			t.Errorf("%d %s: %v, want %v", tc.pos, tc.spec, got, tc.want)
		}
	}
}

func TestStuckRollout(t *testing.T) {
	set := updSet(0, nil, 0)
	replicas := pets(set, "old/ok", "old/ok", "new/unready")
	// Not Ready since t0-1h: stuck with the default 10m deadline.
	blocked, _ := stuckRollout(set, replicas, "old", "new", t0)
	if blocked == nil || blocked.Reason != ReasonRolloutStuck || !strings.Contains(blocked.Message, "pet web-2 ") || !strings.Contains(blocked.Message, "new") {
		t.Fatalf("stuck %+v", blocked)
	}
	// No rollout in progress: not reported.
	if blocked, _ := stuckRollout(set, replicas, "new", "new", t0); blocked != nil {
		t.Fatalf("reported stuck without a rollout")
	}
	// A longer deadline: not yet stuck, requeue when it would be.
	set.Annotations = map[string]string{ProgressDeadlineAnnotation: "7200"}
	blocked, next := stuckRollout(set, replicas, "old", "new", t0)
	if blocked != nil || next != time.Hour {
		t.Fatalf("deadline 2h: stuck %v next %v, want nil 1h", blocked, next)
	}
	set.Annotations[ProgressDeadlineAnnotation] = "nonsense"
	if progressDeadline(set) != DefaultProgressDeadline {
		t.Fatalf("bad annotation not ignored")
	}
	// Pets on the old revision that are not Ready do not make it stuck.
	if blocked, _ := stuckRollout(set, pets(set, "old/unready", "new/ok"), "old", "new", t0); blocked != nil {
		t.Fatalf("old-revision pet reported as stuck rollout")
	}
}
