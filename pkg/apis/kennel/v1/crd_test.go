package v1_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// crdPath is the generated CRD, relative to this package.
const crdPath = "../../../../deploy/crd/kennel.dev_petsets.yaml"

// crdValidator validates PetSet objects (as unstructured JSON maps) the way
// the API server does for the generated CRD: pruning, structural defaulting,
// OpenAPI schema validation and the CEL rules with their runtime cost budget.
type crdValidator struct {
	crd        *apiextensionsv1.CustomResourceDefinition
	internal   *apiextensions.CustomResourceDefinition
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func loadCRD(t testing.TB) *crdValidator {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), crdPath))
	if err != nil {
		t.Fatalf("read CRD: %v", err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatalf("decode CRD: %v", err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(crd)
	internal := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
		t.Fatalf("convert CRD: %v", err)
	}
	if len(internal.Spec.Versions) != 1 {
		t.Fatalf("CRD has %d versions, want 1", len(internal.Spec.Versions))
	}
	// The internal version holds a schema shared by all versions at the top.
	var props *apiextensions.JSONSchemaProps
	switch {
	case internal.Spec.Validation != nil:
		props = internal.Spec.Validation.OpenAPIV3Schema
	case internal.Spec.Versions[0].Schema != nil:
		props = internal.Spec.Versions[0].Schema.OpenAPIV3Schema
	default:
		t.Fatal("CRD has no schema")
	}
	ss, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatalf("structural schema: %v", err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatalf("schema validator: %v", err)
	}
	return &crdValidator{
		crd:        crd,
		internal:   internal,
		structural: ss,
		schema:     sv,
		cel:        cel.NewValidator(ss, true, celconfig.PerCallLimit),
	}
}

// admit prunes and defaults obj in place, then validates it as a create (old
// nil) or an update, returning the errors the API server would return.
func (v *crdValidator) admit(obj, old map[string]any) field.ErrorList {
	pruning.Prune(obj, v.structural, true)
	structuraldefaulting.Default(obj, v.structural)
	var errs field.ErrorList
	errs = append(errs, schemaobjectmeta.Validate(context.Background(), nil, obj, v.structural, true)...)
	if old == nil {
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, v.schema)...)
	} else {
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, obj, old, v.schema)...)
	}
	var oldObj any
	if old != nil {
		oldObj = old
	}
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, oldObj, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// TestCRDIsAcceptedByAPIServerValidation runs the API server's own CRD
// validation on the generated CRD, including the static cost estimate of
// every CEL rule.
func TestCRDIsAcceptedByAPIServerValidation(t *testing.T) {
	v := loadCRD(t)
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), v.internal); len(errs) > 0 {
		for _, e := range errs {
			t.Errorf("%v", e)
		}
	}
}

func joinErrs(errs field.ErrorList) string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
