package api

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/scheme"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

var petsets = kennelv1.SchemeGroupVersion.WithResource("petsets")

// env is one e2e test's namespace on the shared plane, with the CRD installed.
type env struct {
	*framework.Framework
	kennel  versioned.Interface
	dynamic dynamic.ResourceInterface
}

// setup installs the CRD once per test binary, the way the docs tell users
// to (kubectl apply --server-side -k deploy/crd), and waits until PetSets
// are served.
func setup(t *testing.T) *env {
	t.Helper()
	f := framework.New(t)
	kc := f.InstallPetSetCRD()
	dc, err := dynamic.NewForConfig(f.Plane.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &env{Framework: f, kennel: kc, dynamic: dc.Resource(petsets).Namespace(f.Namespace)}
}

func (e *env) create(ctx context.Context, obj map[string]any) (*unstructured.Unstructured, error) {
	return e.dynamic.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
}

// deleteAll removes every PetSet of the namespace (nothing else owns them:
// no controller runs in these tests).
func (e *env) deleteAll(ctx context.Context) {
	e.T.Helper()
	if err := e.dynamic.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		e.T.Fatalf("delete PetSets: %v", err)
	}
}

// rejection returns "" for nil, else the error text; it fails the test if
// the error is not an Invalid status (422) from the API server.
func rejection(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid (422) error, got %v", err)
	}
	return err.Error()
}

// decodePetSet decodes the converted StatefulSet manifest with the
// clientset's scheme.
func decodePetSet(t *testing.T) *kennelv1.PetSet {
	t.Helper()
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	obj, _, err := decoder.Decode(convertedStatefulSet(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := obj.(*kennelv1.PetSet)
	ps.Namespace = ""
	return ps
}

func specJSON(t *testing.T, spec any) map[string]any {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConvertedStatefulSetRoundTrip creates the converted StatefulSet with
// the typed clientset and reads it back: the stored spec equals the
// StatefulSet's spec field for field.
func TestConvertedStatefulSetRoundTrip(t *testing.T) {
	e := setup(t)
	ctx := e.Context(time.Minute)
	manifest, err := os.ReadFile(statefulSetFile)
	if err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{}
	if err := yaml.UnmarshalStrict(manifest, sts); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, decodePetSet(t), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	want, have := specJSON(t, sts.Spec), specJSON(t, got.Spec)
	for k := range want {
		if !reflect.DeepEqual(want[k], have[k]) {
			w, _ := json.Marshal(want[k])
			h, _ := json.Marshal(have[k])
			t.Errorf("spec.%s:\nStatefulSet: %s\nstored:      %s", k, w, h)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			t.Errorf("stored spec has %q, the StatefulSet does not", k)
		}
	}
	if !reflect.DeepEqual(got.Labels, sts.Labels) {
		t.Errorf("labels %v, want %v", got.Labels, sts.Labels)
	}
	if got.Generation != 1 {
		t.Errorf("generation %d, want 1", got.Generation)
	}
}

// TestCreateValidation sends every create case to the API server.
func TestCreateValidation(t *testing.T) {
	e := setup(t)
	for _, tc := range createCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := e.Context(time.Minute)
			obj := basePetSet(t)
			tc.mutate(obj)
			_, err := e.create(ctx, obj)
			checkOutcome(t, rejection(t, err), tc.want)
			e.deleteAll(ctx)
		})
	}
}

// TestUpdateValidation creates a PetSet, then sends the changed object as an
// update, for every update case.
func TestUpdateValidation(t *testing.T) {
	e := setup(t)
	for _, tc := range updateCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := e.Context(time.Minute)
			obj := basePetSet(t)
			if tc.before != nil {
				tc.before(obj)
			}
			created, err := e.create(ctx, obj)
			if err != nil {
				t.Fatalf("create the PetSet to update: %v", err)
			}
			tc.mutate(created.Object)
			_, err = e.dynamic.Update(ctx, created, metav1.UpdateOptions{})
			checkOutcome(t, rejection(t, err), tc.want)
			e.deleteAll(ctx)
		})
	}
}

