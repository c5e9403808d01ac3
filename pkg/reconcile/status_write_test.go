package reconcile

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	core "k8s.io/client-go/testing"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	kennelfake "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/fake"
)

// TestOrderedScaleUpWritesStatusOncePerPet: the pass that creates a pet
// counts it (Pending) in the status, so the pass that then sees it in the
// cache has nothing to write; the next write is when it is Ready (and
// creates the next pet): one write per pet, and one when the last is Ready.
func TestOrderedScaleUpWritesStatusOncePerPet(t *testing.T) {
	const n = 10
	s := newSim(t, newSet("web", n, appsv1.OrderedReadyPodManagement), newService("web"))
	s.converge(4*n, "0→%d did not converge", n)
	for range 3 {
		if err := s.step(); err != nil {
			t.Fatal(err)
		}
	}
	if s.status.writes > n+1 {
		t.Fatalf("%d status writes for %d pets, want at most one per pet and one more", s.status.writes, n)
	}
	if got := s.set.Status; got.Replicas != n || got.ReadyReplicas != n {
		t.Fatalf("status %+v", got)
	}
	s.assertNoViolations()
}

// TestStatusOfACreatedPetBeforeTheCacheShowsIt: with the cache behind, the
// pet just created is counted as Pending and the Progressing message is the
// one the next pass gives.
func TestStatusOfACreatedPetBeforeTheCacheShowsIt(t *testing.T) {
	s := newSim(t, newSet("web", 2, appsv1.OrderedReadyPodManagement), newService("web"))
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	first := s.set.Status.DeepCopy()
	if first.Replicas != 1 || first.ReadyReplicas != 0 {
		t.Fatalf("after creating web-0: replicas %d ready %d, want 1 and 0", first.Replicas, first.ReadyReplicas)
	}
	writes := s.status.writes
	s.world() // web-0 Pending
	s.refresh()
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if s.status.writes != writes {
		p := condition(s.set, kennelv1.PetSetProgressing)
		t.Fatalf("status written again when the cache showed web-0 Pending: %+v (Progressing %q, was %q)",
			s.set.Status, p.Message, condition(&kennelv1.PetSet{Status: *first}, kennelv1.PetSetProgressing).Message)
	}
}

// TestStatusUpdaterRemembersItsWrite: a pass that starts from a cache
// that does not show the updater's last write yet works from that write,
// so it neither writes the same status again nor conflicts with itself.
func TestStatusUpdaterRemembersItsWrite(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	set.ResourceVersion = "10"
	client := kennelfake.NewSimpleClientset(set)
	client.PrependReactor("update", "petsets", func(a core.Action) (bool, runtime.Object, error) {
		obj := a.(core.UpdateAction).GetObject().(*kennelv1.PetSet).DeepCopy()
		obj.ResourceVersion = "11"
		return true, obj, nil
	})
	u := NewStatusUpdater(client)
	if err := u.UpdatePetSetStatus(context.Background(), set, &kennelv1.PetSetStatus{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if got := u.Latest(set); got.ResourceVersion != "11" || got.Status.Replicas != 1 {
		t.Fatalf("stale cache: Latest gives version %s replicas %d, want the write (11, 1)", got.ResourceVersion, got.Status.Replicas)
	}
	caught := set.DeepCopy()
	caught.ResourceVersion = "11"
	if got := u.Latest(caught); got != caught {
		t.Fatal("the cache shows the write: Latest must give the cached set")
	}
	if got := u.Latest(set); got != set {
		t.Fatal("the write is forgotten once the cache showed it")
	}
}

// TestConvergingStatusSpaced: while a set converges, a change of its
// counts within statusSpacing of its last write waits for a pass at the
// end of that time; the status of a set that is done is written at once.
func TestConvergingStatusSpaced(t *testing.T) {
	s := newSim(t, newSet("web", 3, appsv1.ParallelPodManagement), newService("web"))
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if s.status.writes != 1 {
		t.Fatalf("%d status writes after the first pass, want 1", s.status.writes)
	}
	ready := func(names ...string) {
		t.Helper()
		for _, name := range names {
			pod, err := s.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pod.Status.Phase = corev1.PodRunning
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.clock.Now())}}
			if err := s.client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, pod, "default"); err != nil {
				t.Fatal(err)
			}
		}
		s.refresh()
	}
	ready("web-0")
	requeue, err := s.sync()
	if err != nil {
		t.Fatal(err)
	}
	if s.status.writes != 1 || requeue <= 0 || requeue > statusSpacing {
		t.Fatalf("web-0 Ready at once after the last write: %d writes (want 1), requeue after %v (want at most %v)", s.status.writes, requeue, statusSpacing)
	}
	s.clock.Step(requeue)
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if s.status.writes != 2 || s.set.Status.ReadyReplicas != 1 {
		t.Fatalf("after the spacing: %d writes (want 2), ready %d (want 1)", s.status.writes, s.set.Status.ReadyReplicas)
	}
	ready("web-1", "web-2")
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if s.status.writes != 3 || s.set.Status.ReadyReplicas != 3 || condition(s.set, kennelv1.PetSetReady).Status != metav1.ConditionTrue {
		t.Fatalf("all Ready: %d writes (want 3, at once), status %+v", s.status.writes, s.set.Status)
	}
}

func TestUrgentStatus(t *testing.T) {
	converging := metav1.Condition{Type: kennelv1.PetSetProgressing, Status: metav1.ConditionTrue, Reason: ReasonConverging}
	base := kennelv1.PetSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 1, CurrentRevision: "a", UpdateRevision: "a",
		Conditions: []metav1.Condition{converging}}
	one := int32(1)
	for _, tc := range []struct {
		name   string
		change func(*kennelv1.PetSetStatus)
		urgent bool
	}{
		{"counts", func(s *kennelv1.PetSetStatus) { s.ReadyReplicas = 2; s.Replicas = 2 }, false},
		{"message", func(s *kennelv1.PetSetStatus) { s.Conditions[0].Message = "creating 2 pets" }, false},
		{"generation", func(s *kennelv1.PetSetStatus) { s.ObservedGeneration = 3 }, true},
		{"update revision", func(s *kennelv1.PetSetStatus) { s.UpdateRevision = "b" }, true},
		{"current revision", func(s *kennelv1.PetSetStatus) { s.CurrentRevision = "b" }, true},
		{"collision count", func(s *kennelv1.PetSetStatus) { s.CollisionCount = &one }, true},
		{"complete", func(s *kennelv1.PetSetStatus) { s.Conditions[0].Reason = ReasonComplete }, true},
		{"blocked", func(s *kennelv1.PetSetStatus) {
			s.Conditions[0].Status, s.Conditions[0].Reason = metav1.ConditionFalse, ReasonServiceNotFound
		}, true},
		{"no condition", func(s *kennelv1.PetSetStatus) { s.Conditions = nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := base.DeepCopy()
			tc.change(status)
			if got := urgentStatus(&base, status); got != tc.urgent {
				t.Errorf("urgentStatus = %v, want %v", got, tc.urgent)
			}
			if got := urgentStatus(status, &base); got != tc.urgent {
				t.Errorf("back: urgentStatus = %v, want %v", got, tc.urgent)
			}
		})
	}
}

func TestStatusSpacerForgetsOldWrites(t *testing.T) {
	s := newStatusSpacer()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.wrote("a", t0)
	s.wrote("b", t0.Add(statusSpacing))
	if _, ok := s.written["a"]; ok {
		t.Error("a write statusSpacing old is kept")
	}
	if _, ok := s.written["b"]; !ok {
		t.Error("the write just made is forgotten")
	}
}
