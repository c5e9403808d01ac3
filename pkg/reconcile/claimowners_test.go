package reconcile

import (
	"context"
	"errors"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// TestCondemnedPetWaitsForItsClaimOwners: under whenScaled: Delete a
// condemned pet is removed only once its claims carry the reference to it
// that lets the garbage collector delete them after it. If that update
// fails (a conflict with the volume binder, an API error), the pet stays
// for the next pass; removed first, its claims would be left for good.
func TestCondemnedPetWaitsForItsClaimOwners(t *testing.T) {
	for _, policy := range bothPolicies {
		t.Run(string(policy), func(t *testing.T) {
			set := newSet("web", 4, policy)
			set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
			}
			s := newSim(t, set, newService("web"))
			s.converge(60, "start")
			failing := true
			s.client.PrependReactor("update", "persistentvolumeclaims", func(a core.Action) (bool, runtime.Object, error) {
				claim := a.(core.UpdateAction).GetObject().(*corev1.PersistentVolumeClaim)
				if failing && claim.Name == "data-web-3" {
					return true, nil, apierrors.NewConflict(corev1.Resource("persistentvolumeclaims"), claim.Name, errors.New("injected"))
				}
				return false, nil, nil
			})
			s.setReplicas(3)
			for range 5 {
				_ = s.step()
			}
			if !slices.Contains(s.podNames(), "web-3") {
				t.Fatalf("web-3 removed while its claim has no reference to it: pets %v", s.podNames())
			}
			failing = false
			s.converge(60, "after the claim update succeeds")
			claim, err := s.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-3", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(claim.OwnerReferences); got != "Pod/web-3" {
				t.Fatalf("data-web-3 owners %q, want Pod/web-3", got)
			}
			s.assertNoViolations()
		})
	}
}

// TestClaimGoneBeforeTheCacheShowsIt: a claim that carried a reference to
// its scaled-away pet was deleted by the garbage collector, but the cache
// still holds it. Scaled back up, the pet must not be created before a new
// claim: the claim is read from the API server, found gone, and created.
func TestClaimGoneBeforeTheCacheShowsIt(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	s := newSim(t, set, newService("web"))
	stale := claimFor("data-web-0")
	stale.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: "old-web-0"}}
	s.stale = true // the cache keeps the deleted claim
	if err := s.claimIdx.Add(stale); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-0", metav1.GetOptions{}); err != nil {
		t.Fatalf("claim not created again: %v", err)
	}
	s.assertNoViolations()
}
