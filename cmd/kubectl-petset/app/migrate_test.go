package app

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kennel-dev/kennel/internal/testenv"
	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// live is a settled StatefulSet web with 3 pods, claims and its revision,
// a fresh controller Lease and the PetSet CRD served.
type live struct {
	sts    *appsv1.StatefulSet
	lease  *coordinationv1.Lease
	pods   []*corev1.Pod
	claims []*corev1.PersistentVolumeClaim
	rev    *appsv1.ControllerRevision
	crd    bool
	kennel []runtime.Object
}

func newLive() *live {
	replicas := int32(3)
	lbls := map[string]string{"app": "web"}
	l := &live{crd: true}
	l.sts = &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNS, UID: "sts-uid", ResourceVersion: "7", Generation: 2, Labels: lbls,
			Annotations: map[string]string{"team": "db", lastAppliedAnnotation: "{}"}},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, ServiceName: "web", Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template:             testTemplate(lbls, "img:1"),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentReplicas: 3,
			CurrentRevision: "web-abc", UpdateRevision: "web-abc"},
	}
	for _, n := range []string{"web-0", "web-1", "web-2"} {
		l.pods = append(l.pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: testNS, UID: types.UID("pod-" + n), Labels: lbls,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(l.sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}}})
		l.claims = append(l.claims, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-" + n, Namespace: testNS, UID: types.UID("pvc-" + n)}})
	}
	l.rev = &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: testNS, Labels: lbls}, Revision: 1}
	holder := "controller-1"
	dur := int32(15)
	l.lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kennel-controller", Namespace: "kennel-system"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &metav1.MicroTime{Time: testNow.Add(-3 * time.Second)}}}
	return l
}

// fixture builds the fake cluster; the fake kennel clientset plays the
// controller: creating the PetSet adopts the pods (adopt may change them).
func (l *live) fixture(adopt func(*corev1.Pod)) *fixture {
	var objs []runtime.Object
	for _, o := range []runtime.Object{l.sts, l.lease, l.rev} {
		if o != nil && !isNilPtr(o) {
			objs = append(objs, o)
		}
	}
	for _, p := range l.pods {
		objs = append(objs, p)
	}
	for _, c := range l.claims {
		objs = append(objs, c)
	}
	f := newFixture(objs, l.kennel...)
	if l.crd {
		f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
			GroupVersion: "kennel.dev/v1", APIResources: []metav1.APIResource{{Name: "petsets", Namespaced: true, Kind: "PetSet"}},
		}}
	}
	f.kennel.PrependReactor("create", "petsets", func(a clienttesting.Action) (bool, runtime.Object, error) {
		c := a.(clienttesting.CreateActionImpl)
		if len(c.CreateOptions.DryRun) > 0 {
			return false, nil, nil
		}
		set := c.Object.(*kennelv1.PetSet)
		set.UID = "petset-uid"
		set.Status = kennelv1.PetSetStatus{ReadyReplicas: 3, CurrentRevision: "web-abc", UpdateRevision: "web-abc"}
		podGVR := corev1.SchemeGroupVersion.WithResource("pods")
		for _, p := range l.pods {
			pod := p.DeepCopy()
			pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(set, kennelv1.SchemeGroupVersion.WithKind("PetSet"))}
			if adopt != nil {
				adopt(pod)
			}
			if err := f.kube.Tracker().Update(podGVR, pod, testNS); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	return f
}

func isNilPtr(o runtime.Object) bool {
	switch v := o.(type) {
	case *coordinationv1.Lease:
		return v == nil
	case *appsv1.ControllerRevision:
		return v == nil
	}
	return false
}

func TestMigrate(t *testing.T) {
	l := newLive()
	f := l.fixture(nil)
	out, _, err := f.run(t, "migrate", "statefulset/web")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	testenv.WantAll(t, "output", out,
		"statefulset.apps/web: checks passed",
		"statefulset.apps/web deleted with --cascade=orphan (3 pods, 3 claims left running)",
		"petset.kennel.dev/web created",
		"petset.kennel.dev/web adopted 3 pods (web-0, web-1, web-2) and 3 claims, UIDs unchanged; current revision web-abc")
	var deleted bool
	for _, a := range f.kube.Actions() {
		if d, ok := a.(clienttesting.DeleteActionImpl); ok && d.Resource.Resource == "statefulsets" {
			deleted = true
			if p := d.DeleteOptions.PropagationPolicy; p == nil || *p != metav1.DeletePropagationOrphan {
				t.Errorf("StatefulSet deleted with propagation %v, want Orphan", p)
			}
			if pc := d.DeleteOptions.Preconditions; pc == nil || *pc.UID != "sts-uid" || *pc.ResourceVersion != "7" {
				t.Errorf("delete preconditions %+v, want the checked UID and resourceVersion", pc)
			}
		}
	}
	if !deleted {
		t.Fatal("StatefulSet not deleted")
	}
	set := getSet(t, f, "web")
	if set.Spec.ServiceName != "web" || set.Spec.Template.Spec.Containers[0].Image != "img:1" || len(set.Spec.VolumeClaimTemplates) != 1 ||
		set.Annotations["team"] != "db" || set.Annotations[lastAppliedAnnotation] != "" {
		t.Fatalf("PetSet %+v", set)
	}
}

func TestMigrateDetectsReplacedPods(t *testing.T) {
	l := newLive()
	f := l.fixture(func(p *corev1.Pod) {
		if p.Name == "web-1" {
			p.UID = "new"
		}
	})
	_, _, err := f.run(t, "migrate", "web")
	if err == nil || !strings.Contains(err.Error(), "pod web-1 was replaced (UID new, was pod-web-1)") {
		t.Fatalf("error %v", err)
	}
}

func TestMigrateDryRun(t *testing.T) {
	f := newLive().fixture(nil)
	out, _, err := f.run(t, "migrate", "sts/web", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "would delete statefulset.apps/web with --cascade=orphan and create (dry run):") || !strings.Contains(out, "kind: PetSet") {
		t.Fatalf("output:\n%s", out)
	}
	assertUntouched(t, f)
}

// assertUntouched checks that the StatefulSet is still there, nothing was
// deleted and no PetSet was created.
func assertUntouched(t *testing.T, f *fixture) {
	t.Helper()
	for _, a := range f.kube.Actions() {
		if v := a.GetVerb(); v == "delete" || v == "update" || v == "patch" {
			t.Fatalf("changed the cluster: %v", verbs(f.kube.Actions()))
		}
	}
	if _, err := f.kube.AppsV1().StatefulSets(testNS).Get(t.Context(), "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kennel.KennelV1().PetSets(testNS).Get(t.Context(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		if set := getSet(t, f, "web"); set.UID == "petset-uid" {
			t.Fatalf("PetSet created")
		}
	}
}

func TestMigrateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*live)
		args   []string
		err    string
	}{
		{name: "CRD not installed", mutate: func(l *live) { l.crd = false }, err: "the PetSet CRD is not installed"},
		{name: "no controller", mutate: func(l *live) { l.lease = nil }, err: "no kennel controller is running: its Lease kennel-system/kennel-controller does not exist"},
		{name: "controller gone", mutate: func(l *live) { l.lease.Spec.RenewTime.Time = testNow.Add(-time.Minute) }, err: "was last renewed by controller-1 1m0s ago"},
		{name: "lease without holder", mutate: func(l *live) { l.lease.Spec.HolderIdentity = nil }, err: "Lease kennel-system/kennel-controller has no holder"},
		{name: "other lease", args: []string{"--controller-lease=ops/kc"}, err: "its Lease ops/kc does not exist"},
		{name: "bad lease flag", args: []string{"--controller-lease=kc"}, err: `--controller-lease="kc": want NAMESPACE/NAME`},
		{name: "spec not observed", mutate: func(l *live) { l.sts.Generation = 3 }, err: "generation 3 not yet observed"},
		{name: "mid-rollout", mutate: func(l *live) { l.sts.Status.UpdateRevision = "web-def" }, err: `mid-rollout: currentRevision "web-abc", updateRevision "web-def"`},
		{name: "pod not ready", mutate: func(l *live) { l.sts.Status.ReadyReplicas = 2 }, err: "3 replicas wanted, 3 exist, 2 ready, 3 updated"},
		{name: "being deleted", mutate: func(l *live) { l.sts.DeletionTimestamp = &metav1.Time{Time: testNow}; l.sts.Finalizers = []string{"x"} }, err: "being deleted"},
		{name: "revision gone", mutate: func(l *live) { l.rev = nil }, err: "revision web-abc (ControllerRevision) is gone: the PetSet would replace every pod"},
		{name: "name clash", mutate: func(l *live) { l.kennel = []runtime.Object{testPetSet("web")} }, err: "a PetSet named web already exists in namespace ns"},
		{name: "no serviceName", mutate: func(l *live) { l.sts.Spec.ServiceName = "" }, err: "spec.serviceName is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLive()
			if tc.mutate != nil {
				tc.mutate(l)
			}
			f := l.fixture(nil)
			_, _, err := f.run(t, append([]string{"migrate", "statefulset/web"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), "refusing to migrate statefulset/web (left as it was)") || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want refusal with %q", err, tc.err)
			}
			assertUntouched(t, f)
		})
	}
}

// The API server's verdict on the PetSet (a dry-run create) is a check too.
func TestMigrateRefusesWhatTheServerRefuses(t *testing.T) {
	f := newLive().fixture(nil)
	f.kennel.PrependReactor("create", "petsets", func(a clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "kennel.dev", Kind: "PetSet"}, "web", nil)
	})
	_, _, err := f.run(t, "migrate", "statefulset/web")
	if err == nil || !strings.Contains(err.Error(), "the API server would refuse the PetSet: PetSet.kennel.dev \"web\" is invalid") {
		t.Fatalf("error %v", err)
	}
	assertUntouched(t, f)
}

func TestMigrateMissingStatefulSet(t *testing.T) {
	f := newLive().fixture(nil)
	if _, _, err := f.run(t, "migrate", "statefulset/nosuch"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("error %v", err)
	}
	if _, _, err := f.run(t, "migrate", "petset/web"); err == nil || !strings.Contains(err.Error(), "expected statefulset/NAME") {
		t.Fatalf("error %v", err)
	}
}

// A PetSet that does not adopt the pods in time is reported, with what
// was seen.
func TestMigrateAdoptionTimeout(t *testing.T) {
	f := newLive().fixture(func(p *corev1.Pod) { p.OwnerReferences = nil })
	_, errOut, err := f.run(t, "migrate", "statefulset/web", "--timeout=50ms")
	if err == nil || !strings.Contains(err.Error(), "petset \"web\" created, but the pods were not adopted") || !strings.Contains(err.Error(), "0 of 3 pods adopted") {
		t.Fatalf("error %v", err)
	}
	if errOut != "" {
		t.Fatalf("stderr %q", errOut)
	}
}
