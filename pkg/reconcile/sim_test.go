package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	kennelfake "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/fake"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventLog is an EventRecorder that keeps "<type> <reason> <message>" lines.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (e *eventLog) Event(_ runtime.Object, eventtype, reason, message string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, eventtype+" "+reason+" "+message)
}

func (e *eventLog) Eventf(obj runtime.Object, eventtype, reason, format string, args ...any) {
	e.Event(obj, eventtype, reason, fmt.Sprintf(format, args...))
}

func (e *eventLog) AnnotatedEventf(obj runtime.Object, _ map[string]string, eventtype, reason, format string, args ...any) {
	e.Eventf(obj, eventtype, reason, format, args...)
}

func (e *eventLog) has(reason string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.events {
		if strings.Contains(ev, " "+reason+" ") {
			return true
		}
	}
	return false
}

// memStatus is a StatusUpdater that keeps the last status written.
type memStatus struct {
	mu     sync.Mutex
	writes int
	last   *kennelv1.PetSetStatus
}

// Latest returns the set: the simulator's set always shows the last write.
func (m *memStatus) Latest(set *kennelv1.PetSet) *kennelv1.PetSet { return set }

func (m *memStatus) UpdatePetSetStatus(_ context.Context, _ *kennelv1.PetSet, status *kennelv1.PetSetStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	m.last = status.DeepCopy()
	return nil
}

// sim is a small cluster simulator: a fake clientset whose pod deletes are
// graceful (the pod is marked terminating and removed on the next world
// step), a kubelet that makes pods Running and Ready, informer-like caches
// rebuilt from the fake's state, and invariant checks on every create.
type sim struct {
	t        *testing.T
	client   *fake.Clientset
	clock    *fakeClock
	events   *eventLog
	status   *memStatus
	exp      *expectations
	control  *defaultSetControl
	set      *kennelv1.PetSet
	podIdx   cache.Indexer
	claimIdx cache.Indexer
	svcIdx   cache.Indexer
	revIdx   cache.Indexer

	mu      sync.Mutex
	uid     int
	creates []string        // pod names in creation order
	deletes []string        // pod names in deletion order
	hold    map[string]bool // pets kept NotReady by the kubelet
	holdIf  func(*corev1.Pod) bool
	fail    map[string]bool // pets the kubelet makes Failed once
	// holdAhead plays other sets queued for a pass or claims queued for
	// volumes.
	holdAhead bool
	stale     bool // when true, caches are not refreshed
	// looseOrder skips the OrderedReady creation check: with a stale cache
	// the world may have changed (a pet failed) since the controller looked.
	looseOrder bool
	violated   []string            // invariant violations seen by reactors
	logger     logr.Logger         // the controller's logger in Sync
	liveAt     map[string][]string // per create, the ready pets at that moment
}

func newSet(name string, replicas int32, policy appsv1.PodManagementPolicyType) *kennelv1.PetSet {
	return &kennelv1.PetSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1},
		Spec: kennelv1.PetSetSpec{
			Replicas:            &replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			ServiceName:         name,
			PodManagementPolicy: policy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "nginx"}},
					Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func newService(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
}

func newSim(t *testing.T, set *kennelv1.PetSet, objs ...runtime.Object) *sim {
	t.Helper()
	s := &sim{
		t:        t,
		client:   fake.NewClientset(objs...),
		clock:    &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		events:   &eventLog{},
		status:   &memStatus{},
		set:      set,
		podIdx:   simIndexer(),
		claimIdx: simIndexer(),
		svcIdx:   simIndexer(),
		revIdx:   simIndexer(),
		hold:     map[string]bool{},
		fail:     map[string]bool{},
		liveAt:   map[string][]string{},
		logger:   logr.Discard(),
	}
	s.exp = newExpectations(s.clock)
	d := s.deps()
	d.finalizers = simFinalizers{s}
	s.control = newSetControl(d)

	s.client.PrependReactor("create", "pods", s.onCreatePod)
	s.client.PrependReactor("delete", "pods", s.onDeletePod)
	s.client.PrependReactor("create", "persistentvolumeclaims", func(a core.Action) (bool, runtime.Object, error) {
		claim := a.(core.CreateAction).GetObject().(*corev1.PersistentVolumeClaim)
		claim.UID = s.nextUID()
		return false, nil, nil
	})
	s.refresh()
	return s
}

