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
