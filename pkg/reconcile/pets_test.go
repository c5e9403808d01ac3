package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	core "k8s.io/client-go/testing"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func TestPodPredicates(t *testing.T) {
	now := time.Unix(1000, 0)
	readyAt := func(phase corev1.PodPhase, status corev1.ConditionStatus, at time.Time) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(at)},
		}}}
	}
	paused := readyAt(corev1.PodRunning, corev1.ConditionTrue, now)
	paused.Annotations = map[string]string{InitializedAnnotation: "false"}
	resumed := readyAt(corev1.PodRunning, corev1.ConditionTrue, now.Add(-time.Hour))
	resumed.Annotations = map[string]string{InitializedAnnotation: "true"}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		minReady  int32
		ready     bool
		available time.Duration
	}{
		{"pending", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, 0, false, -1},
		{"running not ready", readyAt(corev1.PodRunning, corev1.ConditionFalse, now), 0, false, -1},
		{"running ready", readyAt(corev1.PodRunning, corev1.ConditionTrue, now), 0, true, 0},
		{"ready but failed phase", readyAt(corev1.PodFailed, corev1.ConditionTrue, now), 0, false, -1},
		{"ready 4s of 10", readyAt(corev1.PodRunning, corev1.ConditionTrue, now.Add(-4*time.Second)), 10, true, 6 * time.Second},
		{"ready 10s of 10", readyAt(corev1.PodRunning, corev1.ConditionTrue, now.Add(-10*time.Second)), 10, true, 0},
		{"paused", paused, 0, false, -1},
		{"initialized true", resumed, 5, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isRunningAndReady(tc.pod); got != tc.ready {
				t.Errorf("isRunningAndReady = %v, want %v", got, tc.ready)
			}
			if got := availableIn(tc.pod, tc.minReady, now); got != tc.available {
				t.Errorf("availableIn = %v, want %v", got, tc.available)
			}
		})
	}
}

func TestNewPetIdentityAndStorage(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	set.Spec.Template.Spec.Volumes = append(set.Spec.Template.Spec.Volumes,
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod := newPet(set, 2, "web-rev")
	if pod.Name != "web-2" || pod.Spec.Hostname != "web-2" || pod.Spec.Subdomain != "web" || pod.Namespace != "default" {
		t.Fatalf("identity %s %s %s %s", pod.Name, pod.Spec.Hostname, pod.Spec.Subdomain, pod.Namespace)
	}
	want := map[string]string{
		"app": "web", PodNameLabel: "web-2", PodIndexLabel: "2", PetSetLabel: "web", PetIndexLabel: "2", RevisionLabel: "web-rev",
	}
	for k, v := range want {
		if pod.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, pod.Labels[k], v)
		}
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID != set.UID || ref.APIVersion != "kennel.dev/v1" || ref.Kind != "PetSet" || !*ref.BlockOwnerDeletion {
		t.Fatalf("controller ref %+v", ref)
	}
	// The template's "data" volume is replaced by the claim; "config" stays.
	var vols []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			vols = append(vols, v.Name+"=pvc:"+v.PersistentVolumeClaim.ClaimName)
		default:
			vols = append(vols, v.Name)
		}
	}
	if !slices.Equal(vols, []string{"config", "data=pvc:data-web-2"}) {
		t.Fatalf("volumes %v", vols)
	}
	// The set's template is not modified.
	if len(set.Spec.Template.Labels) != 1 || set.Spec.Template.Spec.Hostname != "" {
		t.Fatalf("template mutated: %+v", set.Spec.Template.ObjectMeta)
	}
	claims := newClaims(set, 2)
	c := claims[0]
	if c == nil || c.Name != "data-web-2" || c.Labels["app"] != "web" || c.Labels[PetSetLabel] != "web" || c.OwnerReferences != nil {
		t.Fatalf("claim %+v", c)
	}
}

func TestTemplateRevisionFollowsTemplate(t *testing.T) {
	a := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	b := a.DeepCopy()
	b.Spec.Replicas = new(int32)
	if templateRevision(a) != templateRevision(b) {
		t.Error("revision changed with replicas")
	}
	b.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	if templateRevision(a) == templateRevision(b) || !strings.HasPrefix(templateRevision(b), "web-") {
		t.Error("revision did not follow the template")
	}
}

func TestPartition(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 2}
	var pods []*corev1.Pod
	for _, n := range []string{"web-0", "web-3", "web-2", "web-7", "web-5", "other-3", "web-x"} {
		pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	replicas, condemned := partition(set, pods)
	var r, c []string
	for _, p := range replicas {
		if p == nil {
			r = append(r, "-")
		} else {
			r = append(r, p.Name)
		}
	}
	for _, p := range condemned {
		c = append(c, p.Name)
	}
	if !slices.Equal(r, []string{"web-2", "web-3", "-"}) || !slices.Equal(c, []string{"web-7", "web-5", "web-0"}) {
		t.Fatalf("replicas %v condemned %v", r, c)
	}
}

// recordingPets is a PetControl that records what the ordering logic asks
// for (concurrently, under Parallel).
type recordingPets struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingPets) record(call string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	return nil
}

