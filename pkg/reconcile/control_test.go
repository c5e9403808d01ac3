package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func names(set string, ords ...int) []string {
	out := make([]string, 0, len(ords))
	for _, o := range ords {
		out = append(out, fmt.Sprintf("%s-%d", set, o))
	}
	return out
}

func condition(set *kennelv1.PetSet, t string) *metav1.Condition {
	return meta.FindStatusCondition(set.Status.Conditions, t)
}

func TestOrderedScaleUpAndDown(t *testing.T) {
	set := newSet("web", 0, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	for _, tc := range []struct {
		replicas      int32
		wantCreates   []string
		wantDeletes   []string
		wantPodsAfter []string
	}{
		{3, names("web", 0, 1, 2), nil, names("web", 0, 1, 2)},
		{5, names("web", 0, 1, 2, 3, 4), nil, names("web", 0, 1, 2, 3, 4)},
		{2, names("web", 0, 1, 2, 3, 4), names("web", 4, 3, 2), names("web", 0, 1)},
	} {
		s.setReplicas(tc.replicas)
		s.converge(60, "scale to %d did not converge", tc.replicas)
		if !slices.Equal(s.creates, tc.wantCreates) {
			t.Errorf("scale to %d: creates %v, want %v", tc.replicas, s.creates, tc.wantCreates)
		}
		if !slices.Equal(s.deletes, tc.wantDeletes) {
			t.Errorf("scale to %d: deletes %v, want %v", tc.replicas, s.deletes, tc.wantDeletes)
		}
		if got := s.podNames(); !slices.Equal(got, tc.wantPodsAfter) {
			t.Errorf("scale to %d: pods %v, want %v", tc.replicas, got, tc.wantPodsAfter)
		}
	}
	// Claims outlive pets: the scaled-away pets' claims remain.
	if got, want := s.claims(), []string{"data-web-0", "data-web-1", "data-web-2", "data-web-3", "data-web-4"}; !slices.Equal(got, want) {
		t.Errorf("claims %v, want %v", got, want)
	}
	s.step()
	if c := condition(s.set, kennelv1.PetSetReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready condition %+v, want True", c)
	}
	if s.set.Status.ReadyReplicas != 2 || s.set.Status.Replicas != 2 || s.set.Status.ObservedGeneration != s.set.Generation {
		t.Errorf("status %+v", s.set.Status)
	}
	if s.set.Status.Selector != "app=web" {
		t.Errorf("selector %q", s.set.Status.Selector)
	}
	s.assertNoViolations()
}

func TestOrderedCreatesOnePetPerSync(t *testing.T) {
	set := newSet("web", 4, appsv1.OrderedReadyPodManagement)
	s := newSim(t, set, newService("web"))
	for range 3 {
		s.refresh()
		if _, err := s.sync(); err != nil {
			t.Fatal(err)
		}
	}
	// Without the kubelet making pets Ready, only the first is created.
	if !slices.Equal(s.creates, names("web", 0)) {
		t.Fatalf("creates %v, want [web-0]", s.creates)
	}
	s.assertNoViolations()
}

// web1Held returns a sim of a 3-pet OrderedReady set whose web-1 the
// kubelet keeps NotReady, 10 steps in: web-0 Ready, web-1 not, no web-2.
func web1Held(t *testing.T) *sim {
	s := newSim(t, newSet("web", 3, appsv1.OrderedReadyPodManagement), newService("web"))
	s.hold["web-1"] = true
	s.steps(10)
	return s
}

func TestOrderedHaltsOnUnhealthyPetAndResumes(t *testing.T) {
	s := web1Held(t)
	// Within the grace a pet that is not Ready yet is waited for quietly.
	if c := condition(s.set, kennelv1.PetSetProgressing); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Progressing %+v within the not-ready grace, want True", c)
	}
	s.clock.Step(notReadyGrace)
	s.steps(5)
	if !slices.Equal(s.podNames(), names("web", 0, 1)) {
		t.Fatalf("pods %v, want web-0 web-1 while web-1 is held", s.podNames())
	}
	s.wantStalled(ReasonPetNotReady, "web-1")
	delete(s.hold, "web-1")
	s.converge(20, "did not resume")
	s.assertNoViolations()
}