// settledSim returns a sim of set, its governing Service and objs, run
// until the set has converged; the test fails if it does not within 60
// steps.
func settledSim(t *testing.T, set *kennelv1.PetSet, objs ...runtime.Object) *sim {
	t.Helper()
	s := newSim(t, set, append([]runtime.Object{newService(set.Name)}, objs...)...)
	s.converge(60, "%s did not converge", set.Name)
	return s
}

// deleteClaims makes the set delete its claims both when it is deleted and
// when it is scaled down.
func deleteClaims(set *kennelv1.PetSet) {
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
}

func (s *sim) nextUID() types.UID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uid++
	return types.UID(fmt.Sprintf("uid-%d", s.uid))
}

func (s *sim) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violated = append(s.violated, fmt.Sprintf(format, args...))
}

// onCreatePod checks the invariants at the moment a pet is created: no live
// pod of the same ordinal, its claims exist, and under OrderedReady every
// lower ordinal in range is Running and Ready.
func (s *sim) onCreatePod(a core.Action) (bool, runtime.Object, error) {
	pod := a.(core.CreateAction).GetObject().(*corev1.Pod)
	pod.UID = s.nextUID()
	ord, ok := petOrdinal(s.set, pod)
	if !ok {
		s.violate("created pod %s that is not a pet", pod.Name)
		return false, nil, nil
	}
	if existing, err := s.client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, pod.Namespace, pod.Name); err == nil {
		s.violate("second pod for ordinal %d created while %s (terminating=%v) exists", ord, pod.Name, existing.(*corev1.Pod).DeletionTimestamp != nil)
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		if _, err := s.client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, pod.Namespace, v.PersistentVolumeClaim.ClaimName); err != nil {
			s.violate("pod %s created before its claim %s", pod.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	pods := s.livePods()
	var ready []string
	for _, p := range pods {
		if isRunningAndReady(p) {
			ready = append(ready, p.Name)
		}
	}
	if !isParallel(s.set) && !s.looseOrder {
		byName := map[string]*corev1.Pod{}
		for _, p := range pods {
			byName[p.Name] = p
		}
		for _, o := range petSlots(s.set) {
			if o >= ord {
				break
			}
			p := byName[fmt.Sprintf("%s-%d", s.set.Name, o)]
			if p == nil || !isRunningAndReady(p) || isTerminating(p) {
				s.violate("OrderedReady created %s while %s-%d was not Running and Ready", pod.Name, s.set.Name, o)
			}
		}
	}
	s.mu.Lock()
	s.creates = append(s.creates, pod.Name)
	s.liveAt[pod.Name] = ready
	s.mu.Unlock()
	return false, nil, nil
}

// onDeletePod makes deletion graceful: the first delete marks the pod
// terminating; the world step removes it.
func (s *sim) onDeletePod(a core.Action) (bool, runtime.Object, error) {
	da := a.(core.DeleteAction)
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	obj, err := s.client.Tracker().Get(gvr, da.GetNamespace(), da.GetName())
	if err != nil {
		return true, nil, err
	}
	pod := obj.(*corev1.Pod).DeepCopy()
	if pre := da.GetDeleteOptions().Preconditions; pre != nil && pre.UID != nil && *pre.UID != pod.UID {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, pod.Name, fmt.Errorf("uid precondition failed"))
	}
	if pod.DeletionTimestamp == nil {
		now := metav1.NewTime(s.clock.Now())
		pod.DeletionTimestamp = &now
		s.mu.Lock()
		s.deletes = append(s.deletes, pod.Name)
		s.mu.Unlock()
		return true, nil, s.client.Tracker().Update(gvr, pod, pod.Namespace)
	}
	return true, nil, nil
}

