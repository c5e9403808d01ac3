package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kennel-dev/kennel/test/plane"
)

// User actions a round draws from.
var userActions = []string{
	"scale-burst", "delete-pet", "force-delete-pet", "hold-not-ready", "fail-pet",
	"rollout", "rollout-partition", "rollback",
}

// Faults by kind: every round injects one (or none).
var faultsByKind = map[Kind][]string{
	KindKennel: {"none", "kill-leader", "kill-follower", "stop-leader",
		"kill-apiserver", "kill-etcd", "restart-kcm"},
	KindStatefulSet: {"none", "kill-kcm", "kill-apiserver", "kill-etcd"},
}

// step is one user action on one set.
type step struct {
	action string
	set    string
}

// plan is what a round does, drawn from its own seeded source.
type plan struct {
	steps      []step
	fault      string
	faultDelay time.Duration
}

func (p plan) String() string {
	s := "fault=" + p.fault + " after " + p.faultDelay.String() + "; actions="
	for i, st := range p.steps {
		if i > 0 {
			s += ","
		}
		s += st.action + "(" + st.set + ")"
	}
	return s
}

// roundRand is round i's random source: the same seed gives the same plans.
func roundRand(seed int64, round int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(round)))
}

func planRound(rng *rand.Rand, kind Kind) plan {
	p := plan{}
	for range 1 + rng.IntN(3) {
		p.steps = append(p.steps, step{
			action: userActions[rng.IntN(len(userActions))],
			set:    testSets[rng.IntN(len(testSets))].name,
		})
	}
	faults := faultsByKind[kind]
	p.fault = faults[rng.IntN(len(faults))]
	p.faultDelay = time.Duration(rng.IntN(1500)) * time.Millisecond
	return p
}

// jitter returns a duration in [lo, hi).
func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// doStep runs one user action.
func (h *harness) doStep(ctx context.Context, rng *rand.Rand, st step) error {
	switch st.action {
	case "scale-burst":
		for range 2 + rng.IntN(3) {
			if err := h.sets.scale(ctx, st.set, rng.IntN(6)); err != nil {
				return err
			}
			time.Sleep(jitter(rng, 50*time.Millisecond, 400*time.Millisecond))
		}
		return nil
	case "rollout", "rollout-partition", "rollback":
		return h.rollout(ctx, rng, st)
	}
	pods, err := h.pets(ctx, st.set)
	if err != nil || len(pods) == 0 {
		return err
	}
	p := pods[rng.IntN(len(pods))]
	switch st.action {
	case "delete-pet":
		if rng.IntN(2) == 0 {
			if err := h.annotate(ctx, p.Name, plane.AnnotationDeleteDelay, "2s"); err != nil {
				return err
			}
		}
		return ignoreNotFound(h.kube.CoreV1().Pods(h.ns).Delete(ctx, p.Name, metav1.DeleteOptions{}))
	case "force-delete-pet":
		zero := int64(0)
		return ignoreNotFound(h.kube.CoreV1().Pods(h.ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
	case "hold-not-ready":
		return h.annotate(ctx, p.Name, plane.AnnotationHoldReady, "true")
	case "fail-pet":
		return h.annotate(ctx, p.Name, plane.AnnotationFail, "true")
	}
	return fmt.Errorf("unknown action %q", st.action)
}

// rollout changes a set's template version (or goes back one), with a
// partition for rollout-partition and maxUnavailable 1 or 2.
func (h *harness) rollout(ctx context.Context, rng *rand.Rand, st step) error {
	v := h.versions[st.set]
	switch st.action {
	case "rollback":
		if v == 0 {
			return nil
		}
		v--
	default:
		v = h.maxVersion[st.set] + 1
		h.maxVersion[st.set] = v
	}
	h.versions[st.set] = v
	partition := 0
	if st.action == "rollout-partition" {
		partition = 1 + rng.IntN(3)
	}
	return h.sets.rollout(ctx, st.set, "v"+strconv.Itoa(v), partition, 1+rng.IntN(2))
}

func (h *harness) annotate(ctx context.Context, pod, key, value string) error {
	var v any = value
	if value == "" {
		v = nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: v}}})
	_, err := h.kube.CoreV1().Pods(h.ns).Patch(ctx, pod, types.MergePatchType, b, metav1.PatchOptions{})
	return ignoreNotFound(err)
}

// releaseHolds lets every held pet become Ready again.
func (h *harness) releaseHolds(ctx context.Context) error {
	for _, s := range setNames() {
		pods, err := h.pets(ctx, s)
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.Annotations[plane.AnnotationHoldReady] != "" {
				if err := h.annotate(ctx, p.Name, plane.AnnotationHoldReady, ""); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (h *harness) pets(ctx context.Context, setName string) ([]corev1.Pod, error) {
	l, err := h.kube.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + setName})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// inject runs one fault to its end: the process is back (restarted or
// continued) when it returns.
func (h *harness) inject(ctx context.Context, rng *rand.Rand, fault string) error {
	switch fault {
	case "none":
		return nil
	case "kill-apiserver":
		return h.planeFault(ctx, "kube-apiserver", jitter(rng, 500*time.Millisecond, 3*time.Second))
	case "kill-etcd":
		return h.planeFault(ctx, "etcd", jitter(rng, 500*time.Millisecond, 3*time.Second))
	case "restart-kcm":
		return h.planeFault(ctx, "kube-controller-manager", jitter(rng, 2*time.Second, 8*time.Second))
	case "kill-kcm":
		return h.planeFault(ctx, "kube-controller-manager", jitter(rng, 500*time.Millisecond, 5*time.Second))
	}
	if h.kennel == nil {
		return fmt.Errorf("fault %q needs kennel replicas", fault)
	}
	lead, other, holder, err := h.kennel.waitLeader(ctx)
	if err != nil {
		return err
	}
	switch fault {
	case "kill-leader":
		return h.killReplica(ctx, lead, jitter(rng, 500*time.Millisecond, 5*time.Second))
	case "kill-follower":
		return h.killReplica(ctx, other, jitter(rng, 500*time.Millisecond, 3*time.Second))
	case "stop-leader":
		return h.stopLeader(ctx, lead, other, holder)
	}
	return fmt.Errorf("unknown fault %q", fault)
}

func (h *harness) planeFault(ctx context.Context, component string, down time.Duration) error {
	h.holdPlane(component, true)
	defer h.holdPlane(component, false)
	if err := h.plane.Kill(component); err != nil {
		return err
	}
	time.Sleep(down)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return h.plane.Restart(rctx, component)
}

func (h *harness) killReplica(ctx context.Context, r *replica, down time.Duration) error {
	r.kill()
	time.Sleep(down)
	r.release()
	return h.ensureReplica(r)
}

// stopLeader freezes the leader until the other replica holds the Lease,
// then lets it run on its stale view.
func (h *harness) stopLeader(ctx context.Context, lead, other *replica, holder string) error {
	lead.mu.Lock()
	lead.expected = true
	lead.mu.Unlock()
	lead.signal(syscall.SIGSTOP)
	defer lead.signal(syscall.SIGCONT)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		l, o, now, err := h.kennel.leader(ctx)
		if err == nil && now != holder && l == other && o == lead {
			h.logf("round: %s took the Lease from the stopped %s", other.name, lead.name)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("stop-leader: %s did not take the Lease from %s within 90s", other.name, lead.name)
}
