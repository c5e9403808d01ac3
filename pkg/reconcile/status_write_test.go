package reconcile

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
