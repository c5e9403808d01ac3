package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	kennelfake "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/fake"
	kennelinformers "github.com/kennel-dev/kennel/pkg/generated/informers/externalversions"
)

// fixture is a Controller over fake clientsets whose informer indexers are
// seeded directly (the informers are never started).
type fixture struct {
	t      *testing.T
	kube   *kubefake.Clientset
	kennel *kennelfake.Clientset
	c      *Controller
	kf     kubeinformers.SharedInformerFactory
	pf     kennelinformers.SharedInformerFactory
}

func newFixture(t *testing.T, sets []*kennelv1.PetSet, kubeObjs ...runtime.Object) *fixture {
	t.Helper()
	var setObjs []runtime.Object
	for _, s := range sets {
		setObjs = append(setObjs, s)
	}
	f := &fixture{t: t, kube: kubefake.NewClientset(kubeObjs...), kennel: kennelfake.NewSimpleClientset(setObjs...)}
	f.kf = kubeinformers.NewSharedInformerFactory(f.kube, 0)
	f.pf = kennelinformers.NewSharedInformerFactory(f.kennel, 0)
	c, err := NewController(context.Background(), f.kube, f.kennel,
		f.pf.Kennel().V1().PetSets(), f.kf.Core().V1().Pods(),
		f.kf.Core().V1().PersistentVolumeClaims(), f.kf.Core().V1().Services(),
		f.kf.Apps().V1().ControllerRevisions(),
		&eventLog{}, Options{Clock: &fakeClock{now: time.Unix(1e9, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, s := range sets {
		if err := f.pf.Kennel().V1().PetSets().Informer().GetIndexer().Add(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range kubeObjs {
		var idx cache.Indexer
		switch o.(type) {
		case *corev1.Pod:
			idx = f.kf.Core().V1().Pods().Informer().GetIndexer()
		case *corev1.Service:
			idx = f.kf.Core().V1().Services().Informer().GetIndexer()
		case *corev1.PersistentVolumeClaim:
			idx = f.kf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer()
		}
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// podActions returns the verbs and names of pod writes.
func (f *fixture) podActions() []string {
	var out []string
	for _, a := range f.kube.Actions() {
		if a.GetResource().Resource != "pods" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		switch a.GetVerb() {
		case "patch":
			out = append(out, "patch "+a.(core.PatchAction).GetName()+" "+string(a.(core.PatchAction).GetPatch()))
		case "create", "update":
			out = append(out, a.GetVerb()+" "+a.(core.CreateAction).GetObject().(*corev1.Pod).Name)
		case "delete":
			out = append(out, "delete "+a.(core.DeleteAction).GetName())
		default:
			out = append(out, a.GetVerb())
		}
	}
	return out
}

func pod(name string, lbls map[string]string, owner *kennelv1.PetSet) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("pod-" + name), Labels: lbls}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, controllerKind)}
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	return p
}

func TestAdoptsOnlyMatchingOrphansWithPetNames(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	other := newSet("other", 1, appsv1.OrderedReadyPodManagement)
	app := map[string]string{"app": "web"}
	f := newFixture(t, []*kennelv1.PetSet{set, other},
		newService("web"),
		pod("web-0", app, nil),                            // orphan, matching: adopted
		pod("web-x", app, nil),                            // orphan, name does not parse: left alone
		pod("web-1", map[string]string{"app": "db"}, nil), // orphan, selector does not match
		pod("other-0", app, other),                        // controlled by another set
	)
	// web-1 is held by a pod the set may not adopt: the set reports it and
	// retries with backoff.
	_, err := f.c.sync(context.Background(), cache.ObjectName{Namespace: "default", Name: "web"})
	var blocked *BlockedError
	if !errors.As(err, &blocked) || blocked.Reason != ReasonPetNameTaken {
		t.Fatalf("sync error %v, want %s", err, ReasonPetNameTaken)
	}
	acts := f.podActions()
	var adopted []string
	for _, a := range acts {
		if strings.HasPrefix(a, "patch ") && strings.Contains(a, "ownerReferences") {
			adopted = append(adopted, strings.Fields(a)[1])
			if !strings.Contains(a, `"uid":"pod-web-0"`) || !strings.Contains(a, `"controller":true`) {
				t.Errorf("adoption patch without uid precondition or controller flag: %s", a)
			}
		}
	}
	if len(adopted) != 1 || adopted[0] != "web-0" {
		t.Fatalf("adopted %v, want [web-0]; actions %v", adopted, acts)
	}
	// The adopted web-0 counts as the set's pet and gets its identity
	// labels; it is not created again.
	labelled := slices.ContainsFunc(acts, func(a string) bool {
		return strings.HasPrefix(a, "patch web-0 ") && strings.Contains(a, `"kennel.dev/pet-index":"0"`)
	})
	if !labelled || slices.Contains(acts, "create web-0") {
		t.Errorf("actions %v, want web-0 updated (identity labels) and not created", acts)
	}
}

func TestDoesNotAdoptForReplacedSet(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{set}, newService("web"), pod("web-0", map[string]string{"app": "web"}, nil))
	// The API server holds a newer set of the same name (another UID).
	fresh := set.DeepCopy()
	fresh.UID = "uid-new"
	if err := f.kennel.Tracker().Update(kennelv1.SchemeGroupVersion.WithResource("petsets"), fresh, "default"); err != nil {
		t.Fatal(err)
	}
	_, err := f.c.sync(context.Background(), cache.ObjectName{Namespace: "default", Name: "web"})
	var blocked *BlockedError
	if !errors.As(err, &blocked) || blocked.Reason != ReasonPetNameTaken {
		t.Fatalf("sync error %v, want %s (web-0 not adopted, so its name is taken)", err, ReasonPetNameTaken)
	}
	for _, a := range f.podActions() {
		if strings.HasPrefix(a, "patch web-0") {
			t.Fatalf("adopted for a stale set: %s", a)
		}
	}
}

func TestReleasesOwnedPodsThatStopMatching(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{set}, newService("web"),
		pod("web-0", map[string]string{"app": "elsewhere"}, set))
	// Released, web-0 still holds the pet's name: the set says so.
	_, err := f.c.sync(context.Background(), cache.ObjectName{Namespace: "default", Name: "web"})
	var blocked *BlockedError
	if !errors.As(err, &blocked) || blocked.Reason != ReasonPetNameTaken {
		t.Fatalf("sync error %v, want %s", err, ReasonPetNameTaken)
	}
	acts := f.podActions()
	if len(acts) == 0 || !strings.Contains(acts[0], `"$patch":"delete"`) || !strings.Contains(acts[0], string(set.UID)) {
		t.Fatalf("actions %v, want a release patch first", acts)
	}
	live, err := f.kube.CoreV1().Pods("default").Get(context.Background(), "web-0", metav1.GetOptions{})
	if err != nil || metav1.GetControllerOf(live) != nil {
		t.Fatalf("web-0 still controlled after release: %v %+v", err, live.OwnerReferences)
	}
}

func TestPodEventsObserveExpectationsAndEnqueueOwner(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{set})
	key := cache.ObjectName{Namespace: "default", Name: "web"}
	p := pod("web-0", map[string]string{"app": "web"}, set)

	f.c.exp.ExpectCreate(key, "web-0")
	f.c.addPod(p)
	if !f.c.exp.Satisfied(key) {
		t.Fatal("add event did not observe the create")
	}
	f.c.exp.ExpectDelete(key, p.Name, p.UID)
	deleting := p.DeepCopy()
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	deleting.ResourceVersion = "2"
	f.c.updatePod(p, deleting)
	if !f.c.exp.Satisfied(key) {
		t.Fatal("update to terminating did not observe the delete")
	}
	f.c.exp.ExpectDelete(key, p.Name, p.UID)
	f.c.deletePod(cache.DeletedFinalStateUnknown{Key: "default/web-0", Obj: p})
	if !f.c.exp.Satisfied(key) {
		t.Fatal("tombstone did not observe the delete")
	}
	if n := f.c.queue.Len(); n != 1 {
		t.Fatalf("queue length %d, want the owner once", n)
	}
	got, _ := f.c.queue.Get()
	if got != key {
		t.Fatalf("queued %q", got)
	}
	f.c.queue.Done(got)

	// An orphan enqueues every set whose selector matches it.
	f.c.addPod(pod("web-7", map[string]string{"app": "web"}, nil))
	if got, _ := f.c.queue.Get(); got != key {
		t.Fatalf("orphan enqueued %q", got)
	}
}

// A pass that listed the pets just before the informer showed the last of
// its deletes finds the expectations satisfied when it checks them, with
// the pets still live in its list: it must not delete them again.
func TestListTakenBeforeDeletesSeenIsNotActedOn(t *testing.T) {
	set := newSet("web", 0, appsv1.ParallelPodManagement)
	app := map[string]string{"app": "web"}
	pets := []*corev1.Pod{pod("web-0", app, set), pod("web-1", app, set)}
	f := newFixture(t, []*kennelv1.PetSet{set}, newService("web"), pets[0], pets[1])
	key := cache.ObjectName{Namespace: "default", Name: "web"}
	ctx := context.Background()
	deletes := func() int {
		n := 0
		for _, a := range f.podActions() {
			if strings.HasPrefix(a, "delete ") {
				n++
			}
		}
		return n
	}
	if _, err := f.c.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := deletes(); n != 2 {
		t.Fatalf("scale-down to 0 deleted %d pets, want 2; actions %v", n, f.podActions())
	}
	// The next pass lists the pets now, then the informer shows both
	// terminating before the pass checks its expectations.
	idx := f.kf.Core().V1().Pods().Informer().GetIndexer()
	stale, err := ownedAndOrphans[*corev1.Pod](idx, set)
	if err != nil || len(stale) != 2 {
		t.Fatalf("listed %d pets, %v", len(stale), err)
	}
	for _, p := range pets {
		terminating := p.DeepCopy()
		now := metav1.Now()
		terminating.DeletionTimestamp, terminating.ResourceVersion = &now, "2"
		if err := idx.Update(terminating); err != nil {
			t.Fatal(err)
		}
		f.c.updatePod(p, terminating)
	}
	if !f.c.exp.Satisfied(key) {
		t.Fatal("the informer's events did not satisfy the delete expectations")
	}
	if _, err := f.c.control.Sync(ctx, set, stale); err != nil {
		t.Fatal(err)
	}
	if n := deletes(); n != 2 {
		t.Fatalf("a pass over the list taken before the deletes were seen deleted again: %d deletes, want 2; actions %v", n, f.podActions())
	}
	// A pass that lists after the events sees the pets terminating.
	if _, err := f.c.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := deletes(); n != 2 {
		t.Fatalf("%d deletes after a current pass, want 2", n)
	}
}

func TestServiceAndClaimEventsEnqueueSets(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{set})
	f.c.serviceChanged(newService("web"))
	if got, _ := f.c.queue.Get(); got != (cache.ObjectName{Namespace: "default", Name: "web"}) {
		t.Fatalf("service event enqueued %q", got)
	}
	f.c.queue.Done(cache.ObjectName{Namespace: "default", Name: "web"})
	f.c.serviceChanged(newService("unrelated"))
	if f.c.queue.Len() != 0 {
		t.Fatal("unrelated service enqueued a set")
	}
	claim := newClaims(set, 0)[0]
	f.c.claimChanged(cache.DeletedFinalStateUnknown{Obj: claim})
	if got, _ := f.c.queue.Get(); got != (cache.ObjectName{Namespace: "default", Name: "web"}) {
		t.Fatalf("claim event enqueued %q", got)
	}
}

