package reconcile

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	core "k8s.io/client-go/testing"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func (s *sim) setImage(image string) {
	s.set.Spec.Template.Spec.Containers[0].Image = image
	s.set.Generation++
}

func (s *sim) revisions() []appsv1.ControllerRevision {
	list, err := s.client.AppsV1().ControllerRevisions(s.set.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return list.Items
}

func (s *sim) images() []string {
	var out []string
	for _, p := range s.livePods() {
		out = append(out, p.Spec.Containers[0].Image)
	}
	return out
}

// unavailable counts the desired pets that are missing or not available.
func (s *sim) unavailable() int {
	byName := map[string]*corev1.Pod{}
	for _, p := range s.livePods() {
		byName[p.Name] = p
	}
	n := 0
	for _, ord := range petSlots(s.set) {
		p := byName[s.set.Name+"-"+strconv.Itoa(ord)]
		if !isAvailable(p, s.set.Spec.MinReadySeconds, s.clock.Now()) {
			n++
		}
	}
	return n
}

func TestRollingUpdateAndRollbackReuseRevision(t *testing.T) {
	underBothPolicies(t, func(t *testing.T, policy appsv1.PodManagementPolicyType) {
		set := newSet("web", 3, policy)
		s := settledSim(t, set)
		r1 := s.set.Status.UpdateRevision
		if r1 == "" || s.set.Status.CurrentRevision != r1 || len(s.revisions()) != 1 {
			t.Fatalf("initial status %+v, %d revisions", s.set.Status, len(s.revisions()))
		}
		s.setImage("nginx:2")
		s.steps(60)
		r2 := s.set.Status.UpdateRevision
		if r2 == r1 || s.set.Status.CurrentRevision != r2 || !slices.Equal(s.images(), []string{"nginx:2", "nginx:2", "nginx:2"}) {
			t.Fatalf("after update: status %+v images %v", s.set.Status, s.images())
		}
		if !slices.Equal(s.deletes, names("web", 2, 1, 0)) {
			t.Fatalf("deletes %v, want highest first", s.deletes)
		}
		// Roll back to the first template: its revision is reused with a
		// higher number; no third revision appears.
		s.setImage("nginx")
		s.steps(60)
		if s.set.Status.UpdateRevision != r1 || s.set.Status.CurrentRevision != r1 || !slices.Equal(s.images(), []string{"nginx", "nginx", "nginx"}) {
			t.Fatalf("after rollback: status %+v images %v", s.set.Status, s.images())
		}
		revs := s.revisions()
		if len(revs) != 2 {
			t.Fatalf("%d revisions after rollback, want 2", len(revs))
		}
		for _, r := range revs {
			if r.Name == r1 && r.Revision != 3 {
				t.Fatalf("rolled-back revision %s has number %d, want 3", r.Name, r.Revision)
			}
		}
		for _, p := range s.livePods() {
			if petRevision(p) != r1 {
				t.Fatalf("pet %s at %s", p.Name, petRevision(p))
			}
		}
		s.assertNoViolations()
	})
}

func TestMaxUnavailableNeverExceeded(t *testing.T) {
	underBothPolicies(t, func(t *testing.T, policy appsv1.PodManagementPolicyType) {
		set := newSet("web", 6, policy)
		mu := intstr.FromInt32(2)
		set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: &mu}
		s := settledSim(t, set)
		s.setImage("nginx:2")
		peak := 0
		for range 80 {
			_ = s.step()
			peak = max(peak, s.unavailable())
		}
		if !slices.Equal(s.images(), slices.Repeat([]string{"nginx:2"}, 6)) {
			t.Fatalf("images %v", s.images())
		}
		if peak > 2 {
			t.Fatalf("%d pets unavailable at once, maxUnavailable 2", peak)
		}
		if peak < 2 {
			t.Fatalf("peak %d: maxUnavailable 2 never used", peak)
		}
		s.assertNoViolations()
	})
}

