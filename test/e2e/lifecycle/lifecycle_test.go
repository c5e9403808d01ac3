// Package lifecycle holds the end-to-end tests of PetSet updates and
// lifecycle: revisions, rolling updates, partitions, maxUnavailable,
// OnDelete, minReadySeconds, claim retention, start ordinals, and kennel's
// additions (stuck-rollout recovery, storage resize, reserved ordinals,
// ordered teardown, migration from a StatefulSet).
package lifecycle

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/pkg/reconcile"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

const (
	image1 = "registry.invalid/kennel/simulated:1"
	image2 = "registry.invalid/kennel/simulated:2"
)

// Rolling update from the highest ordinal down, then a rollback that reuses
// the first revision: with and without claims. Claims survive both.
func TestRollingUpdateAndRollback(t *testing.T) {
	for _, withClaims := range []bool{true, false} {
		t.Run(fmt.Sprintf("claims=%v", withClaims), func(t *testing.T) {
			e := setup(t, false)
			ctx := e.Context(4 * time.Minute)
			set := newPetSet("web", 3, withClaims)
			set.Spec.Template.Spec.Containers[0].Image = image1
			e.create(set)
			s1, _ := e.waitSet(ctx, "web", "initial rollout", rolledOut(3, image1))
			r1 := s1.Status.UpdateRevision
			claimsBefore := e.claimUIDs(ctx)
			rec := e.RecordPods(ctx, "app=web")

			e.setImage("web", image2)
			s2, _ := e.waitSet(ctx, "web", "update to image 2", rolledOut(3, image2))
			if s2.Status.UpdateRevision == r1 {
				t.Fatalf("update revision unchanged: %s", r1)
			}
			if got := deletedOrder(rec); !slices.Equal(got, []string{"web-2", "web-1", "web-0"}) {
				t.Fatalf("pets replaced in order %v, want web-2 web-1 web-0", got)
			}

			e.setImage("web", image1)
			s3, _ := e.waitSet(ctx, "web", "rollback to image 1", rolledOut(3, image1))
			if s3.Status.UpdateRevision != r1 {
				t.Fatalf("rollback made revision %s, want the first revision %s reused", s3.Status.UpdateRevision, r1)
			}
			revs, err := e.Client.AppsV1().ControllerRevisions(e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				t.Fatal(err)
			}
			if len(revs.Items) != 2 {
				t.Fatalf("%d ControllerRevisions, want 2", len(revs.Items))
			}
			for _, r := range revs.Items {
				ref := metav1.GetControllerOf(&r)
				if ref == nil || ref.Kind != "PetSet" || ref.Name != "web" {
					t.Errorf("revision %s controller %+v", r.Name, ref)
				}
				if r.Name == r1 && r.Revision != 3 {
					t.Errorf("rolled-back revision %s has number %d, want 3", r.Name, r.Revision)
				}
			}
			if withClaims {
				claims, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(claims.Items) != 3 {
					t.Fatalf("%d claims, want 3 (retained through updates)", len(claims.Items))
				}
				if after := e.claimUIDs(ctx); !mapsEqual(after, claimsBefore) {
					t.Fatalf("claims replaced by the updates: %v -> %v", claimsBefore, after)
				}
			}
		})
	}
}

// deletedOrder returns pet names in the order their deletion began,
// de-duplicated.
func deletedOrder(rec *framework.PodRecorder) []string {
	var out []string
	for _, ev := range rec.Events() {
		if ev.Deleting && !slices.Contains(out, ev.Name) {
			out = append(out, ev.Name)
		}
	}
	return out
}