func TestSyncOfDeletedSetForgetsExpectations(t *testing.T) {
	f := newFixture(t, nil)
	f.c.exp.ExpectCreate(cache.ObjectName{Namespace: "default", Name: "gone"}, "gone-0")
	if _, err := f.c.sync(context.Background(), cache.ObjectName{Namespace: "default", Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	if !f.c.exp.Satisfied(cache.ObjectName{Namespace: "default", Name: "gone"}) {
		t.Fatal("expectations of a deleted set kept")
	}
}

func TestStatusUpdaterRetriesOnConflict(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	client := kennelfake.NewSimpleClientset(set)
	calls := 0
	client.PrependReactor("update", "petsets", func(a core.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		calls++
		if calls == 1 {
			return true, nil, errConflict()
		}
		return false, nil, nil
	})
	u := NewStatusUpdater(client)
	status := &kennelv1.PetSetStatus{Replicas: 1, ObservedGeneration: 1}
	if err := u.UpdatePetSetStatus(context.Background(), set, status); err != nil {
		t.Fatal(err)
	}
	got, err := client.KennelV1().PetSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || got.Status.Replicas != 1 {
		t.Fatalf("calls %d, status %+v", calls, got.Status)
	}
}

func errConflict() error {
	return apierrors.NewConflict(kennelv1.Resource("petsets"), "web", errors.New("stale"))
}

// fakeControl is a SetControl returning canned results.
type fakeControl struct {
	requeue time.Duration
	err     error
	syncs   int
}

func (f *fakeControl) Sync(context.Context, *kennelv1.PetSet, []*corev1.Pod) (time.Duration, error) {
	f.syncs++
	return f.requeue, f.err
}

func TestProcessNextBacksOffOnErrorsAndCountsMetrics(t *testing.T) {
	set := newSet("web", 1, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{set})
	reg := prometheus.NewRegistry()
	f.c.metrics = NewMetrics(reg)
	fc := &fakeControl{err: errors.New("boom")}
	f.c.control = fc
	key := cache.ObjectName{Namespace: "default", Name: "web"}
	ctx := context.Background()

	f.c.queue.Add(key)
	if !f.c.processNext(ctx) {
		t.Fatal("queue shut down")
	}
	if n := f.c.queue.NumRequeues(key); n != 1 {
		t.Fatalf("requeues after an error: %d, want 1 (rate limited)", n)
	}
	if got := counterValue(t, reg, "kennel_petset_sync_errors_total"); got != 1 {
		t.Fatalf("sync errors %v", got)
	}

	fc.err = nil
	fc.requeue = time.Hour
	f.c.queue.Add(key) // as the rate limiter would, later
	if !f.c.processNext(ctx) {
		t.Fatal("queue shut down")
	}
	if n := f.c.queue.NumRequeues(key); n != 0 {
		t.Fatalf("requeues after a success: %d, want the backoff forgotten", n)
	}
	if got := counterValue(t, reg, "kennel_petset_syncs_total"); got != 2 || fc.syncs != 2 {
		t.Fatalf("syncs metric %v, control syncs %d", got, fc.syncs)
	}
	if f.c.queue.Len() != 0 {
		t.Fatalf("requeueAfter=1h queued the set at once")
	}
}

// counterValue returns the value of the named counter in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// namespaceTerminatingErr is what the API server answers a create in a
// namespace that is being deleted.
func namespaceTerminatingErr(resource, name string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: resource + ` "` + name + `" is forbidden: unable to create new content in namespace default because it is being terminated`,
		Details: &metav1.StatusDetails{Name: name, Kind: resource, Causes: []metav1.StatusCause{{
			Type: corev1.NamespaceTerminatingCause, Message: "namespace default is being terminated", Field: "metadata.namespace",
		}}},
	}}
}

