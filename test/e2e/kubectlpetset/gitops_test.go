package kubectlpetset

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/reconcile"
	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/gitops"
)

// The Argo CD health check of docs/gitops.md on live PetSets: new,
// rolling, stuck, recovered. KENNEL_GITOPS_RECORD=DIR writes each object
// there as JSON (how test/gitops/testdata was made).
func TestArgoCDHealth(t *testing.T) {
	e := setup(t)
	ctx := e.Context(4 * time.Minute)
	script, err := gitops.ScriptFromDoc(gitops.DocPath())
	if err != nil {
		t.Fatal(err)
	}
	check := func(file, want string, cond func(*kennelv1.PetSet) bool) {
		t.Helper()
		var obj map[string]any
		err := e.WaitFor(ctx, file, func(ctx context.Context) (bool, error) {
			set, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, "web", metav1.GetOptions{})
			if err != nil || !cond(set) {
				return false, framework.Retry(err)
			}
			obj, err = asJSON(set)
			return err == nil, err
		})
		if err != nil {
			t.Fatal(err)
		}
		status, msg, err := gitops.Health(script, obj)
		if err != nil || status != want {
			t.Fatalf("%s: health %s %q %v, want %s", file, status, msg, err, want)
		}
		t.Logf("%s: %s: %s", file, status, msg)
		record(t, file, obj)
	}
	set := framework.PetSet("web", 3)
	set.Annotations = map[string]string{reconcile.ProgressDeadlineAnnotation: "8"}
	set.Spec.Template.Spec.Containers[0].Image = image1
	e.create(set)
	check("progressing-not-observed.json", gitops.Progressing, func(*kennelv1.PetSet) bool { return true })
	e.startController(false)
	check("healthy-rolled-out.json", gitops.Healthy, func(s *kennelv1.PetSet) bool {
		return s.Status.ObservedGeneration == s.Generation && meta.IsStatusConditionTrue(s.Status.Conditions, kennelv1.PetSetReady)
	})

	e.patch("web", templatePatch("", map[string]any{"kennel.dev/hold-ready": "true"}))
	check("progressing-rolling-update.json", gitops.Progressing, func(s *kennelv1.PetSet) bool {
		return s.Status.ObservedGeneration == s.Generation && s.Status.CurrentRevision != s.Status.UpdateRevision && s.Status.UpdatedReplicas == 1
	})
	check("degraded-rollout-stuck.json", gitops.Degraded, func(s *kennelv1.PetSet) bool {
		c := meta.FindStatusCondition(s.Status.Conditions, kennelv1.PetSetProgressing)
		return c != nil && c.Reason == reconcile.ReasonRolloutStuck
	})
	if _, err := e.petset("rollout", "undo", "web"); err != nil {
		t.Fatal(err)
	}
	check("healthy-recovered.json", gitops.Healthy, func(s *kennelv1.PetSet) bool {
		return s.Status.ObservedGeneration == s.Generation && s.Status.CurrentRevision == s.Status.UpdateRevision &&
			meta.IsStatusConditionTrue(s.Status.Conditions, kennelv1.PetSetReady)
	})
}

func asJSON(set *kennelv1.PetSet) (map[string]any, error) {
	set = set.DeepCopy()
	set.APIVersion, set.Kind = kennelv1.SchemeGroupVersion.String(), "PetSet"
	set.ManagedFields = nil
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	return obj, json.Unmarshal(b, &obj)
}

func record(t *testing.T, file string, obj map[string]any) {
	dir := os.Getenv("KENNEL_GITOPS_RECORD")
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