func TestNoDeadlockWhenPredecessorFails(t *testing.T) {
	s := web1Held(t)
	// Pet 0 fails while pet 1 is held NotReady: pet 0 must be replaced.
	s.fail["web-0"] = true
	s.steps(10)
	if n := countOf(s.creates, "web-0"); n != 2 {
		t.Fatalf("web-0 created %d times, want 2 (replaced after failing); creates %v", n, s.creates)
	}
	pods := s.livePods()
	if len(pods) == 0 || pods[0].Name != "web-0" || !isRunningAndReady(pods[0]) {
		t.Fatalf("web-0 not healthy again: %v", s.podNames())
	}
	if slices.Contains(s.podNames(), "web-2") {
		t.Errorf("web-2 created while web-1 is held")
	}
	s.assertNoViolations()
}

func countOf(list []string, name string) int {
	n := 0
	for _, x := range list {
		if x == name {
			n++
		}
	}
	return n
}

// An OrderedReady scale-down waits while a condemned pet is unhealthy,
// unless that pet is the next to go: it is removed first.
func TestScaleDownWithUnhealthyPet(t *testing.T) {
	for _, tc := range []struct {
		name        string
		from, to    int32
		unhealthy   string
		halts       bool
		wantDeletes []string
	}{
		{"halts below a healthy condemned pet", 5, 2, "web-3", true, names("web", 4, 3, 2)},
		{"removes the unhealthy highest pet first", 3, 1, "web-2", false, names("web", 2, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settledSim(t, newSet("web", tc.from, appsv1.OrderedReadyPodManagement))
			s.hold[tc.unhealthy] = true
			s.steps(3)
			s.setReplicas(tc.to)
			if tc.halts {
				s.steps(10)
				if len(s.deletes) != 0 {
					t.Fatalf("deleted %v while %s is unhealthy", s.deletes, tc.unhealthy)
				}
				delete(s.hold, tc.unhealthy)
			}
			s.converge(30, "scale-down to %d", tc.to)
			if !slices.Equal(s.deletes, tc.wantDeletes) {
				t.Errorf("deletes %v, want %v", s.deletes, tc.wantDeletes)
			}
			s.assertNoViolations()
		})
	}
}

func TestParallelIgnoresUnhealthyPets(t *testing.T) {
	set := newSet("web", 6, appsv1.ParallelPodManagement)
	s := newSim(t, set, newService("web"))
	s.hold["web-0"] = true
	s.hold["web-3"] = true
	_ = s.step()
	if len(s.creates) != 6 {
		t.Fatalf("Parallel created %v in one sync, want all 6", s.creates)
	}
	s.steps(5)
	s.setReplicas(1)
	_ = s.step()
	if len(s.deletes) != 5 {
		t.Fatalf("Parallel deleted %v in one sync, want 5", s.deletes)
	}
	delete(s.hold, "web-0")
	s.converge(10, "did not converge")
	s.assertNoViolations()
}

func TestFailedPetIsRecreatedWithSameClaim(t *testing.T) {
	underBothPolicies(t, func(t *testing.T, policy appsv1.PodManagementPolicyType) {
		set := newSet("db", 2, policy)
		s := settledSim(t, set)
		claimsBefore := s.claims()
		uid := s.livePods()[1].UID
		s.fail["db-1"] = true
		_ = s.step()
		s.converge(20, "did not converge")
		if s.livePods()[1].UID == uid {
			t.Fatalf("db-1 was not replaced")
		}
		if !slices.Equal(s.deletes, []string{"db-1"}) {
			t.Errorf("deletes %v", s.deletes)
		}
		if got := s.claims(); !slices.Equal(got, claimsBefore) {
			t.Errorf("claims %v, want %v reused", got, claimsBefore)
		}
		if !s.events.has(ReasonRecreatingFailedPet) {
			t.Errorf("no %s event", ReasonRecreatingFailedPet)
		}
		s.assertNoViolations()
	})
}

