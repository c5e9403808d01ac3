// Package crdcheck validates a CustomResourceDefinition and objects of its
// kind offline, with the API server's own code: the CRD validation that
// kube-apiserver runs on create (including the static cost estimate of every
// CEL rule), and for objects pruning, structural defaulting, OpenAPI schema
// validation and CEL rules (with transition rules on update).
package crdcheck

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Validator checks a single-version CRD and objects of its kind.
type Validator struct {
	// CRD is the definition as read from the file.
	CRD        *apiextensionsv1.CustomResourceDefinition
	internal   *apiextensions.CustomResourceDefinition
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// Load reads a CRD manifest (one document, one version).
func Load(file string) (*Validator, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("decode %s: %w", file, err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(crd)
	internal := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
		return nil, fmt.Errorf("convert %s: %w", file, err)
	}
	if len(internal.Spec.Versions) != 1 {
		return nil, fmt.Errorf("%s: %d versions, want 1", file, len(internal.Spec.Versions))
	}
	// The internal version keeps a schema shared by all versions at the top.
	var props *apiextensions.JSONSchemaProps
	switch {
	case internal.Spec.Validation != nil:
		props = internal.Spec.Validation.OpenAPIV3Schema
	case internal.Spec.Versions[0].Schema != nil:
		props = internal.Spec.Versions[0].Schema.OpenAPIV3Schema
	}
	if props == nil {
		return nil, errors.New(file + ": no schema")
	}
	ss, err := structuralschema.NewStructural(props)
	if err != nil {
		return nil, fmt.Errorf("%s: structural schema: %w", file, err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		return nil, fmt.Errorf("%s: schema validator: %w", file, err)
	}
	return &Validator{
		CRD:        crd,
		internal:   internal,
		structural: ss,
		schema:     sv,
		cel:        cel.NewValidator(ss, true, celconfig.PerCallLimit),
	}, nil
}

// ValidateDefinition runs the API server's CRD validation on the definition.
func (v *Validator) ValidateDefinition(ctx context.Context) field.ErrorList {
	return crdvalidation.ValidateCustomResourceDefinition(ctx, v.internal)
}

// Decode reads a YAML or JSON object as the API server does: integral
// numbers become int64.
func Decode(data []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := utiljson.Unmarshal(j, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Admit prunes and defaults obj in place, as the API server does when it
// decodes a request, then validates it as a create (old == nil) or as an
// update of old (both as Decode returns them), and returns the errors the API server would report.
func (v *Validator) Admit(ctx context.Context, obj, old map[string]any) field.ErrorList {
	pruning.Prune(obj, v.structural, true)
	structuraldefaulting.Default(obj, v.structural)
	errs := schemaobjectmeta.Validate(ctx, nil, obj, v.structural, true)
	var oldObj any
	if old == nil {
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, v.schema)...)
	} else {
		oldObj = old
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, obj, old, v.schema)...)
	}
	celErrs, _ := v.cel.Validate(ctx, nil, v.structural, obj, oldObj, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}