// Canary (partition 3 of 4), a pet below and one above the partition
// deleted by hand mid-rollout (each returns at its ordinal's revision),
// then phased partitions 1 and 0.
func TestCanaryPhasedPartitionsAndDeletedPet(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(4 * time.Minute)
	set := newPetSet("web", 4, false)
	set.Spec.Template.Spec.Containers[0].Image = image1
	e.create(set)
	s1, _ := e.waitSet(ctx, "web", "initial rollout", rolledOut(4, image1))
	r1 := s1.Status.UpdateRevision
	e.patch("web", map[string]any{"spec": map[string]any{
		"updateStrategy": map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"partition": 3}},
		"template":       map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": image2}}}},
	}})
	want := fmt.Sprintf("web-0=%s web-1=%s web-2=%s web-3=%s", image1, image1, image1, image2)
	canary := func(set *kennelv1.PetSet, pets []corev1.Pod) bool {
		return images(pets) == want && allReady(pets, 4) && set.Status.UpdatedReplicas == 1 && set.Status.CurrentRevision == r1
	}
	_, pets := e.waitSet(ctx, "web", "canary on web-3", canary)
	before := uids(pets)
	for _, name := range []string{"web-1", "web-3"} {
		if err := e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, pets = e.waitSet(ctx, "web", "deleted pets back at their revisions", func(set *kennelv1.PetSet, pets []corev1.Pod) bool {
		u := uids(pets)
		return canary(set, pets) && u["web-1"] != before["web-1"] && u["web-3"] != before["web-3"]
	})
	if pets[1].Labels["controller-revision-hash"] != r1 {
		t.Fatalf("web-1 recreated at %s, want current revision %s", pets[1].Labels["controller-revision-hash"], r1)
	}
	if u := uids(pets); u["web-0"] != before["web-0"] || u["web-2"] != before["web-2"] {
		t.Fatalf("pets below the partition were replaced")
	}
	e.patch("web", map[string]any{"spec": map[string]any{"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"partition": 1}}}})
	want = fmt.Sprintf("web-0=%s web-1=%s web-2=%s web-3=%s", image1, image2, image2, image2)
	_, pets = e.waitSet(ctx, "web", "phase partition 1", func(set *kennelv1.PetSet, pets []corev1.Pod) bool {
		return images(pets) == want && allReady(pets, 4)
	})
	if pets[0].UID != before["web-0"] {
		t.Fatalf("web-0 below partition 1 was replaced")
	}
	e.patch("web", map[string]any{"spec": map[string]any{"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"partition": 0}}}})
	e.waitSet(ctx, "web", "full rollout", rolledOut(4, image2))
}

func allReady(pets []corev1.Pod, n int) bool {
	if len(pets) != n {
		return false
	}
	for i := range pets {
		if !framework.PetReady(&pets[i]) {
			return false
		}
	}
	return true
}

// unavailableWatcher follows the pods of a set and records the largest
// number of desired pets that were missing or not Ready at any event.
type unavailableWatcher struct {
	mu    sync.Mutex
	pods  map[string]*corev1.Pod
	peak  int
	n     int
	set   string
	count int
}

func (e *env) watchUnavailable(ctx context.Context, set string, n int) *unavailableWatcher {
	e.T.Helper()
	w := &unavailableWatcher{pods: map[string]*corev1.Pod{}, n: n, set: set}
	list, err := e.Client.CoreV1().Pods(e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + set})
	if err != nil {
		e.T.Fatal(err)
	}
	for i := range list.Items {
		w.pods[list.Items[i].Name] = &list.Items[i]
	}
	wi, err := e.Client.CoreV1().Pods(e.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + set, ResourceVersion: list.ResourceVersion})
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(wi.Stop)
	go func() {
		for ev := range wi.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(w.pods, pod.Name)
			} else {
				w.pods[pod.Name] = pod
			}
			w.count++
			unavailable := 0
			for i := range n {
				p := w.pods[ordinal.PetName(set, i)]
				if p == nil || !framework.PetReady(p) {
					unavailable++
				}
			}
			w.peak = max(w.peak, unavailable)
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *unavailableWatcher) result() (peak, events int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak, w.count
}

// maxUnavailable 2 under both policies: a watcher sees every pod event
// of the rollout and never more than 2 desired pets unavailable.
func TestMaxUnavailableNeverExceeded(t *testing.T) {
	for _, policy := range []appsv1.PodManagementPolicyType{appsv1.ParallelPodManagement, appsv1.OrderedReadyPodManagement} {
		t.Run(string(policy), func(t *testing.T) {
			e := setup(t, false)
			ctx := e.Context(4 * time.Minute)
			set := newPetSet("web", 5, false)
			set.Spec.PodManagementPolicy = policy
			mu := intstr.FromInt32(2)
			set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: &mu}}
			set.Spec.Template.Spec.Containers[0].Image = image1
			e.create(set)
			e.waitSet(ctx, "web", "initial rollout", rolledOut(5, image1))
			w := e.watchUnavailable(ctx, "web", 5)
			e.setImage("web", image2)
			e.waitSet(ctx, "web", "update", rolledOut(5, image2))
			peak, events := w.result()
			t.Logf("peak unavailable %d over %d pod events", peak, events)
			if events < 10 {
				t.Fatalf("watcher saw only %d events", events)
			}
			if peak > 2 {
				t.Fatalf("%d pets unavailable at once; maxUnavailable is 2", peak)
			}
		})
	}
}

// OnDelete: a template change replaces no pet; a pet deleted by hand
// comes back with the new template.
func TestOnDelete(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("web", 3, false)
	set.Spec.Template.Spec.Containers[0].Image = image1
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	e.create(set)
	_, pets := e.waitSet(ctx, "web", "initial rollout", rolledOut(3, image1))
	before := uids(pets)
	e.setImage("web", image2)
	e.waitSet(ctx, "web", "new update revision observed", func(s *kennelv1.PetSet, _ []corev1.Pod) bool {
		return s.Status.ObservedGeneration == s.Generation && s.Status.UpdateRevision != s.Status.CurrentRevision
	})
	e.Consistently(3*time.Second, "OnDelete replaces no pet", e.samePets("web", before))
	if err := e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("web-0=%s web-1=%s web-2=%s", image1, image2, image1)
	e.waitSet(ctx, "web", "web-1 recreated with the new template", func(s *kennelv1.PetSet, pets []corev1.Pod) bool {
		return images(pets) == want && allReady(pets, 3) && s.Status.UpdatedReplicas == 1
	})
}

// samePets returns a check that the set's pets are still the pods of
// before, by name and UID.
func (e *env) samePets(name string, before map[string]types.UID) func(context.Context) error {
	return func(ctx context.Context) error {
		pets, err := e.Pets(ctx, name)
		if err != nil {
			return err
		}
		if got := uids(pets); !mapsEqual(got, before) {
			return fmt.Errorf("pets replaced: %v -> %v", before, got)
		}
		return nil
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// minReadySeconds: a pet counts as available only after being Ready that
// long, and the rolling update waits for it.
func TestMinReadySeconds(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("web", 2, false)
	set.Spec.MinReadySeconds = 6
	e.create(set)
	s, _ := e.waitSet(ctx, "web", "2 pets ready", func(s *kennelv1.PetSet, pets []corev1.Pod) bool {
		return allReady(pets, 2) && s.Status.ReadyReplicas == 2
	})
	readyAt := time.Now()
	if s.Status.AvailableReplicas == 2 {
		t.Fatalf("both pets available as soon as Ready: %+v", s.Status)
	}
	e.waitSet(ctx, "web", "2 pets available", func(s *kennelv1.PetSet, _ []corev1.Pod) bool { return s.Status.AvailableReplicas == 2 })
	if waited := time.Since(readyAt); waited < 2*time.Second {
		t.Fatalf("available after %s", waited)
	}
}

// A rollout onto a template whose pet never becomes Ready is reported
// stuck after the progress deadline; reverting the template makes the
// controller replace the stuck pet. Upstream StatefulSets stay stuck until
// the pod is deleted by hand (kubernetes#67250).
func TestStuckRolloutRecovers(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(4 * time.Minute)
	set := newPetSet("web", 3, true)
	set.Annotations = map[string]string{reconcile.ProgressDeadlineAnnotation: "5"}
	set.Spec.Template.Spec.Containers[0].Image = image1
	e.create(set)
	s1, pets := e.waitSet(ctx, "web", "initial rollout", rolledOut(3, image1))
	r1 := s1.Status.UpdateRevision
	before := uids(pets)
	// The broken template: its pets never become Ready.
	e.patch("web", map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{"kennel.dev/hold-ready": "true"}}}}})
	s2, _ := e.waitSet(ctx, "web", "Progressing=False/RolloutStuck", func(s *kennelv1.PetSet, _ []corev1.Pod) bool {
		c := condition(s, kennelv1.PetSetProgressing)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reconcile.ReasonRolloutStuck
	})
	c := condition(s2, kennelv1.PetSetProgressing)
	if !strings.Contains(c.Message, "web-2") || !strings.Contains(c.Message, s2.Status.UpdateRevision) {
		t.Fatalf("stuck message %q does not name web-2 and revision %s", c.Message, s2.Status.UpdateRevision)
	}
	if u := uids(e.pets(ctx, "web")); u["web-0"] != before["web-0"] || u["web-1"] != before["web-1"] {
		t.Fatalf("rollout went past the stuck pet")
	}
	// Revert: remove the annotation. Nobody deletes web-2.
	e.patch("web", map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{"kennel.dev/hold-ready": nil}}}}})
	s3, pets := e.waitSet(ctx, "web", "recovered at the first revision", rolledOut(3, image1))
	if s3.Status.UpdateRevision != r1 {
		t.Fatalf("update revision %s, want %s reused", s3.Status.UpdateRevision, r1)
	}
	if u := uids(pets); u["web-0"] != before["web-0"] || u["web-1"] != before["web-1"] {
		t.Fatalf("pets that never left the first revision were replaced")
	}
	e.waitSet(ctx, "web", "Progressing=True", func(s *kennelv1.PetSet, _ []corev1.Pod) bool {
		c := condition(s, kennelv1.PetSetProgressing)
		return c != nil && c.Status == metav1.ConditionTrue
	})
	if !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonReplacingUnhealthyPet) {
		t.Errorf("no %s event", reconcile.ReasonReplacingUnhealthyPet)
	}
}