// A stale cache (informer behind the API server) must not lead to a second
// create or a premature recreate.
func TestStaleCacheIsNotActedOn(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	s := newSim(t, set, newService("web"))
	s.stale = true
	for range 5 {
		if _, err := s.sync(); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(s.creates, names("web", 0)) {
		t.Fatalf("creates with a stale cache: %v", s.creates)
	}
	s.stale = false
	s.run(20)

	// The pet fails; the controller deletes it; the cache still shows it Failed.
	s.fail["web-0"] = true
	s.world()
	s.refresh()
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.deletes, names("web", 0)) {
		t.Fatalf("deletes %v", s.deletes)
	}
	s.stale = true
	s.world() // the pet is gone from the API server, the cache has not seen it
	for range 5 {
		if _, err := s.sync(); err != nil {
			t.Fatal(err)
		}
	}
	if n := countOf(s.creates, "web-0"); n != 1 {
		t.Fatalf("web-0 recreated from a stale cache (created %d times)", n)
	}
	if n := countOf(s.deletes, "web-0"); n != 1 {
		t.Fatalf("web-0 deleted %d times", n)
	}
	s.stale = false
	s.converge(20, "did not converge")
	s.assertNoViolations()
}

func TestExpectationsExpire(t *testing.T) {
	clock := &fakeClock{now: time.Unix(0, 0)}
	e := newExpectations(clock)
	e.ExpectCreate(cache.ObjectName{Namespace: "ns", Name: "a"}, "a-0")
	e.ExpectDelete(cache.ObjectName{Namespace: "ns", Name: "a"}, "a-1", "u1")
	if e.Satisfied(cache.ObjectName{Namespace: "ns", Name: "a"}) {
		t.Fatal("satisfied with outstanding expectations")
	}
	e.CreationObserved(cache.ObjectName{Namespace: "ns", Name: "a"}, "a-0")
	if e.Satisfied(cache.ObjectName{Namespace: "ns", Name: "a"}) {
		t.Fatal("satisfied with an outstanding delete")
	}
	clock.Step(expectationTTL + time.Second)
	if !e.Satisfied(cache.ObjectName{Namespace: "ns", Name: "a"}) {
		t.Fatal("expired expectations still block")
	}
	e.ExpectCreate(cache.ObjectName{Namespace: "ns", Name: "b"}, "b-0")
	e.Forget(cache.ObjectName{Namespace: "ns", Name: "b"})
	if !e.Satisfied(cache.ObjectName{Namespace: "ns", Name: "b"}) || !e.Satisfied(cache.ObjectName{Namespace: "ns", Name: "unknown"}) {
		t.Fatal("forgotten or unknown set not satisfied")
	}
}

// Injected API errors: the Nth create of pods or claims fails; the
// controller reports the error and recovers on a later sync.
func TestInjectedErrorsRecover(t *testing.T) {
	type injection struct {
		resource string
		verb     string
		failOn   int
		policy   appsv1.PodManagementPolicyType
	}
	var cases []injection
	for _, policy := range bothPolicies {
		cases = append(cases,
			injection{"pods", "create", 1, policy},
			injection{"pods", "create", 3, policy},
			// Under OrderedReady every claim after the first is made
			// ahead of its pet, and a failure there is retried quietly
			// (TestClaimsAheadOfTheNextPet): the first is the one whose
			// failure is reported.
			injection{"persistentvolumeclaims", "create", 1, policy},
			injection{"pods", "delete", 1, policy},
		)
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%s-%s-%d", tc.policy, tc.verb, tc.resource, tc.failOn), func(t *testing.T) {
			set := newSet("web", 4, tc.policy)
			s := newSim(t, set, newService("web"))
			calls := 0
			injected := false
			s.client.PrependReactor(tc.verb, tc.resource, func(core.Action) (bool, runtime.Object, error) {
				calls++
				if calls == tc.failOn {
					injected = true
					return true, nil, apierrors.NewInternalError(errors.New("injected"))
				}
				return false, nil, nil
			})
			var sawErr bool
			for range 40 {
				if err := s.step(); err != nil {
					sawErr = true
				}
			}
			if tc.verb == "delete" {
				s.setReplicas(1)
				for range 40 {
					if err := s.step(); err != nil {
						sawErr = true
					}
				}
			}
			if !injected || !sawErr {
				t.Fatalf("error not injected (%v) or not reported (%v)", injected, sawErr)
			}
			if !s.converged() {
				t.Fatalf("did not recover: %v", s.podNames())
			}
			s.assertNoViolations()
		})
	}
}