func TestPartitionedRolloutAndDeletedPetRevision(t *testing.T) {
	set := newSet("web", 4, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	r1 := s.set.Status.UpdateRevision
	part := int32(3)
	s.set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &part}
	s.setImage("nginx:2")
	s.steps(30)
	if want := []string{"nginx", "nginx", "nginx", "nginx:2"}; !slices.Equal(s.images(), want) {
		t.Fatalf("canary: images %v, want %v", s.images(), want)
	}
	if s.set.Status.CurrentRevision != r1 || s.set.Status.UpdatedReplicas != 1 || s.set.Status.CurrentReplicas != 3 {
		t.Fatalf("canary status %+v", s.set.Status)
	}
	// A pet below the partition deleted by hand comes back at the current
	// revision; one above it at the update revision.
	for _, name := range []string{"web-1", "web-3"} {
		if err := s.client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.steps(30)
	if want := []string{"nginx", "nginx", "nginx", "nginx:2"}; !slices.Equal(s.images(), want) {
		t.Fatalf("after deleting web-1 and web-3: images %v, want %v", s.images(), want)
	}
	// Phase two: partition 1.
	part = 1
	s.steps(40)
	if want := []string{"nginx", "nginx:2", "nginx:2", "nginx:2"}; !slices.Equal(s.images(), want) {
		t.Fatalf("phase two: images %v, want %v", s.images(), want)
	}
	part = 0
	s.steps(20)
	if s.set.Status.CurrentRevision != s.set.Status.UpdateRevision || s.set.Status.CurrentReplicas != 4 {
		t.Fatalf("final status %+v", s.set.Status)
	}
	s.assertNoViolations()
}

func TestOnDeleteUpdatesOnlyDeletedPets(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	s := settledSim(t, set)
	s.setImage("nginx:2")
	s.steps(20)
	if len(s.deletes) != 0 {
		t.Fatalf("OnDelete deleted %v", s.deletes)
	}
	if err := s.client.CoreV1().Pods("default").Delete(context.Background(), "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.steps(20)
	if want := []string{"nginx:2", "nginx", "nginx"}; !slices.Equal(s.images(), want) {
		t.Fatalf("images %v, want %v", s.images(), want)
	}
	if c := condition(s.set, kennelv1.PetSetReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready %+v under OnDelete", c)
	}
}

// A rollout onto a template whose pets never become Ready: after the
// progress deadline Progressing is False/RolloutStuck; reverting the
// template replaces the stuck pet without anyone deleting it.
func TestStuckRolloutRecoversOnRevert(t *testing.T) {
	underBothPolicies(t, func(t *testing.T, policy appsv1.PodManagementPolicyType) {
		set := newSet("web", 3, policy)
		set.Annotations = map[string]string{ProgressDeadlineAnnotation: "30"}
		s := settledSim(t, set)
		r1 := s.set.Status.UpdateRevision
		s.setImage("nginx:broken")
		s.hold["web-2"] = true // the kubelet never makes web-2 Ready again
		s.steps(60)
		if want := []string{"nginx", "nginx", "nginx:broken"}; !slices.Equal(s.images(), want) {
			t.Fatalf("rollout did not stop at the broken pet: %v", s.images())
		}
		s.wantStalled(ReasonRolloutStuck, "web-2")
		// Revert. The held pet is recreated by the controller; the
		// new pod is not held (the fix worked).
		// The broken pod stays not Ready for as long as it exists; its
		// replacement (made from the reverted template) is not held.
		s.setImage("nginx")
		deletesBefore := len(s.deletes)
		for range 30 {
			_ = s.step()
			if slices.Contains(s.deletes[deletesBefore:], "web-2") {
				delete(s.hold, "web-2")
			}
		}
		if !slices.Equal(s.images(), []string{"nginx", "nginx", "nginx"}) || !s.converged() {
			t.Fatalf("not recovered: images %v", s.images())
		}
		if !slices.Contains(s.deletes[deletesBefore:], "web-2") {
			t.Fatalf("web-2 not replaced by the controller: deletes %v", s.deletes)
		}
		if s.set.Status.UpdateRevision != r1 || s.set.Status.CurrentRevision != r1 {
			t.Fatalf("status %+v", s.set.Status)
		}
		if c := condition(s.set, kennelv1.PetSetProgressing); c == nil || c.Status != metav1.ConditionTrue {
			t.Fatalf("Progressing %+v after recovery", c)
		}
		if !s.events.has(ReasonReplacingUnhealthyPet) {
			t.Errorf("no %s event", ReasonReplacingUnhealthyPet)
		}
		s.assertNoViolations()
	})
}

func TestRetentionWhenScaledDelete(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	deleteClaims(set)
	s := settledSim(t, set)
	_ = s.step()
	owners := func(name string) string {
		c, err := s.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return describe(c.OwnerReferences)
	}
	if got := owners("data-web-2"); got != "PetSet/web*" {
		t.Fatalf("data-web-2 owners %q, want the set", got)
	}
	web2 := s.livePods()[2]
	s.setReplicas(2)
	s.refresh()
	if _, err := s.sync(); err != nil {
		t.Fatal(err)
	}
	// The claim of the condemned pet is owned by that pet before it goes.
	if got := owners("data-web-2"); got != "PetSet/web*,Pod/web-2" {
		t.Fatalf("data-web-2 owners %q after scale-down", got)
	}
	c, _ := s.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-2", metav1.GetOptions{})
	if c.OwnerReferences[1].UID != web2.UID {
		t.Fatalf("pet ref uid %s, want %s", c.OwnerReferences[1].UID, web2.UID)
	}
	if got := owners("data-web-1"); got != "PetSet/web*" {
		t.Fatalf("data-web-1 owners %q", got)
	}
}

func TestOrderedTeardown(t *testing.T) {
	set := newSet("web", 4, appsv1.ParallelPodManagement)
	set.Annotations = map[string]string{OrderedTeardownAnnotation: "true"}
	s := settledSim(t, set)
	if !hasFinalizer(s.set) {
		t.Fatalf("finalizer not added: %v", s.set.Finalizers)
	}
	now := metav1.NewTime(s.clock.Now())
	s.set.DeletionTimestamp = &now
	s.deletes = nil
	maxTerminating := 0
	for range 30 {
		_ = s.step()
		n := 0
		for _, p := range s.livePods() {
			if isTerminating(p) {
				n++
			}
		}
		maxTerminating = max(maxTerminating, n)
	}
	if !slices.Equal(s.deletes, names("web", 3, 2, 1, 0)) {
		t.Fatalf("teardown deletes %v, want web-3..web-0", s.deletes)
	}
	if maxTerminating > 1 {
		t.Fatalf("%d pets terminating at once", maxTerminating)
	}
	if hasFinalizer(s.set) || len(s.livePods()) != 0 {
		t.Fatalf("finalizer %v, pods %v", s.set.Finalizers, s.podNames())
	}
}

func TestReservedOrdinalKeepsPetsAndClaims(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	web0 := s.livePods()[0].UID
	s.set.Spec.ReserveOrdinals = []int32{1}
	s.set.Generation++
	s.steps(30)
	if got := s.podNames(); !slices.Equal(got, []string{"web-0", "web-2", "web-3"}) {
		t.Fatalf("pets %v, want web-0 web-2 web-3", got)
	}
	if s.livePods()[0].UID != web0 {
		t.Fatalf("web-0 was replaced")
	}
	if got := s.claims(); !slices.Contains(got, "data-web-1") {
		t.Fatalf("claims of the reserved ordinal deleted: %v", got)
	}
	if s.set.Status.Replicas != 3 || s.set.Status.ReadyReplicas != 3 {
		t.Fatalf("status %+v", s.set.Status)
	}
	s.assertNoViolations()
}

func TestClaimResize(t *testing.T) {
	yes, no := true, false
	set := newSet("web", 2, appsv1.ParallelPodManagement)
	class := "fast"
	set.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = &class
	s := settledSim(t, set,
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, AllowVolumeExpansion: &yes},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fixed"}, AllowVolumeExpansion: &no})
	s.set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("5Gi")
	s.set.Generation++
	_ = s.step()
	_ = s.step()
	for _, name := range []string{"data-web-0", "data-web-1"} {
		c, err := s.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if q := c.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "5Gi" {
			t.Fatalf("%s requests %s", name, q.String())
		}
	}
	if c := condition(s.set, kennelv1.PetSetVolumeClaimsResized); c == nil || c.Status != metav1.ConditionTrue {
		// Unbound claims count as done: they are provisioned at the request.
		t.Fatalf("condition %+v", c)
	}
	// A class that does not allow expansion: refused with a reason.
	s2 := newSim(t, newSet("db", 1, appsv1.ParallelPodManagement), newService("db"),
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fixed"}, AllowVolumeExpansion: &no})
	fixed := "fixed"
	s2.set.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = &fixed
	s2.run(20)
	s2.set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("5Gi")
	_ = s2.step()
	c := condition(s2.set, kennelv1.PetSetVolumeClaimsResized)
	if c == nil || c.Reason != ReasonResizeNotAllowed || !strings.Contains(c.Message, "does not allow volume expansion") {
		t.Fatalf("condition %+v", c)
	}
}

// Pets left by a StatefulSet carry its revision name; the StatefulSet's
// orphaned revision (written with the API server's defaults) is adopted as
// the update revision and no pet is replaced.
func TestAdoptedStatefulSetRevisionIsCurrent(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	set.Spec.VolumeClaimTemplates = nil
	set.Spec.Template.Spec.Volumes = nil
	const stsRev = "web-5d8f9c7b6"
	orphan := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: stsRev, Namespace: "default", Labels: map[string]string{"app": "web", appsv1.ControllerRevisionHashLabelKey: "5d8f9c7b6"}},
		Revision:   1,
	}
	orphan.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"web"}},` +
		`"spec":{"containers":[{"image":"nginx","imagePullPolicy":"Always","name":"c","resources":{},"terminationMessagePath":"/dev/termination-log",` +
		`"terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",` +
		`"securityContext":{},"terminationGracePeriodSeconds":30}}}}`)
	objs := []runtime.Object{newService("web"), orphan}
	for i := range 2 {
		pod := newPet(set, i, stsRev)
		pod.UID = types.UID("sts-pod-" + strconv.Itoa(i))
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		objs = append(objs, pod)
	}
	s := newSim(t, set, objs...)
	s.steps(10)
	if len(s.deletes) != 0 || len(s.creates) != 0 {
		t.Fatalf("pets replaced: creates %v deletes %v", s.creates, s.deletes)
	}
	if s.set.Status.UpdateRevision != stsRev || s.set.Status.CurrentRevision != stsRev {
		t.Fatalf("status %+v, want revision %s", s.set.Status, stsRev)
	}
	rev, err := s.client.AppsV1().ControllerRevisions("default").Get(context.Background(), stsRev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(rev); ref == nil || ref.UID != set.UID {
		t.Fatalf("revision not adopted: %+v", rev.OwnerReferences)
	}
	if n := len(s.revisions()); n != 1 {
		t.Fatalf("%d revisions, want the adopted one only", n)
	}
}

func TestRevisionHistoryTrimmed(t *testing.T) {
	set := newSet("web", 2, appsv1.ParallelPodManagement)
	limit := int32(1)
	set.Spec.RevisionHistoryLimit = &limit
	s := settledSim(t, set)
	for i := 2; i <= 5; i++ {
		s.setImage("nginx:" + strconv.Itoa(i))
		s.steps(30)
	}
	revs := s.revisions()
	var names []string
	for _, r := range revs {
		names = append(names, r.Name)
	}
	// The update (= current) revision plus one unused one.
	if len(revs) != 2 || !slices.Contains(names, s.set.Status.UpdateRevision) {
		t.Fatalf("revisions %v, update %s", names, s.set.Status.UpdateRevision)
	}
	for _, r := range revs {
		if r.Name != s.set.Status.UpdateRevision && r.Revision != 4 {
			t.Fatalf("kept revision %s number %d, want the newest unused (4)", r.Name, r.Revision)
		}
	}
}

// TestRolloutTrimsHistoryInTheSamePass: the pass whose status makes the
// update revision current also trims the revision that goes out of use,
// so a settled set writes nothing more (fault injection saw a revision
// deleted seconds after the set had settled, by a later pass).
func TestRolloutTrimsHistoryInTheSamePass(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	limit := int32(1)
	set.Spec.RevisionHistoryLimit = &limit
	s := newSim(t, set, newService("web"))
	s.converge(40, "start")
	for _, image := range []string{"nginx:2", "nginx:3"} {
		s.set.Spec.Template.Spec.Containers[0].Image = image
		s.set.Generation++
		for range 60 {
			if err := s.step(); err != nil {
				t.Fatal(err)
			}
			if s.set.Status.CurrentRevision == s.set.Status.UpdateRevision && s.converged() {
				break
			}
		}
	}
	if s.set.Status.CurrentRevision != s.set.Status.UpdateRevision {
		t.Fatalf("rollout not complete: %+v", s.set.Status)
	}
	before := len(s.client.Actions())
	for range 3 {
		if err := s.step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range s.client.Actions()[before:] {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			t.Errorf("settled set wrote: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// templateRevision is the name of the revision the set's template gets
// (with no hash collision).
func templateRevision(set *kennelv1.PetSet) string {
	rev, err := newRevision(set, 1, 0)
	if err != nil {
		panic(err)
	}
	return rev.Name
}

// Deleting with orphan propagation: the controller deletes no pet and lets
// the finalizer go once the garbage collector has released them.
func TestOrderedTeardownStandsAsideForOrphaning(t *testing.T) {
	set := newSet("web", 3, appsv1.ParallelPodManagement)
	set.Annotations = map[string]string{OrderedTeardownAnnotation: "true"}
	s := settledSim(t, set)
	now := metav1.NewTime(s.clock.Now())
	s.set.DeletionTimestamp = &now
	s.set.Finalizers = append(s.set.Finalizers, metav1.FinalizerOrphanDependents)
	s.deletes = nil
	s.steps(5)
	if len(s.deletes) != 0 || !hasFinalizer(s.set) {
		t.Fatalf("deletes %v finalizers %v while orphaning", s.deletes, s.set.Finalizers)
	}
	// The garbage collector releases the pets.
	for _, p := range s.livePods() {
		p.OwnerReferences = nil
		if _, err := s.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.step()
	if hasFinalizer(s.set) || len(s.deletes) != 0 || len(s.livePods()) != 3 {
		t.Fatalf("finalizers %v deletes %v pods %v", s.set.Finalizers, s.deletes, s.podNames())
	}
}

// Once the set has converged (claims carry the owners the policy asks for,
// the revision exists), passes write nothing: no owner-reference or
// revision churn.
func TestSettledPassesWriteNothing(t *testing.T) {
	set := newSet("web", 3, appsv1.ParallelPodManagement)
	deleteClaims(set)
	s := settledSim(t, set)
	s.steps(3)
	updates := func() int {
		n := 0
		for _, a := range s.client.Actions() {
			if v := a.GetVerb(); v == "create" || v == "update" || v == "patch" || v == "delete" {
				n++
			}
		}
		return n
	}
	before := updates()
	s.steps(5)
	if after := updates(); after != before {
		t.Fatalf("%d writes in settled passes", after-before)
	}
}

// TestStaleRevisionCacheWritesOnce: while the revision cache does not show
// the controller's own writes (its watch relisting after an API server
// restart), passes must not create the same revision again (fault
// injection: a failing create on every pass of a settled set). The same
// record keeps a trimmed revision from being deleted again; this test does
// not reach a trim.
func TestStaleRevisionCacheWritesOnce(t *testing.T) {
	set := newSet("web", 2, appsv1.ParallelPodManagement)
	s := settledSim(t, set)
	s.setImage("nginx:2")
	for i := 0; s.set.Status.CurrentRevision != s.set.Status.UpdateRevision || !s.converged(); i++ {
		if i == 60 {
			t.Fatalf("rollout to nginx:2 not complete: %+v", s.set.Status)
		}
		_ = s.step()
	}
	zero := int32(0)
	s.set.Spec.RevisionHistoryLimit = &zero
	s.stale = true // no cache shows what comes next
	s.setImage("nginx:3")
	for range 4 {
		if _, err := s.sync(); err != nil {
			t.Logf("sync: %v", err)
		}
	}
	creates, deletes := map[string]int{}, map[string]int{}
	for _, a := range s.client.Actions() {
		if a.GetResource().Resource != "controllerrevisions" {
			continue
		}
		switch a := a.(type) {
		case core.CreateAction:
			creates[a.GetObject().(*appsv1.ControllerRevision).Name]++
		case core.DeleteAction:
			deletes[a.GetName()]++
		}
	}
	for name, n := range creates {
		if n > 1 {
			t.Errorf("revision %s created %d times", name, n)
		}
	}
	for name, n := range deletes {
		if n > 1 {
			t.Errorf("revision %s deleted %d times", name, n)
		}
	}
}
