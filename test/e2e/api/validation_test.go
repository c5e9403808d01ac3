package api

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kennel-dev/kennel/test/e2e/api/crdcheck"
)

// These tests run the cases of cases_test.go through the API server's CRD
// validation code offline (no server), so they run with -short too. The e2e
// tests send the same cases to a real kube-apiserver.

func loadValidator(t *testing.T) *crdcheck.Validator {
	t.Helper()
	v, err := crdcheck.Load(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// apiserverNote is what the API server appends, without a field path, when
// schema errors keep it from evaluating the CEL rules.
const apiserverNote = "<nil>: Invalid value: null: some validation rules were not checked"

func checkOutcome(t *testing.T, err string, want string) {
	t.Helper()
	if err != "" {
		t.Logf("rejected: %s", err)
	}
	// The API server adds a note of its own without a field when schema
	// errors keep it from running the CEL rules; every refusal of the
	// CRD's own names its field.
	if strings.Contains(strings.ReplaceAll(err, apiserverNote, ""), "<nil>") {
		t.Errorf("a refusal does not name its field:\n%s", err)
	}
	switch {
	case want == "" && err != "":
		t.Errorf("rejected, want accepted:\n%s", err)
	case want != "" && err == "":
		t.Errorf("accepted, want rejected with %q", want)
	case want != "" && !strings.Contains(err, want):
		t.Errorf("rejected with\n%s\nwant the message to contain %q", err, want)
	}
}

func errString(v *crdcheck.Validator, obj, old map[string]any) string {
	errs := v.Admit(context.Background(), obj, old)
	if len(errs) == 0 {
		return ""
	}
	return errs.ToAggregate().Error()
}

func TestOfflineCreateValidation(t *testing.T) {
	v := loadValidator(t)
	for _, tc := range createCases {
		t.Run(tc.name, func(t *testing.T) {
			obj := basePetSet(t)
			tc.mutate(obj)
			checkOutcome(t, errString(v, obj, nil), tc.want)
		})
	}
}

func TestOfflineUpdateValidation(t *testing.T) {
	v := loadValidator(t)
	for _, tc := range updateCases {
		t.Run(tc.name, func(t *testing.T) {
			old := basePetSet(t)
			if tc.before != nil {
				tc.before(old)
			}
			if err := errString(v, old, nil); err != "" {
				t.Fatalf("the PetSet before the update is rejected: %s", err)
			}
			obj := runtime.DeepCopyJSON(old)
			tc.mutate(obj)
			checkOutcome(t, errString(v, obj, old), tc.want)
		})
	}
}

// TestOfflineDefaults checks the StatefulSet defaults the CRD applies to a
// PetSet that sets only the required fields.
func TestOfflineDefaults(t *testing.T) {
	v := loadValidator(t)
	obj := minimalPetSet(t)
	if err := errString(v, obj, nil); err != "" {
		t.Fatalf("minimal PetSet rejected: %s", err)
	}
	checkDefaults(t, obj)
}

func checkDefaults(t *testing.T, obj map[string]any) {
	t.Helper()
	want := map[string]any{
		"spec.replicas":             int64(1),
		"spec.podManagementPolicy":  "OrderedReady",
		"spec.revisionHistoryLimit": int64(10),
		"spec.updateStrategy": map[string]any{
			"type":          "RollingUpdate",
			"rollingUpdate": map[string]any{"partition": int64(0)},
		},
		"spec.persistentVolumeClaimRetentionPolicy": map[string]any{
			"whenDeleted": "Retain",
			"whenScaled":  "Retain",
		},
	}
	for path, w := range want {
		if got := normalizeNumbers(get(obj, path)); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
}

// normalizeNumbers turns the float64 and int numbers of decoded JSON into int64.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalizeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNumbers(e)
		}
		return out
	}
	return v
}
