package reconcile

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// statusNow is the time of the passes TestComputeStatus computes status for.
var statusNow = time.Unix(1e6, 0)

// specPet is the pet web-<ord> described by spec, "<revision letter><state>":
// revision web-<letter>; state R Ready, N not Ready, T terminating.
func specPet(ord int, spec string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", ord), Labels: map[string]string{RevisionLabel: "web-" + spec[:1]}}}
	p.Status.Phase = corev1.PodRunning
	status := corev1.ConditionTrue
	if spec[1] == 'N' {
		status = corev1.ConditionFalse
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if spec[1] == 'T' {
		p.DeletionTimestamp = &metav1.Time{Time: statusNow}
	}
	return p
}

// specPets are the pets at ordinals 0, 1, … described by specs; "-" is a
// missing pet (nil).
func specPets(specs ...string) []*corev1.Pod {
	var out []*corev1.Pod
	for i, s := range specs {
		if s == "-" {
			out = append(out, nil)
			continue
		}
		out = append(out, specPet(i, s))
	}
	return out
}

// TestComputeStatus pins the status computed from what a pass observed.
func TestComputeStatus(t *testing.T) {
	now := statusNow
	cur := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-c"}}
	upd := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-u"}}
	type want struct {
		replicas, ready, updated, current int32
		currentRevision                   string
		readyStatus                       metav1.ConditionStatus
		readyMessage                      string
		progressing                       string // reason
	}
	for _, tc := range []struct {
		name      string
		replicas  int32
		partition int32
		pets      []*corev1.Pod
		condemned []*corev1.Pod
		progress  progress
		deleting  bool
		want      want
	}{
		{name: "all ready at the update revision", replicas: 3, pets: specPets("uR", "uR", "uR"),
			want: want{3, 3, 3, 3, "web-u", metav1.ConditionTrue, "3 of 3 pets ready", ReasonComplete}},
		{name: "one missing", replicas: 3, pets: specPets("uR", "uR", "-"),
			want: want{2, 2, 2, 0, "web-c", metav1.ConditionFalse, "2 of 3 pets ready", ReasonConverging}},
		{name: "rollout in progress", replicas: 3, pets: specPets("cR", "cR", "uN"),
			want: want{3, 2, 1, 2, "web-c", metav1.ConditionFalse, "2 of 3 pets ready; not Ready: web-2", ReasonConverging}},
		{name: "partitioned rollout done", replicas: 3, partition: 2, pets: specPets("cR", "cR", "uR"),
			want: want{3, 3, 1, 2, "web-c", metav1.ConditionTrue, "3 of 3 pets ready", ReasonComplete}},
		{name: "condemned pet left", replicas: 2, pets: specPets("uR", "uR"), condemned: []*corev1.Pod{specPet(2, "uR")},
			want: want{3, 3, 3, 0, "web-c", metav1.ConditionFalse, "3 of 2 pets ready", ReasonConverging}},
		{name: "terminating pet", replicas: 2, pets: specPets("uR", "uT"),
			want: want{2, 2, 2, 0, "web-c", metav1.ConditionFalse, "2 of 2 pets ready", ReasonConverging}},
		{name: "blocked", replicas: 2, pets: specPets("uR", "-"), progress: progress{blocked: &BlockedError{Reason: ReasonServiceNotFound, Message: "no service"}},
			want: want{1, 1, 1, 0, "web-c", metav1.ConditionFalse, "1 of 2 pets ready", ReasonServiceNotFound}},
		{name: "deleting", replicas: 1, pets: specPets("uR"), deleting: true,
			want: want{1, 1, 1, 1, "web-u", metav1.ConditionTrue, "1 of 1 pets ready", ReasonDeleting}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := newSet("web", tc.replicas, appsv1.OrderedReadyPodManagement)
			if tc.partition > 0 {
				set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &tc.partition}
			}
			if tc.deleting {
				set.DeletionTimestamp = &metav1.Time{Time: now}
			}
			var all []*corev1.Pod
			for _, p := range append(append([]*corev1.Pod(nil), tc.pets...), tc.condemned...) {
				if p != nil {
					all = append(all, p)
				}
			}
			pass := observed{pets: all, replicas: tc.pets, condemned: tc.condemned, revs: &revisions{current: cur, update: upd}, progress: tc.progress}
			before := set.DeepCopy()
			st := computeStatus(set, pass, now)
			got := want{st.Replicas, st.ReadyReplicas, st.UpdatedReplicas, st.CurrentReplicas, st.CurrentRevision, "", "", ""}
			if c := meta.FindStatusCondition(st.Conditions, kennelv1.PetSetReady); c != nil {
				got.readyStatus, got.readyMessage = c.Status, c.Message
			}
			if c := meta.FindStatusCondition(st.Conditions, kennelv1.PetSetProgressing); c != nil {
				got.progressing = c.Reason
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if st.UpdateRevision != "web-u" || st.ObservedGeneration != set.Generation || st.Selector != "app=web" {
				t.Errorf("status %+v", st)
			}
			if !reflect.DeepEqual(before, set) {
				t.Errorf("computeStatus changed the set")
			}
		})
	}
}

// TestComputeStatusKeepsConditions: a pass that took no decision keeps the
// Progressing message, and one that did not compare claims keeps
// VolumeClaimsResized.
func TestComputeStatusKeepsConditions(t *testing.T) {
	now := time.Unix(1e6, 0)
	upd := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-u"}}
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	set.Status.Conditions = []metav1.Condition{
		{Type: kennelv1.PetSetProgressing, Status: metav1.ConditionTrue, Reason: ReasonConverging, Message: "creating pet web-0"},
		{Type: kennelv1.PetSetVolumeClaimsResized, Status: metav1.ConditionTrue, Reason: ReasonResized},
	}
	pass := observed{replicas: []*corev1.Pod{nil}, revs: &revisions{current: upd, update: upd},
		progress: progress{keepProgressing: true, waiting: "waiting for the cache to observe earlier changes"}}
	st := computeStatus(set, pass, now)
	if c := meta.FindStatusCondition(st.Conditions, kennelv1.PetSetProgressing); c == nil || c.Message != "creating pet web-0" {
		t.Errorf("Progressing %+v, want the earlier message kept", c)
	}
	if meta.FindStatusCondition(st.Conditions, kennelv1.PetSetVolumeClaimsResized) == nil {
		t.Errorf("VolumeClaimsResized dropped by a pass that did not compare claims")
	}
	pass.resizeChecked = true
	if meta.FindStatusCondition(computeStatus(set, pass, now).Conditions, kennelv1.PetSetVolumeClaimsResized) != nil {
		t.Errorf("VolumeClaimsResized kept although the pass found none to report")
	}
}