// claimUIDs maps the namespace's claim names to UIDs.
func (e *env) claimUIDs(ctx context.Context) map[string]types.UID {
	e.T.Helper()
	list, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, c := range list.Items {
		out[c.Name] = c.UID
	}
	return out
}

func (e *env) claimNames(ctx context.Context) []string {
	e.T.Helper()
	list, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	var out []string
	for _, c := range list.Items {
		if c.DeletionTimestamp == nil {
			out = append(out, c.Name)
		}
	}
	ordinal.Sort(out)
	return out
}

// consistentClaims fails the test if, at any poll during d, the claims are
// not exactly want.
func (e *env) consistentClaims(what string, d time.Duration, want ...string) {
	e.T.Helper()
	e.Consistently(d, what, func(ctx context.Context) error {
		if got := e.claimNames(ctx); !slices.Equal(got, want) {
			return fmt.Errorf("claims %v, want %v", got, want)
		}
		return nil
	})
}

func (e *env) waitClaims(ctx context.Context, what string, want ...string) {
	e.T.Helper()
	var got []string
	if err := e.WaitFor(ctx, what, func(ctx context.Context) (bool, error) {
		got = e.claimNames(ctx)
		return slices.Equal(got, want), nil
	}); err != nil {
		e.T.Fatalf("%v: claims %v, want %v", err, got, want)
	}
}