func (s *sim) livePods() []*corev1.Pod {
	list, err := s.client.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, s.set.Namespace)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []*corev1.Pod
	for i := range list.(*corev1.PodList).Items {
		out = append(out, &list.(*corev1.PodList).Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *sim) claims() []string {
	list, err := s.client.CoreV1().PersistentVolumeClaims(s.set.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, c := range list.Items {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

// refresh rebuilds the caches from the fake's state and lets the
// expectations observe them, as the informers would.
func (s *sim) refresh() {
	if s.stale {
		return
	}
	ctx := context.Background()
	pods := s.livePods()
	podObjs := make([]any, 0, len(pods))
	seen := map[types.UID]bool{}
	for _, p := range pods {
		podObjs = append(podObjs, p)
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == s.set.UID {
			key := setKey(s.set)
			s.exp.CreationObserved(key, p.Name)
			if p.DeletionTimestamp != nil {
				s.exp.DeletionObserved(key, p.UID)
			}
		}
		seen[p.UID] = true
	}
	key := setKey(s.set)
	s.exp.mu.Lock()
	if e := s.exp.sets[key]; e != nil {
		for uid := range e.deletes {
			if !seen[uid] {
				delete(e.deletes, uid)
			}
		}
	}
	s.exp.mu.Unlock()
	s.replace(s.podIdx, podObjs)
	claims, _ := s.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	s.replace(s.claimIdx, pointers(claims.Items))
	revs, _ := s.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	s.replace(s.revIdx, pointers(revs.Items))
	svcs, _ := s.client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	s.replace(s.svcIdx, pointers(svcs.Items))
}

// replace sets the cache's content to objs, as an informer's relist does.
func (s *sim) replace(idx cache.Indexer, objs []any) {
	if err := idx.Replace(objs, ""); err != nil {
		s.t.Fatal(err)
	}
}

// pointers returns pointers to the listed items, as the caches hold them.
func pointers[T any](items []T) []any {
	out := make([]any, 0, len(items))
	for i := range items {
		out = append(out, &items[i])
	}
	return out
}

// sync runs one pass of the ordering logic over the cached pets the set owns.
func (s *sim) sync() (time.Duration, error) {
	var owned []*corev1.Pod
	for _, obj := range s.podIdx.List() {
		pod := obj.(*corev1.Pod)
		if ref := metav1.GetControllerOf(pod); ref != nil && ref.UID == s.set.UID {
			owned = append(owned, pod)
		}
	}
	d, err := s.control.Sync(klog.NewContext(context.Background(), s.logger), s.set, owned)
	if s.status.last != nil {
		s.set.Status = *s.status.last.DeepCopy()
	}
	return d, err
}

// world advances the clock and plays the kubelet: terminating pods go away,
// pending pods become Running and Ready (unless held or failed).
func (s *sim) world() {
	s.clock.Step(time.Second)
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	now := metav1.NewTime(s.clock.Now())
	for _, p := range s.livePods() {
		switch {
		case p.DeletionTimestamp != nil:
			if err := s.client.Tracker().Delete(gvr, p.Namespace, p.Name); err != nil {
				s.t.Fatal(err)
			}
			continue
		case s.fail[p.Name] && p.Status.Phase != corev1.PodFailed:
			delete(s.fail, p.Name)
			p.Status.Phase = corev1.PodFailed
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
		case p.Status.Phase == corev1.PodFailed:
			continue
		case s.hold[p.Name] || (s.holdIf != nil && s.holdIf(p)):
			p.Status.Phase = corev1.PodRunning
			if c := readyCondition(p); c == nil || c.Status != corev1.ConditionFalse {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
			}
		case p.Status.Phase == "":
			p.Status.Phase = corev1.PodPending
		case p.Status.Phase == corev1.PodPending || !isRunningAndReady(p):
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		default:
			continue
		}
		if err := s.client.Tracker().Update(gvr, p, p.Namespace); err != nil {
			s.t.Fatal(err)
		}
	}
}

// step is one round: refresh caches, sync, play the world.
func (s *sim) step() error {
	s.refresh()
	_, err := s.sync()
	s.checkOnePerOrdinal()
	s.world()
	return err
}

// run steps until the set converges (Ready condition true and no pods
// outside the range) or maxSteps pass; it returns the steps taken.
func (s *sim) run(maxSteps int) int {
	for i := 1; i <= maxSteps; i++ {
		_ = s.step()
		if s.converged() {
			return i
		}
	}
	return maxSteps + 1
}

// bothPolicies are the pod management policies, for tests that run under each.
var bothPolicies = []appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}

// underBothPolicies runs test as a subtest under each pod management policy.
func underBothPolicies(t *testing.T, test func(t *testing.T, policy appsv1.PodManagementPolicyType)) {
	for _, policy := range bothPolicies {
		t.Run(string(policy), func(t *testing.T) { test(t, policy) })
	}
}

// steps runs n steps of the sim, whatever they return.
func (s *sim) steps(n int) {
	for range n {
		_ = s.step()
	}
}

// converge runs the sim until it converges and fails the test, saying what
// did not converge (format and args) and where the sim stands, if it does
// not within maxSteps.
func (s *sim) converge(maxSteps int, format string, args ...any) {
	s.t.Helper()
	if steps := s.run(maxSteps); steps > maxSteps {
		s.t.Fatalf("%s within %d steps: pods %v, status %+v", fmt.Sprintf(format, args...), maxSteps, s.podNames(), s.set.Status)
	}
}

func (s *sim) converged() bool {
	slots := petSlots(s.set)
	pods := s.livePods()
	if len(pods) != len(slots) {
		return false
	}
	for _, p := range pods {
		ord, ok := petOrdinal(s.set, p)
		if _, in := slices.BinarySearch(slots, ord); !ok || !in || !isRunningAndReady(p) || isTerminating(p) {
			return false
		}
	}
	return true
}

// checkOnePerOrdinal asserts that no ordinal has two pods.
func (s *sim) checkOnePerOrdinal() {
	seen := map[int]string{}
	for _, p := range s.livePods() {
		ord, ok := petOrdinal(s.set, p)
		if !ok {
			continue
		}
		if other, dup := seen[ord]; dup {
			s.violate("two pods for ordinal %d: %s and %s", ord, other, p.Name)
		}
		seen[ord] = p.Name
	}
}

// wantStalled fails the test unless the set's Progressing condition is
// False with the reason and a message naming what (a pet, a claim, the
// cause), and an event with the reason was recorded.
func (s *sim) wantStalled(reason, what string) {
	s.t.Helper()
	c := condition(s.set, kennelv1.PetSetProgressing)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, what) {
		s.t.Fatalf("Progressing %+v, want False/%s naming %s", c, reason, what)
	}
	if !s.events.has(reason) {
		s.t.Errorf("no %s event; events %v", reason, s.events.events)
	}
}

func (s *sim) assertNoViolations() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violated {
		s.t.Error(v)
	}
}

func (s *sim) podNames() []string {
	var out []string
	for _, p := range s.livePods() {
		out = append(out, p.Name)
	}
	return out
}

func (s *sim) setReplicas(n int32) {
	s.set.Spec.Replicas = &n
	s.set.Generation++
}

// simIndexer is a cache with the controller's indexes.
func simIndexer() cache.Indexer {
	idx := Indexers()
	idx[cache.NamespaceIndex] = cache.MetaNamespaceIndexFunc
	return cache.NewIndexer(cache.MetaNamespaceKeyFunc, idx)
}

// deps returns the ordering logic's collaborators over the sim: real
// controls writing to the fake clientset, listers over the sim's caches.
func (s *sim) deps() deps {
	claims := corelisters.NewPersistentVolumeClaimLister(s.claimIdx)
	return deps{
		pets:          NewPetControl(s.client, claims, s.events, nil),
		claims:        NewClaimControl(s.client),
		revisions:     NewRevisionControl(s.client),
		status:        s.status,
		finalizers:    NewFinalizerControl(kennelfake.NewSimpleClientset()),
		services:      corelisters.NewServiceLister(s.svcIdx),
		claimIndex:    s.claimIdx,
		revisionIndex: s.revIdx,
		exp:           s.exp,
		revWrites:     newRevisionWrites(),
		clock:         s.clock,
		recorder:      s.events,
		holdAhead:     func() bool { return s.holdAhead },
	}
}

// simFinalizers writes finalizers to the simulated set.
type simFinalizers struct{ s *sim }

func (f simFinalizers) SetFinalizers(_ context.Context, _ *kennelv1.PetSet, finalizers []string) error {
	f.s.set.Finalizers = finalizers
	return nil
}
