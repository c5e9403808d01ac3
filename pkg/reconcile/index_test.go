package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	kennelfake "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/fake"
	kennelinformers "github.com/kennel-dev/kennel/pkg/generated/informers/externalversions"
)

func podNamed(ns, name string, owner types.UID) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)}}
	if owner != "" {
		tr := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kennel.dev/v1", Kind: "PetSet", Name: "x", UID: owner, Controller: &tr}}
	}
	return p
}

// TestIndexesFindOwnedOrphansAndClaims: a sync reads the set's own pods,
// the orphans of its namespace and its claims, nothing else.
func TestIndexesFindOwnedOrphansAndClaims(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	idx := simIndexer()
	for _, p := range []*corev1.Pod{
		podNamed("default", "web-0", set.UID), podNamed("default", "web-1", set.UID),
		podNamed("default", "db-0", "other-uid"), podNamed("default", "stray", ""),
		podNamed("elsewhere", "web-0", ""), podNamed("elsewhere", "web-1", "other-uid"),
	} {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ownedAndOrphans[*corev1.Pod](idx, set)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	sort.Strings(names)
	if want := []string{"default/stray", "default/web-0", "default/web-1"}; !slices.Equal(names, want) {
		t.Fatalf("pods %v, want %v", names, want)
	}

	s := newSim(t, set, newService("web"))
	s.set.Spec.VolumeClaimTemplates = append(s.set.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "logs"}})
	for _, name := range []string{"data-web-0", "data-web-12", "logs-web-1", "data-web-x", "data-webby-1", "data-web-db-1", "other-web-1"} {
		c := claimFor(name)
		if err := s.claimIdx.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := claimFor("data-web-1")
	elsewhere.Namespace = "elsewhere"
	if err := s.claimIdx.Add(elsewhere); err != nil {
		t.Fatal(err)
	}
	claims, err := s.control.setClaims(s.set)
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, c := range claims {
		names = append(names, c.Namespace+"/"+c.Name)
	}
	sort.Strings(names)
	if want := []string{"default/data-web-0", "default/data-web-12", "default/logs-web-1"}; !slices.Equal(names, want) {
		t.Fatalf("claims %v, want %v", names, want)
	}
}

// BenchmarkSyncBesideUnrelatedPods times one sync of a settled 3-pet set
// while the namespace holds other pods (other sets' pets): with the
// indexes the cost does not grow with them.
func BenchmarkSyncBesideUnrelatedPods(b *testing.B) {
	for _, others := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) { benchSettledSync(b, 3, others, false) })
	}
}

// BenchmarkSyncSettledSet times one sync of a settled Parallel set of
// each size: how the cost of a pass grows with the set's pets.
func BenchmarkSyncSettledSet(b *testing.B) {
	for _, pets := range []int{3, 100, 1000} {
		b.Run(fmt.Sprintf("pets=%d", pets), func(b *testing.B) { benchSettledSync(b, pets, 0, false) })
	}
}

// BenchmarkSyncPendingPetsWithClaims times one sync of a Parallel set
// whose pets all exist, with their claims, but wait to be scheduled (the
// claims not bound yet): the passes of a large scale-up with claims.
func BenchmarkSyncPendingPetsWithClaims(b *testing.B) {
	for _, pets := range []int{100, 1000} {
		b.Run(fmt.Sprintf("pets=%d", pets), func(b *testing.B) { benchSettledSync(b, pets, 0, true) })
	}
}

// benchSettledSync times syncs of a settled Parallel set of the given
// pets beside others pods of another owner, and fails if a pass writes.
// pending: the set has a claim template, its claims are cached and its
// pets are Pending on no node.
func benchSettledSync(b *testing.B, pets, others int, pending bool) {
	set := newSet("web", int32(pets), appsv1.ParallelPodManagement)
	if pending {
		set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	}
	kube, kennel := kubefake.NewClientset(), kennelfake.NewSimpleClientset(set)
	kf, pf := kubeinformers.NewSharedInformerFactory(kube, 0), kennelinformers.NewSharedInformerFactory(kennel, 0)
	c, err := NewController(context.Background(), kube, kennel, pf.Kennel().V1().PetSets(), kf.Core().V1().Pods(),
		kf.Core().V1().PersistentVolumeClaims(), kf.Core().V1().Services(), kf.Apps().V1().ControllerRevisions(),
		&eventLog{}, Options{Clock: &fakeClock{now: time.Unix(1e9, 0)}})
	if err != nil {
		b.Fatal(err)
	}
	add := func(idx cache.Indexer, obj any) {
		if err := idx.Add(obj); err != nil {
			b.Fatal(err)
		}
	}
	add(pf.Kennel().V1().PetSets().Informer().GetIndexer(), set)
	add(kf.Core().V1().Services().Informer().GetIndexer(), newService("web"))
	podIdx := kf.Core().V1().Pods().Informer().GetIndexer()
	for i := range pets {
		add(podIdx, pod(fmt.Sprintf("web-%d", i), map[string]string{"app": "web"}, set))
	}
	for i := range others {
		add(podIdx, podNamed("default", fmt.Sprintf("db-%d", i), "other-uid"))
	}
	key := cache.ObjectName{Namespace: "default", Name: "web"}
	ctx := klog.NewContext(context.Background(), logr.Discard())
	// A first sync stores the revision; cache it and label the pets with
	// it, so that the set is settled.
	if _, err := c.sync(ctx, key); err != nil {
		b.Fatal(err)
	}
	revs, err := kube.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 1 {
		b.Fatalf("revisions %v %v", revs, err)
	}
	add(kf.Apps().V1().ControllerRevisions().Informer().GetIndexer(), &revs.Items[0])
	for i := range pets {
		p := newPet(set, i, revs.Items[0].Name)
		p.UID = types.UID(fmt.Sprintf("pet-%d", i))
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if pending {
			p.Status = corev1.PodStatus{Phase: corev1.PodPending}
			add(kf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer(), newClaims(set, i)[0])
		}
		if err := podIdx.Update(p); err != nil {
			b.Fatal(err)
		}
	}
	c.exp.Forget(key)
	if _, err := c.sync(ctx, key); err != nil {
		b.Fatal(err)
	}
	writes := len(kube.Actions()) + len(kennel.Actions())
	for b.Loop() {
		if _, err := c.sync(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(kube.Actions()) + len(kennel.Actions()); n != writes {
		acts := slices.Concat(kube.Actions(), kennel.Actions())[writes:]
		b.Fatalf("a settled set made %d API calls: %v", n-writes, acts[:min(6, len(acts))])
	}
}