// Claim retention through owner references and the garbage collector.
func TestClaimRetention(t *testing.T) {
	del, retain := appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	t.Run("whenScaled=Delete", func(t *testing.T) {
		e := setup(t, false)
		ctx := e.Context(3 * time.Minute)
		set := newPetSet("web", 3, true)
		set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: retain, WhenScaled: del}
		e.create(set)
		e.waitSet(ctx, "web", "3 pets", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 3) })
		e.patch("web", map[string]any{"spec": map[string]any{"replicas": 1}})
		e.waitSet(ctx, "web", "1 pet", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 1) })
		e.waitClaims(ctx, "claims of scaled-away pets deleted", "data-web-0")
		// Deleting the set keeps the remaining claim (whenDeleted=Retain).
		if err := e.kennel.KennelV1().PetSets(e.Namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitNoPets(ctx, "web")
		e.consistentClaims("claim retained after deleting the set (whenDeleted=Retain)", 2*time.Second, "data-web-0")
	})
	t.Run("whenDeleted=Delete", func(t *testing.T) {
		e := setup(t, false)
		ctx := e.Context(3 * time.Minute)
		set := newPetSet("web", 2, true)
		set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: del, WhenScaled: retain}
		e.create(set)
		e.waitSet(ctx, "web", "2 pets", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 2) })
		// A claim of the set controlled by someone else is left alone.
		foreign := e.foreignClaim(ctx, "data-web-5")
		e.patch("web", map[string]any{"spec": map[string]any{"replicas": 1}})
		e.waitSet(ctx, "web", "1 pet", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 1) })
		e.consistentClaims("claims retained on scale-down (whenScaled=Retain)", 2*time.Second, "data-web-0", "data-web-1", "data-web-5")
		if err := e.kennel.KennelV1().PetSets(e.Namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitClaims(ctx, "claims deleted with the set", "data-web-5")
		c, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, "data-web-5", metav1.GetOptions{})
		if err != nil || len(c.OwnerReferences) != 1 || c.OwnerReferences[0].UID != foreign.UID {
			t.Fatalf("foreign claim changed: %v %+v", err, c)
		}
	})
}

// foreignClaim creates a claim named like one of the set's, controlled by
// a ConfigMap.
func (e *env) foreignClaim(ctx context.Context, name string) *corev1.ConfigMap {
	e.T.Helper()
	cm, err := e.Client.CoreV1().ConfigMaps(e.Namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	tr := true
	claim := newPetSet("web", 1, true).Spec.VolumeClaimTemplates[0].DeepCopy()
	claim.Name = name
	claim.Labels = map[string]string{"app": "web"}
	claim.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, Controller: &tr}}
	if _, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		e.T.Fatal(err)
	}
	return cm
}