func (r *recordingPets) CreatePet(_ context.Context, _ *kennelv1.PetSet, pod *corev1.Pod) (*corev1.Pod, error) {
	return pod, r.record("create " + pod.Name)
}
func (r *recordingPets) DeletePet(_ context.Context, _ *kennelv1.PetSet, pod *corev1.Pod) error {
	return r.record("delete " + pod.Name)
}
func (r *recordingPets) EnsureClaims(context.Context, *kennelv1.PetSet, int) error { return nil }
func (r *recordingPets) UpdatePetLabels(_ context.Context, _ *kennelv1.PetSet, pod *corev1.Pod) error {
	return r.record("label " + pod.Name)
}
func (r *recordingPets) GetPet(context.Context, string, string) (*corev1.Pod, error) {
	return nil, nil
}

// statePet is the pet with the name, created an hour before now, in the
// state: R running and ready, N running not ready, P pending, F failed,
// T terminating (ready).
func statePet(set *kennelv1.PetSet, name string, state byte, now time.Time) *corev1.Pod {
	p := newPet(set, 0, templateRevision(set))
	p.Name = name
	p.UID = types.UID(name)
	p.Labels = identityLabels(set, name, mustOrd(name))
	p.Labels[RevisionLabel] = templateRevision(set)
	p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}
	switch state {
	case 'R', 'T':
		p.Status.Phase = corev1.PodRunning
	case 'N':
		p.Status.Phase = corev1.PodRunning
		ready.Status = corev1.ConditionFalse
	case 'P':
		p.Status.Phase = corev1.PodPending
		ready.Status = corev1.ConditionFalse
	case 'F':
		p.Status.Phase = corev1.PodFailed
		ready.Status = corev1.ConditionFalse
	}
	p.Status.Conditions = []corev1.PodCondition{ready}
	if state == 'T' {
		ts := metav1.NewTime(now)
		p.DeletionTimestamp = &ts
	}
	return p
}

// TestOrderingDecisions pins the single decision one OrderedReady or
// Parallel pass makes for a given state of the pets.
func TestOrderingDecisions(t *testing.T) {
	now := time.Unix(1e6, 0)
	for _, tc := range []struct {
		name     string
		policy   appsv1.PodManagementPolicyType
		replicas int32
		state    string // one letter per ordinal from 0 (statePet's, or - for missing)
		want     []string
		blocked  string
	}{
		{"create first missing", appsv1.OrderedReadyPodManagement, 3, "R--", []string{"create web-1"}, ""},
		{"wait on pending", appsv1.OrderedReadyPodManagement, 3, "RP-", nil, ""},
		{"halt on not ready", appsv1.OrderedReadyPodManagement, 3, "RN-", nil, ReasonPetNotReady},
		{"replace failed lower pet despite unhealthy higher", appsv1.OrderedReadyPodManagement, 3, "FNR", []string{"delete web-0"}, ""},
		{"create missing lower pet despite unhealthy higher", appsv1.OrderedReadyPodManagement, 3, "-NR", []string{"create web-0"}, ""},
		{"wait on terminating", appsv1.OrderedReadyPodManagement, 3, "TR-", nil, ""},
		{"scale down highest", appsv1.OrderedReadyPodManagement, 1, "RRR", []string{"delete web-2"}, ""},
		{"scale down waits on terminating", appsv1.OrderedReadyPodManagement, 1, "RRT", nil, ""},
		{"scale down removes lowest unhealthy when it is the highest", appsv1.OrderedReadyPodManagement, 1, "RRN", []string{"delete web-2"}, ""},
		{"scale down halts on lower unhealthy", appsv1.OrderedReadyPodManagement, 1, "RNR", nil, ReasonPetNotReady},
		{"scale down removes failed condemned first", appsv1.OrderedReadyPodManagement, 1, "RFR", []string{"delete web-1"}, ""},
		{"parallel creates all missing", appsv1.ParallelPodManagement, 4, "N-P-", []string{"create web-1", "create web-3"}, ""},
		{"parallel deletes all condemned and failed", appsv1.ParallelPodManagement, 2, "RFNRT", []string{"delete web-1", "delete web-3", "delete web-2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := newSet("web", tc.replicas, tc.policy)
			var pets []*corev1.Pod
			for i := range len(tc.state) {
				if tc.state[i] != '-' {
					pets = append(pets, statePet(set, "web-"+string(rune('0'+i)), tc.state[i], now))
				}
			}
			rec := &recordingPets{}
			sim := newSim(t, set, newService("web"))
			sim.clock.now = now
			d := sim.deps()
			d.pets, d.status = rec, &memStatus{}
			c := newSetControl(d)
			if _, err := c.Sync(context.Background(), set, pets); err != nil {
				t.Fatal(err)
			}
			got := rec.calls
			if tc.policy == appsv1.ParallelPodManagement {
				slices.Sort(got)
				slices.Sort(tc.want)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("calls %v, want %v", got, tc.want)
			}
			st := c.status.(*memStatus).last
			prog := findCondition(st, kennelv1.PetSetProgressing)
			if tc.blocked != "" && (prog == nil || prog.Status != metav1.ConditionFalse || prog.Reason != tc.blocked) {
				t.Errorf("Progressing %+v, want False/%s", prog, tc.blocked)
			}
			if tc.blocked == "" && prog != nil && prog.Status == metav1.ConditionFalse {
				t.Errorf("Progressing %+v, want True", prog)
			}
		})
	}
}