// claimSetup is a set "web" of the case's policy, replicas and
// whenScaled retention, for the tests of when claims are made.
type claimSetup struct {
	name       string
	policy     appsv1.PodManagementPolicyType
	whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType
	replicas   int32
}

// sim returns a sim of the case's set and its governing Service.
func (c claimSetup) sim(t *testing.T) *sim {
	t.Helper()
	set := newSet("web", c.replicas, c.policy)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: c.whenScaled}
	return newSim(t, set, newService("web"))
}

// Under OrderedReady and whenScaled: Retain, the pass that creates a pet
// also creates the next pet's claims (never beyond the replicas); under
// whenScaled: Delete a pet's claims are made in the pass that creates it,
// and under Parallel every pet's (TestClaimsCreatedBeforeTheirPets gives
// the order). A failed claim ahead is not reported: the next pet's create
// makes it.
func TestClaimsAheadOfTheNextPet(t *testing.T) {
	for _, tc := range []struct {
		claimSetup
		want []string // claims after the first pass
	}{
		{claimSetup{"retain", appsv1.OrderedReadyPodManagement, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, 3}, []string{"data-web-0", "data-web-1"}},
		{claimSetup{"one pet", appsv1.OrderedReadyPodManagement, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, 1}, []string{"data-web-0"}},
		{claimSetup{"delete on scale-down", appsv1.OrderedReadyPodManagement, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, 3}, []string{"data-web-0"}},
		{claimSetup{"parallel", appsv1.ParallelPodManagement, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, 3}, []string{"data-web-0", "data-web-1", "data-web-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.sim(t)
			s.refresh()
			if _, err := s.sync(); err != nil {
				t.Fatal(err)
			}
			if got := s.claims(); !slices.Equal(got, tc.want) {
				t.Errorf("claims after the first pass %v, want %v", got, tc.want)
			}
			s.converge(30, "did not converge")
			if got, want := len(s.claims()), int(tc.replicas); got != want {
				t.Errorf("claims %v, want %d", s.claims(), want)
			}
			s.assertNoViolations()
		})
	}
	t.Run("held back: other sets queued or claims backlogged", func(t *testing.T) {
		s := newSim(t, newSet("web", 3, appsv1.OrderedReadyPodManagement), newService("web"))
		s.holdAhead = true
		s.refresh()
		if _, err := s.sync(); err != nil {
			t.Fatal(err)
		}
		if got, want := s.claims(), []string{"data-web-0"}; !slices.Equal(got, want) {
			t.Errorf("claims %v while held back, want %v", got, want)
		}
		s.converge(30, "did not converge")
		s.assertNoViolations()
	})
	t.Run("next pet exists", func(t *testing.T) {
		// web-0 is made again while web-1 runs without its claim (the
		// user deleted it): the claim is web-1's affair, not made ahead.
		s := settledSim(t, newSet("web", 3, appsv1.OrderedReadyPodManagement))
		for _, obj := range []struct{ resource, name string }{{"pods", "web-0"}, {"persistentvolumeclaims", "data-web-1"}} {
			if err := s.client.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: obj.resource}, "default", obj.name); err != nil {
				t.Fatal(err)
			}
		}
		s.refresh()
		if _, err := s.sync(); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(s.podNames(), "web-0") {
			t.Fatalf("web-0 not made again: %v", s.podNames())
		}
		if got, want := s.claims(), []string{"data-web-0", "data-web-2"}; !slices.Equal(got, want) {
			t.Errorf("claims %v, want %v", got, want)
		}
	})
	t.Run("failure ahead", func(t *testing.T) {
		s := newSim(t, newSet("web", 3, appsv1.OrderedReadyPodManagement), newService("web"))
		calls := 0
		s.client.PrependReactor("create", "persistentvolumeclaims", func(core.Action) (bool, runtime.Object, error) {
			if calls++; calls == 2 {
				return true, nil, apierrors.NewInternalError(errors.New("injected"))
			}
			return false, nil, nil
		})
		s.refresh()
		if _, err := s.sync(); err != nil {
			t.Fatalf("pass creating web-0 with its successor's claim failing: %v", err)
		}
		if got, want := s.claims(), []string{"data-web-0"}; !slices.Equal(got, want) {
			t.Fatalf("claims %v, want %v", got, want)
		}
		s.converge(30, "did not converge")
		if got, want := s.claims(), []string{"data-web-0", "data-web-1", "data-web-2"}; !slices.Equal(got, want) {
			t.Errorf("claims %v, want %v", got, want)
		}
		s.assertNoViolations()
	})
}