// TestDefaults creates a PetSet with only the required fields and reads the
// StatefulSet defaults back.
func TestDefaults(t *testing.T) {
	e := setup(t)
	ctx := e.Context(time.Minute)
	if _, err := e.create(ctx, minimalPetSet(t)); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := e.dynamic.Get(ctx, "minimal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkDefaults(t, got.Object)
}

// setStatus writes the status subresource.
func (e *env) setStatus(ctx context.Context, name string, mutate func(*kennelv1.PetSetStatus)) *kennelv1.PetSet {
	e.T.Helper()
	ps, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	mutate(&ps.Status)
	ps, err = e.kennel.KennelV1().PetSets(e.Namespace).UpdateStatus(ctx, ps, metav1.UpdateOptions{})
	if err != nil {
		e.T.Fatalf("update status: %v", err)
	}
	return ps
}

// TestScaleSubresource scales through /scale with kubectl and with the
// typed clientset, and checks what /scale reports (the HPA reads
// status.selector from it).
func TestScaleSubresource(t *testing.T) {
	e := setup(t)
	ctx := e.Context(time.Minute)
	pets := e.kennel.KennelV1().PetSets(e.Namespace)
	if _, err := pets.Create(ctx, decodePetSet(t), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const selector = "app.kubernetes.io/name=web,tier in (edge,frontend)"
	e.setStatus(ctx, "web", func(s *kennelv1.PetSetStatus) {
		s.Replicas = 3
		s.Selector = selector
	})

	if out, err := e.KubectlInNamespace("scale", "petset/web", "--replicas=5"); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(out, "scaled") {
		t.Errorf("kubectl scale printed %q", out)
	}
	ps, err := pets.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Spec.Replicas == nil || *ps.Spec.Replicas != 5 {
		t.Errorf("spec.replicas after kubectl scale = %v, want 5", ps.Spec.Replicas)
	}

	scale, err := pets.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("GetScale: %v", err)
	}
	if scale.Spec.Replicas != 5 || scale.Status.Replicas != 3 || scale.Status.Selector != selector {
		t.Errorf("scale = spec %d, status %d %q; want spec 5, status 3 %q",
			scale.Spec.Replicas, scale.Status.Replicas, scale.Status.Selector, selector)
	}

	scale.Spec.Replicas = 2
	if _, err := pets.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("UpdateScale: %v", err)
	}
	if ps, err = pets.Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if *ps.Spec.Replicas != 2 {
		t.Errorf("spec.replicas after UpdateScale = %d, want 2", *ps.Spec.Replicas)
	}

	// The validation rules apply to /scale too.
	_, err = pets.UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.Namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: -1},
	}, metav1.UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("UpdateScale to -1: got %v, want a rejection naming spec.replicas", err)
	}
}

// TestKubectlGetPets lists PetSets by short name and category, with the
// printer columns.
func TestKubectlGetPets(t *testing.T) {
	e := setup(t)
	ctx := e.Context(time.Minute)
	if _, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, decodePetSet(t), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.setStatus(ctx, "web", func(s *kennelv1.PetSetStatus) {
		s.Replicas = 3
		s.ReadyReplicas = 2
		s.CurrentRevision = "web-5d8f7c9b6"
	})
	out, err := e.KubectlInNamespace("get", "pets")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get pets printed %d lines, want header and one row:\n%s", len(lines), out)
	}
	if h := strings.Fields(lines[0]); !reflect.DeepEqual(h, []string{"NAME", "DESIRED", "READY", "CURRENT-REVISION", "AGE"}) {
		t.Errorf("columns %v", h)
	}
	if row := strings.Fields(lines[1]); len(row) != 5 || !reflect.DeepEqual(row[:4], []string{"web", "3", "2", "web-5d8f7c9b6"}) {
		t.Errorf("row %v, want web 3 2 web-5d8f7c9b6 <age>", row)
	}

	out, err = e.KubectlInNamespace("get", "all")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "petset.kennel.dev/web") {
		t.Errorf("kubectl get all does not list the PetSet:\n%s", out)
	}
}

// TestStatusSubresource: status writes do not bump the generation and do
// not change the spec; spec writes do not change the status.
func TestStatusSubresource(t *testing.T) {
	e := setup(t)
	ctx := e.Context(time.Minute)
	pets := e.kennel.KennelV1().PetSets(e.Namespace)
	created, err := pets.Create(ctx, decodePetSet(t), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 {
		t.Fatalf("generation after create = %d, want 1", created.Generation)
	}

	ps := created.DeepCopy()
	ps.Status.ObservedGeneration = 1
	ps.Status.Replicas = 3
	ps.Status.Conditions = []metav1.Condition{{
		Type: kennelv1.PetSetReady, Status: metav1.ConditionFalse, Reason: "Scaling",
		Message: "2 of 3 pets ready", LastTransitionTime: metav1.Now(),
	}}
	*ps.Spec.Replicas = 7 // ignored by /status
	updated, err := pets.UpdateStatus(ctx, ps, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if updated.Generation != 1 {
		t.Errorf("generation after a status update = %d, want 1", updated.Generation)
	}
	if *updated.Spec.Replicas != 3 {
		t.Errorf("a status update changed spec.replicas to %d", *updated.Spec.Replicas)
	}
	if updated.Status.Replicas != 3 || len(updated.Status.Conditions) != 1 {
		t.Errorf("status not stored: %+v", updated.Status)
	}

	updated.Spec.Replicas = ptr(int32(4))
	updated.Status.Replicas = 99 // ignored by the main resource
	afterSpec, err := pets.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update spec: %v", err)
	}
	if afterSpec.Generation != 2 {
		t.Errorf("generation after a spec update = %d, want 2", afterSpec.Generation)
	}
	if afterSpec.Status.Replicas != 3 {
		t.Errorf("a spec update changed status.replicas to %d", afterSpec.Status.Replicas)
	}
}

func ptr[T any](v T) *T { return &v }
