package v1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/scheme"
	"github.com/kennel-dev/kennel/test/e2e/api/crdcheck"
)

const (
	statefulSetFile = "testdata/statefulset.yaml"
	crdFile         = "../../../../deploy/crd/kennel.dev_petsets.yaml"
)

var (
	apiVersionLine = regexp.MustCompile(`(?m)^apiVersion: apps/v1$`)
	kindLine       = regexp.MustCompile(`(?m)^kind: StatefulSet$`)
)

// toPetSet turns a StatefulSet manifest into a PetSet manifest by changing
// only its apiVersion and kind lines.
func toPetSet(t *testing.T, manifest []byte) []byte {
	t.Helper()
	if len(apiVersionLine.FindAll(manifest, -1)) != 1 || len(kindLine.FindAll(manifest, -1)) != 1 {
		t.Fatal("manifest needs exactly one apiVersion: apps/v1 and one kind: StatefulSet line")
	}
	out := apiVersionLine.ReplaceAll(manifest, []byte("apiVersion: kennel.dev/v1"))
	return kindLine.ReplaceAll(out, []byte("kind: PetSet"))
}

func readStatefulSet(t *testing.T) ([]byte, *appsv1.StatefulSet) {
	t.Helper()
	manifest, err := os.ReadFile(statefulSetFile)
	if err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{}
	if err := yaml.UnmarshalStrict(manifest, sts); err != nil {
		t.Fatalf("the fixture is not a valid apps/v1 StatefulSet: %v", err)
	}
	return manifest, sts
}

func jsonMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// diffMaps reports, for every top-level key of either map, whether the
// values differ.
func diffMaps(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if !reflect.DeepEqual(want[k], got[k]) {
			w, _ := json.Marshal(want[k])
			g, _ := json.Marshal(got[k])
			t.Errorf("%s.%s differs:\nStatefulSet: %s\nPetSet:      %s", what, k, w, g)
		}
	}
}

// TestStatefulSetManifestIsAPetSet decodes a StatefulSet manifest, with only
// apiVersion and kind changed, as a PetSet through the clientset's scheme
// (strictly: no unknown fields) and compares it field by field with the
// StatefulSet decoded from the original.
func TestStatefulSetManifestIsAPetSet(t *testing.T) {
	manifest, sts := readStatefulSet(t)
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	obj, gvk, err := decoder.Decode(toPetSet(t, manifest), nil, nil)
	if err != nil {
		t.Fatalf("decode as PetSet: %v", err)
	}
	if gvk.Group != "kennel.dev" || gvk.Version != "v1" || gvk.Kind != "PetSet" {
		t.Fatalf("decoded kind %v, want kennel.dev/v1 PetSet", gvk)
	}
	ps, ok := obj.(*kennelv1.PetSet)
	if !ok {
		t.Fatalf("decoded a %T, want *v1.PetSet", obj)
	}
	spec := jsonMap(t, sts.Spec)
	if n := reflect.TypeFor[appsv1.StatefulSetSpec]().NumField(); len(spec) != n {
		t.Fatalf("the fixture sets %d spec fields; it should set all %d StatefulSet spec fields", len(spec), n)
	}
	diffMaps(t, "spec", spec, jsonMap(t, ps.Spec))
	diffMaps(t, "metadata", jsonMap(t, sts.ObjectMeta), jsonMap(t, ps.ObjectMeta))

	// Also the other way: the PetSet spec decodes as a StatefulSet spec.
	back := appsv1.StatefulSetSpec{}
	b, err := json.Marshal(ps.Spec)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("PetSet spec does not decode as a StatefulSet spec: %v", err)
	}
	if !reflect.DeepEqual(back, sts.Spec) {
		t.Error("StatefulSet spec -> PetSet spec -> StatefulSet spec does not round-trip")
	}
}

// TestStatefulSetManifestPassesTheCRD sends the converted manifest through the
// generated CRD as the API server would: nothing may be pruned (the schema
// covers every field, including the templates' labels) and it must be valid.
func TestStatefulSetManifestPassesTheCRD(t *testing.T) {
	manifest, _ := readStatefulSet(t)
	v, err := crdcheck.Load(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := crdcheck.Decode(toPetSet(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.DeepCopyJSON(obj)
	if errs := v.Admit(context.Background(), obj, nil); len(errs) > 0 {
		t.Errorf("the converted StatefulSet is rejected: %v", errs.ToAggregate())
	}
	// The fixture sets every defaulted field, so admission must not change it.
	diffMaps(t, "spec", before["spec"].(map[string]any), obj["spec"].(map[string]any))
	diffMaps(t, "metadata", before["metadata"].(map[string]any), obj["metadata"].(map[string]any))
}

// TestCRDIsAcceptedByTheAPIServer runs kube-apiserver's CRD validation on the
// generated CRD: structural schema, defaults, and the estimated cost of every
// CEL rule against the per-rule and per-CRD limits.
func TestCRDIsAcceptedByTheAPIServer(t *testing.T) {
	v, err := crdcheck.Load(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range v.ValidateDefinition(context.Background()) {
		t.Error(e)
	}
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists a struct's fields by JSON name.
func jsonFields(t *testing.T, typ reflect.Type) map[string]jsonField {
	t.Helper()
	out := map[string]jsonField{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Fatalf("%s.%s has no JSON name", typ.Name(), f.Name)
		}
		out[name] = jsonField{name: f.Name, typ: f.Type}
	}
	return out
}

// checkMirror fails unless every field of upstream exists in ours with the
// same JSON name and Go type (except the listed differences), and every
// field of ours is upstream's or a listed addition.
func checkMirror(t *testing.T, upstream, ours reflect.Type, differentType, additions map[string]string) {
	t.Helper()
	up, own := jsonFields(t, upstream), jsonFields(t, ours)
	for name, f := range up {
		o, ok := own[name]
		switch {
		case !ok:
			t.Errorf("%s.%s (json %q) is missing from %s", upstream.Name(), f.name, name, ours.Name())
		case o.typ != f.typ && differentType[name] == "":
			t.Errorf("%s field %q is %v, upstream %v", ours.Name(), name, o.typ, f.typ)
		case o.typ == f.typ && differentType[name] != "":
			t.Errorf("%s field %q is listed as a different type but is the same; update the test", ours.Name(), name)
		}
	}
	for name := range own {
		if _, ok := up[name]; !ok && additions[name] == "" {
			t.Errorf("%s field %q is not in %s and not a listed addition", ours.Name(), name, upstream.Name())
		}
	}
	for name := range additions {
		if _, ok := own[name]; !ok {
			t.Errorf("listed addition %q is not a field of %s", name, ours.Name())
		}
	}
}

func TestPetSetSpecMirrorsStatefulSetSpec(t *testing.T) {
	checkMirror(t, reflect.TypeFor[appsv1.StatefulSetSpec](), reflect.TypeFor[kennelv1.PetSetSpec](), nil, map[string]string{
		"reserveOrdinals": "ordinals that get no pet, without renumbering the others",
	})
}

func TestPetSetStatusMirrorsStatefulSetStatus(t *testing.T) {
	checkMirror(t, reflect.TypeFor[appsv1.StatefulSetStatus](), reflect.TypeFor[kennelv1.PetSetStatus](),
		map[string]string{"conditions": "metav1.Condition, the standard condition type, instead of StatefulSetCondition"},
		map[string]string{"selector": "serialized label selector for the scale subresource"})
}