func TestMissingServiceBlocksUntilCreated(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	s := newSim(t, set)
	s.steps(3)
	if len(s.creates) != 0 {
		t.Fatalf("created %v without a governing Service", s.creates)
	}
	s.wantStalled(ReasonServiceNotFound, "web")
	if _, err := s.client.CoreV1().Services("default").Create(context.Background(), newService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.converge(20, "did not converge after the Service appeared")
}

func TestTerminatingClaimBlocksPet(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	now := metav1.Now()
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Name: "data-web-0", Namespace: "default", DeletionTimestamp: &now, Finalizers: []string{"kubernetes.io/pvc-protection"},
	}}
	s := newSim(t, set, newService("web"), claim)
	s.steps(3)
	if len(s.creates) != 0 {
		t.Fatalf("created %v on a terminating claim", s.creates)
	}
	s.wantStalled(ReasonClaimTerminating, "data-web-0")
	if err := s.client.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, "default", "data-web-0"); err != nil {
		t.Fatal(err)
	}
	s.converge(10, "did not converge after the old claim went away")
}

func TestRejectedPodBecomesConditionWithBackoff(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	s := newSim(t, set, newService("web"))
	s.client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web-0", errors.New("exceeded quota"))
	})
	s.refresh()
	_, err := s.sync()
	var blocked *BlockedError
	if !errors.As(err, &blocked) || blocked.Reason != ReasonFailedCreate {
		t.Fatalf("err %v, want a BlockedError %s (so the queue backs off)", err, ReasonFailedCreate)
	}
	s.wantStalled(ReasonFailedCreate, "exceeded quota")
}