// A pass refused because its namespace is being deleted is not retried:
// every retry would be refused again until the namespace, and the set with
// it, is gone. Other errors still back off.
func TestProcessNextDropsPassesInATerminatingNamespace(t *testing.T) {
	for _, tc := range []struct {
		name        string
		createErr   error
		wantRequeue int
	}{
		{"namespace terminating", namespaceTerminatingErr("pods", "web-0"), 0},
		{"other forbidden", apierrors.NewForbidden(corev1.Resource("pods"), "web-0", errors.New("quota")), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := newSet("web", 2, appsv1.ParallelPodManagement)
			f := newFixture(t, []*kennelv1.PetSet{set}, newService("web"))
			f.kube.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
				return true, nil, tc.createErr
			})
			key := cache.ObjectName{Namespace: "default", Name: "web"}
			f.c.queue.Add(key)
			if !f.c.processNext(context.Background()) {
				t.Fatal("queue shut down")
			}
			if creates := f.podActions(); len(creates) == 0 {
				t.Fatal("the pass tried no create")
			}
			if n := f.c.queue.NumRequeues(key); n != tc.wantRequeue {
				t.Fatalf("requeues %d, want %d", n, tc.wantRequeue)
			}
		})
	}
}

func TestNamespaceTerminatingSeenThroughWrapping(t *testing.T) {
	refused := namespaceTerminatingErr("controllerrevisions", "web-1")
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("revision web-1: %w", refused), true},
		{errors.Join(nil, fmt.Errorf("create pet: %w", refused)), true},
		{apierrors.NewForbidden(corev1.Resource("pods"), "web-0", errors.New("quota")), false},
		{errors.New("unable to create new content in namespace default because it is being terminated"), false},
	} {
		if got := namespaceTerminating(tc.err); got != tc.want {
			t.Errorf("namespaceTerminating(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