func mustOrd(name string) int {
	_, o, _ := strings.Cut(name, "-")
	return int(o[0] - '0')
}

func findCondition(st *kennelv1.PetSetStatus, t string) *metav1.Condition {
	if st == nil {
		return nil
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// A pet's claims are created before the pet, and an existing claim is
// reused. Under Parallel with whenScaled: Retain every claim of the pass
// comes before its first pet; under whenScaled: Delete each pet's claim
// comes right before it.
func TestClaimsCreatedBeforeTheirPets(t *testing.T) {
	for _, tc := range []struct {
		claimSetup
		want string // creates of the first pass: c claim, p pod
	}{
		{claimSetup{"ordered", appsv1.OrderedReadyPodManagement, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, 3}, "cp"},
		{claimSetup{"parallel retain", appsv1.ParallelPodManagement, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, 7}, "cccccccppppppp"},
		{claimSetup{"parallel delete", appsv1.ParallelPodManagement, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, 1}, "cp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.sim(t)
			var mu sync.Mutex
			var order []byte
			s.client.PrependReactor("create", "*", func(a core.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				switch a.GetResource().Resource {
				case "persistentvolumeclaims":
					order = append(order, 'c')
				case "pods":
					order = append(order, 'p')
				}
				return false, nil, nil
			})
			if _, err := s.sync(); err != nil {
				t.Fatal(err)
			}
			if got := string(order); got != tc.want {
				t.Fatalf("creates %q (c claim, p pod), want %q", got, tc.want)
			}
			s.converge(40, "did not converge")
			order = nil
			if err := s.client.CoreV1().Pods("default").Delete(context.Background(), "web-0", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			s.world()
			s.converge(40, "did not converge after web-0 was deleted")
			if got := string(order); got != "p" {
				t.Fatalf("creates on re-creation %q, want the claim reused", got)
			}
			s.assertNoViolations()
		})
	}
}

func TestBatchedSlowStart(t *testing.T) {
	for _, tc := range []struct {
		n, failAt int
		wantCalls int
	}{
		{n: 0, failAt: -1, wantCalls: 0},
		{n: 10, failAt: -1, wantCalls: 10},
		{n: 10, failAt: 0, wantCalls: 1},  // batch {0} fails: stop
		{n: 10, failAt: 2, wantCalls: 3},  // batches {0} {1,2}: stop
		{n: 10, failAt: 5, wantCalls: 7},  // batches {0} {1,2} {3..6}: stop
		{n: 10, failAt: 9, wantCalls: 10}, // last batch {7,8,9}
	} {
		var mu sync.Mutex
		calls := 0
		err := batched(tc.n, func(i int) error {
			mu.Lock()
			calls++
			mu.Unlock()
			if i == tc.failAt {
				return errors.New("injected")
			}
			return nil
		})
		if (err != nil) != (tc.failAt >= 0) || calls != tc.wantCalls {
			t.Errorf("n=%d failAt=%d: calls %d err %v, want %d calls", tc.n, tc.failAt, calls, err, tc.wantCalls)
		}
	}
}

// Under Parallel, a claim that cannot be created holds back its own pet
// only: the pets whose claims were made are created in the same pass.
func TestParallelClaimFailureHoldsItsPetOnly(t *testing.T) {
	s := newSim(t, newSet("web", 7, appsv1.ParallelPodManagement), newService("web"))
	failed := false
	s.client.PrependReactor("create", "persistentvolumeclaims", func(a core.Action) (bool, runtime.Object, error) {
		if a.(core.CreateAction).GetObject().(*corev1.PersistentVolumeClaim).Name == "data-web-5" && !failed {
			failed = true
			return true, nil, errors.New("quota exceeded")
		}
		return false, nil, nil
	})
	if _, err := s.sync(); err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("pass error %v, want the claim's", err)
	}
	s.refresh()
	if got, want := s.podNames(), []string{"web-0", "web-1", "web-2", "web-3", "web-4", "web-6"}; !slices.Equal(got, want) {
		t.Fatalf("pets after the failed claim %v, want %v", got, want)
	}
	s.converge(40, "did not converge after the claim's failure")
	s.assertNoViolations()
}

// newClaims returns the claims the pet with the ordinal needs, one per
// claim template, ordered by name. Each carries the selector's matchLabels.
func newClaims(set *kennelv1.PetSet, ord int) []*corev1.PersistentVolumeClaim {
	claims := make([]*corev1.PersistentVolumeClaim, 0, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		claims = append(claims, newClaim(set, &set.Spec.VolumeClaimTemplates[i], ord))
	}
	slices.SortFunc(claims, func(a, b *corev1.PersistentVolumeClaim) int { return strings.Compare(a.Name, b.Name) })
	return claims
}