func TestPauseAnnotationHaltsScaling(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	pod := s.livePods()[0]
	pod.Annotations = map[string]string{InitializedAnnotation: "false"}
	if _, err := s.client.CoreV1().Pods("default").Update(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.setReplicas(3)
	s.steps(10)
	if len(s.creates) != 1 {
		t.Fatalf("scaled while paused: %v", s.creates)
	}
	if c := condition(s.set, kennelv1.PetSetProgressing); c == nil || c.Reason != ReasonPaused {
		t.Fatalf("Progressing %+v", c)
	}
	if s.set.Status.ReadyReplicas != 0 {
		t.Errorf("paused pet counted ready")
	}
	pod = s.livePods()[0]
	pod.Annotations[InitializedAnnotation] = "true"
	if _, err := s.client.CoreV1().Pods("default").Update(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.converge(20, "did not resume")
}

func TestOrdinalsStart(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	s := settledSim(t, set)
	if !slices.Equal(s.creates, names("web", 5, 6, 7)) {
		t.Fatalf("creates %v", s.creates)
	}
	// Lowering the start: new low ordinals are created, the highest removed.
	set.Spec.Ordinals.Start = 3
	s.converge(40, "did not converge")
	if got := s.podNames(); !slices.Equal(got, names("web", 3, 4, 5)) {
		t.Fatalf("pods %v", got)
	}
	s.assertNoViolations()
}

func TestMinReadySecondsWaitsAndRequeues(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	set.Spec.MinReadySeconds = 10
	s := newSim(t, set, newService("web"))
	s.steps(3)
	s.refresh()
	d, err := s.sync()
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > 10*time.Second {
		t.Fatalf("requeueAfter %v, want within (0, 10s]", d)
	}
	if slices.Contains(s.creates, "web-1") {
		t.Fatal("web-1 created before web-0 was available")
	}
	if s.set.Status.ReadyReplicas != 1 || s.set.Status.AvailableReplicas != 0 {
		t.Fatalf("status ready=%d available=%d", s.set.Status.ReadyReplicas, s.set.Status.AvailableReplicas)
	}
	s.converge(40, "did not converge")
	s.clock.Step(10 * time.Second)
	_ = s.step()
	if s.set.Status.AvailableReplicas != 2 {
		t.Fatalf("available %d", s.set.Status.AvailableReplicas)
	}
	s.assertNoViolations()
}

func TestStatusWrittenOnlyOnChange(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	_ = s.step()
	writes := s.status.writes
	for range 3 {
		s.refresh()
		if _, err := s.sync(); err != nil {
			t.Fatal(err)
		}
	}
	if s.status.writes != writes {
		t.Fatalf("status written %d more times without a change", s.status.writes-writes)
	}
}

func TestRollingUpdateFromHighestOrdinal(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	old := s.set.Status.UpdateRevision
	set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	set.Generation++
	partition := int32(1)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition},
	}
	s.steps(40)
	if !slices.Equal(s.deletes, names("web", 2, 1)) {
		t.Fatalf("rolling update deletes %v, want web-2 then web-1 (partition 1)", s.deletes)
	}
	pods := s.livePods()
	if petRevision(pods[0]) != old || petRevision(pods[2]) != s.set.Status.UpdateRevision {
		t.Fatalf("revisions %s %s %s", petRevision(pods[0]), petRevision(pods[1]), petRevision(pods[2]))
	}
	if c := condition(s.set, kennelv1.PetSetReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready %+v with partition reached", c)
	}
	if s.set.Status.UpdatedReplicas != 2 {
		t.Fatalf("updatedReplicas %d", s.set.Status.UpdatedReplicas)
	}
	s.assertNoViolations()
}

func TestDeletingSetTakesNoAction(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	now := metav1.Now()
	set.DeletionTimestamp = &now
	s := newSim(t, set, newService("web"))
	s.steps(3)
	if len(s.creates) != 0 {
		t.Fatalf("created %v for a set being deleted", s.creates)
	}
}

func TestInvalidNamesBlock(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	set.Spec.VolumeClaimTemplates[0].Name = "a-very-long-claim-template-name-that-overflows-the-dns-label-limit"
	s := newSim(t, set, newService("web"))
	_ = s.step()
	if len(s.creates) != 0 {
		t.Fatal("created pets with invalid claim names")
	}
	if c := condition(s.set, kennelv1.PetSetProgressing); c == nil || c.Reason != ReasonInvalidSpec {
		t.Fatalf("Progressing %+v", c)
	}
}