// ordinals.start set, raised, lowered and removed.
func TestStartOrdinals(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(4 * time.Minute)
	set := newPetSet("web", 2, false)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 3}
	e.create(set)
	names := func(want ...string) func(*kennelv1.PetSet, []corev1.Pod) bool {
		return func(_ *kennelv1.PetSet, pets []corev1.Pod) bool {
			var got []string
			for _, p := range pets {
				got = append(got, p.Name)
			}
			return slices.Equal(got, want) && allReady(pets, len(want))
		}
	}
	e.waitSet(ctx, "web", "pets 3,4", names("web-3", "web-4"))
	e.patch("web", map[string]any{"spec": map[string]any{"ordinals": map[string]any{"start": 5}}})
	e.waitSet(ctx, "web", "pets 5,6", names("web-5", "web-6"))
	e.patch("web", map[string]any{"spec": map[string]any{"ordinals": map[string]any{"start": 1}}})
	e.waitSet(ctx, "web", "pets 1,2", names("web-1", "web-2"))
	e.patch("web", map[string]any{"spec": map[string]any{"ordinals": nil}})
	e.waitSet(ctx, "web", "pets 0,1", names("web-0", "web-1"))
}

// Ordered teardown: deleting an opted-in set removes pets from the highest
// ordinal down, each gone before the next is deleted.
func TestOrderedTeardown(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("web", 4, false)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Annotations = map[string]string{reconcile.OrderedTeardownAnnotation: "true"}
	e.create(set)
	e.waitSet(ctx, "web", "4 pets and the finalizer", func(s *kennelv1.PetSet, pets []corev1.Pod) bool {
		return allReady(pets, 4) && slices.Contains(s.Finalizers, reconcile.TeardownFinalizer)
	})
	rec := e.RecordPods(ctx, "app=web")
	if err := e.kennel.KennelV1().PetSets(e.Namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, "set gone", func(ctx context.Context) (bool, error) {
		_, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := deletedOrder(rec); !slices.Equal(got, []string{"web-3", "web-2", "web-1", "web-0"}) {
		t.Fatalf("teardown order %v", got)
	}
	// Each pet was gone before the next began terminating.
	terminating := map[string]bool{}
	for _, ev := range rec.Events() {
		switch {
		case ev.Type == watch.Deleted:
			delete(terminating, ev.Name)
		case ev.Deleting:
			terminating[ev.Name] = true
		}
		if len(terminating) > 1 {
			t.Fatalf("two pets terminating at once: %v", terminating)
		}
	}

	// With --cascade=orphan the pets stay: ordered teardown stands aside.
	db := newPetSet("db", 2, false)
	db.Annotations = map[string]string{reconcile.OrderedTeardownAnnotation: "true"}
	e.create(db)
	_, pets := e.waitSet(ctx, "db", "2 pets and the finalizer", func(s *kennelv1.PetSet, pets []corev1.Pod) bool {
		return allReady(pets, 2) && slices.Contains(s.Finalizers, reconcile.TeardownFinalizer)
	})
	before := uids(pets)
	if _, err := e.KubectlInNamespace("delete", "petsets.kennel.dev", "db", "--cascade=orphan", "--wait=true", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	pets = e.pets(ctx, "db")
	if got := uids(pets); !mapsEqual(got, before) {
		t.Fatalf("orphan delete replaced or removed pets: %v -> %v", before, got)
	}
	for _, p := range pets {
		if p.DeletionTimestamp != nil || metav1.GetControllerOf(&p) != nil {
			t.Fatalf("pet %s deleting=%v owner=%v after orphan delete", p.Name, p.DeletionTimestamp != nil, metav1.GetControllerOf(&p))
		}
	}
}

// Reserved ordinals: ordinal 1 is taken out without renumbering; its claim
// is kept.
func TestReserveOrdinals(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 3, true))
	_, pets := e.waitSet(ctx, "web", "3 pets", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 3) })
	before := uids(pets)
	e.patch("web", map[string]any{"spec": map[string]any{"reserveOrdinals": []int{1}}})
	_, pets = e.waitSet(ctx, "web", "pets 0,2,3", func(s *kennelv1.PetSet, pets []corev1.Pod) bool {
		return allReady(pets, 3) && pets[0].Name == "web-0" && pets[1].Name == "web-2" && pets[2].Name == "web-3" && s.Status.ReadyReplicas == 3
	})
	if u := uids(pets); u["web-0"] != before["web-0"] || u["web-2"] != before["web-2"] {
		t.Fatalf("pets were renumbered or replaced")
	}
	e.waitClaims(ctx, "claims", "data-web-0", "data-web-1", "data-web-2", "data-web-3")
}
