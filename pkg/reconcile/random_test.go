package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRandomizedRuns drives the simulator through random scaling, pet
// failures, held-NotReady pets, deletions by users, reserved ordinals and
// stale caches, and
// checks the invariants at every create (claims first, never a second pod
// for an ordinal, OrderedReady order when the cache is fresh) and that the
// set converges once the disturbances stop.
func TestRandomizedRuns(t *testing.T) {
	seeds := 24
	if testing.Short() {
		seeds = 12
	}
	for seed := range seeds {
		policy := appsv1.OrderedReadyPodManagement
		if seed%2 == 1 {
			policy = appsv1.ParallelPodManagement
		}
		stale := seed%4 >= 2
		t.Run(fmt.Sprintf("seed=%d/%s/stale=%v", seed, policy, stale), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 42))
			set := newSet("web", int32(rng.IntN(4)), policy)
			s := newSim(t, set, newService("web"))
			s.looseOrder = stale
			for range 80 {
				switch r := rng.IntN(20); {
				case r < 3:
					s.setReplicas(int32(rng.IntN(7)))
				case r < 5:
					if pods := s.livePods(); len(pods) > 0 {
						s.fail[pods[rng.IntN(len(pods))].Name] = true
					}
				case r < 7:
					if pods := s.livePods(); len(pods) > 0 {
						name := pods[rng.IntN(len(pods))].Name
						s.hold[name] = !s.hold[name]
					}
				case r < 8:
					if pods := s.livePods(); len(pods) > 0 {
						name := pods[rng.IntN(len(pods))].Name
						_ = s.client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{})
					}
				case r < 10 && stale:
					s.stale = !s.stale
				case r == 10:
					ord := int32(rng.IntN(6))
					if i := slices.Index(s.set.Spec.ReserveOrdinals, ord); i >= 0 {
						s.set.Spec.ReserveOrdinals = slices.Delete(s.set.Spec.ReserveOrdinals, i, i+1)
					} else {
						s.set.Spec.ReserveOrdinals = append(s.set.Spec.ReserveOrdinals, ord)
					}
					s.set.Generation++
				}
				_ = s.step()
			}
			s.stale = false
			clear(s.hold)
			clear(s.fail)
			s.converge(150, "did not converge to %d replicas", *s.set.Spec.Replicas)
			_ = s.step()
			if c := condition(s.set, "Ready"); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("converged but Ready=%+v", c)
			}
			s.assertNoViolations()
		})
	}
}