// A pet created and deleted again before the informer saw it leaves an
// expectation the informer never clears; the controller rechecks it against
// the API server instead of waiting for the expectation to expire.
func TestUnobservedExpectationIsRechecked(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	s := newSim(t, set, newService("web"))
	s.refresh()
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, "default", "web-0"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	d, err := s.sync()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.creates) != 1 || d <= 0 || d > expectationRecheck {
		t.Fatalf("creates %v, requeueAfter %v: want to wait, then recheck within %v", s.creates, d, expectationRecheck)
	}
	s.clock.Step(expectationRecheck)
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.creates, names("web", 0, 0)) {
		t.Fatalf("creates %v, want web-0 again after the recheck", s.creates)
	}
	s.assertNoViolations()
}

// A condemned pet that failed is removed even though a higher condemned
// pet is healthy: waiting on it would halt the scale-down for good.
func TestFailedCondemnedPetDoesNotBlockScaleDown(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	s.setReplicas(0)
	s.fail["web-0"] = true
	s.world()
	s.converge(30, "scale-down did not finish")
	if s.deletes[0] != "web-0" {
		t.Errorf("deletes %v, want the failed web-0 first", s.deletes)
	}
}

func TestReservedOrdinals(t *testing.T) {
	underBothPolicies(t, func(t *testing.T, policy appsv1.PodManagementPolicyType) {
		set := newSet("web", 3, policy)
		set.Spec.ReserveOrdinals = []int32{1}
		s := settledSim(t, set)
		if got := s.podNames(); !slices.Equal(got, names("web", 0, 2, 3)) {
			t.Fatalf("pods %v, want web-0 web-2 web-3 (1 reserved)", got)
		}
		// Reserving a running pet's ordinal removes it; the set grows past it.
		set.Spec.ReserveOrdinals = []int32{1, 2}
		set.Generation++
		s.converge(30, "did not converge")
		if got := s.podNames(); !slices.Equal(got, names("web", 0, 3, 4)) {
			t.Fatalf("pods %v, want web-0 web-3 web-4", got)
		}
		if !slices.Contains(s.deletes, "web-2") {
			t.Errorf("deletes %v, want web-2 removed", s.deletes)
		}
		// Releasing the reservations: pets 1 and 2 come back, 3 and 4 go.
		set.Spec.ReserveOrdinals = nil
		set.Generation++
		s.converge(40, "did not converge")
		if got := s.podNames(); !slices.Equal(got, names("web", 0, 1, 2)) {
			t.Fatalf("pods %v, want web-0..2", got)
		}
		s.step()
		if c := condition(s.set, kennelv1.PetSetReady); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("Ready %+v", c)
		}
		s.assertNoViolations()
	})
}

// A rollout onto a broken template halts on the first broken pet; fixing
// the template replaces that pet (it is not available and outdated) and the
// rollout completes, without deleting anything by hand.
func TestRollbackOfBrokenRollout(t *testing.T) {
	underBothPolicies(t, func(t *testing.T, policy appsv1.PodManagementPolicyType) {
		set := newSet("web", 3, policy)
		s := settledSim(t, set)
		good := templateRevision(set)

		set.Spec.Template.Spec.Containers[0].Image = "broken"
		set.Generation++
		broken := templateRevision(set)
		s.holdIf = func(p *corev1.Pod) bool { return petRevision(p) == broken }
		s.steps(40)
		var revs []string
		for _, p := range s.livePods() {
			revs = append(revs, petRevision(p))
		}
		if !slices.Equal(revs, []string{good, good, broken}) {
			t.Fatalf("revisions %v, want the rollout halted after web-2", revs)
		}

		set.Spec.Template.Spec.Containers[0].Image = "nginx"
		set.Generation++
		s.converge(40, "did not recover")
		for _, p := range s.livePods() {
			if petRevision(p) != good {
				t.Errorf("%s at %s, want %s", p.Name, petRevision(p), good)
			}
		}
		if !s.events.has(ReasonReplacingUnhealthyPet) {
			t.Error("no ReplacingUnhealthyPet event")
		}
		s.assertNoViolations()
	})
}
