package app

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kennel-dev/kennel/internal/testenv"
	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// revision returns a ControllerRevision of the set (owned unless owner is
// nil) holding a template with the image, in the controllers' data format.
func revision(t *testing.T, owner *kennelv1.PetSet, name string, number int64, image, cause string) *appsv1.ControllerRevision {
	t.Helper()
	tmpl := testTemplate(map[string]string{"app": "web"}, image)
	raw, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["$patch"] = "replace"
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
	if err != nil {
		t.Fatal(err)
	}
	r := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{"app": "web"}},
		Data:       runtime.RawExtension{Raw: data},
		Revision:   number,
	}
	if cause != "" {
		r.Annotations = map[string]string{changeCauseAnnotation: cause}
	}
	if owner != nil {
		r.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, kennelv1.SchemeGroupVersion.WithKind("PetSet"))}
	}
	return r
}

// history returns the set (template img:2) and three revisions: 1 img:1,
// 3 img:2 (newest, "upgrade"), 2 img:0; plus one revision of another owner.
func history(t *testing.T) (*kennelv1.PetSet, []runtime.Object) {
	set := testPetSet("web")
	other := testPetSet("other")
	other.UID = "other-uid"
	return set, []runtime.Object{
		revision(t, set, "web-a", 1, "img:1", ""),
		revision(t, set, "web-c", 3, "img:2", "kubectl set image petset/web app=img:2"),
		revision(t, set, "web-b", 2, "img:0", ""),
		revision(t, other, "other-a", 4, "img:9", ""),
		revision(t, nil, "orphan-a", 5, "img:9", ""),
	}
}

func TestHistory(t *testing.T) {
	set, revs := history(t)
	f := newFixture(revs, set)
	out, _, err := f.run(t, "rollout", "history", "web")
	if err != nil {
		t.Fatal(err)
	}
	want := "petset.kennel.dev/web\n" +
		"REVISION  CHANGE-CAUSE\n" +
		"1         <none>\n" +
		"2         <none>\n" +
		"3         kubectl set image petset/web app=img:2\n"
	if out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = f.run(t, "rollout", "history", "web", "--revision=2")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WantAll(t, "--revision=2 output", out, "petset.kennel.dev/web with revision #2 (web-b)", "Pod Template:", "    - image: img:0")
	if _, _, err := f.run(t, "rollout", "history", "web", "--revision=4"); err == nil || !strings.Contains(err.Error(), "unable to find the specified revision 4") {
		t.Errorf("revision of another set: %v", err)
	}
}

func TestHistoryEmpty(t *testing.T) {
	f := newFixture(nil, testPetSet("web"))
	out, _, err := f.run(t, "rollout", "history", "web")
	if err != nil || out != "petset.kennel.dev/web\nNo rollout history found.\n" {
		t.Fatalf("%q, %v", out, err)
	}
}

func TestUndo(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantImage string // template image after the command
		out, err  string
		dryRun    bool
	}{
		{name: "previous", wantImage: "img:0", out: "petset.kennel.dev/web rolled back\n"},
		{name: "to revision", args: []string{"--to-revision=1"}, wantImage: "img:1", out: "petset.kennel.dev/web rolled back\n"},
		{name: "same template", args: []string{"--to-revision=3"}, wantImage: "img:2",
			out: "petset.kennel.dev/web skipped rollback (current template already matches revision 3)\n"},
		{name: "client dry run", args: []string{"--dry-run"}, wantImage: "img:2", out: "petset.kennel.dev/web rolled back (dry run)\n"},
		{name: "server dry run", args: []string{"--dry-run=server"}, wantImage: "img:2", out: "petset.kennel.dev/web rolled back (server dry run)\n", dryRun: true},
		{name: "unknown revision", args: []string{"--to-revision=7"}, wantImage: "img:2", err: "unable to find specified revision 7"},
		{name: "bad dry run", args: []string{"--dry-run=maybe"}, wantImage: "img:2", err: "must be none, client or server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, revs := history(t)
			f := newFixture(revs, set)
			out, _, err := f.run(t, append([]string{"rollout", "undo", "web"}, tc.args...)...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
			} else if err != nil || !strings.HasSuffix(out, tc.out) {
				t.Fatalf("output %q, err %v; want %q", out, err, tc.out)
			}
			got := getSet(t, f, "web")
			if img := got.Spec.Template.Spec.Containers[0].Image; img != tc.wantImage {
				t.Fatalf("template image %s, want %s", img, tc.wantImage)
			}
			if tc.dryRun && !patchedWithDryRun(f.kennel.Actions()) {
				t.Fatalf("no dry-run patch sent: %v", verbs(f.kennel.Actions()))
			}
		})
	}
}

func patchedWithDryRun(actions []clienttesting.Action) bool {
	for _, a := range actions {
		if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) == 1 && p.PatchOptions.DryRun[0] == metav1.DryRunAll {
			return true
		}
	}
	return false
}

func TestUndoWithoutHistory(t *testing.T) {
	set := testPetSet("web")
	f := newFixture([]runtime.Object{revision(t, set, "web-c", 1, "img:2", "")}, set)
	if _, _, err := f.run(t, "rollout", "undo", "web"); err == nil || !strings.Contains(err.Error(), "no rollout history found") {
		t.Fatalf("error %v", err)
	}
}

// The rollback is refused if the set changed after it was read.
func TestUndoGuardsAgainstConcurrentChange(t *testing.T) {
	set, revs := history(t)
	f := newFixture(revs, set)
	f.kennel.PrependReactor("get", "petsets", func(clienttesting.Action) (bool, runtime.Object, error) {
		stale := set.DeepCopy()
		stale.ResourceVersion = "9"
		return true, stale, nil
	})
	if _, _, err := f.run(t, "rollout", "undo", "web"); err == nil || !strings.Contains(err.Error(), "roll back petset \"web\" to revision 2") {
		t.Fatalf("error %v", err)
	}
	f.kennel.ReactionChain = f.kennel.ReactionChain[1:]
	if img := getSet(t, f, "web").Spec.Template.Spec.Containers[0].Image; img != "img:2" {
		t.Fatalf("template changed to %s despite the conflict", img)
	}
}

func TestRestart(t *testing.T) {
	set := testPetSet("web")
	set.Spec.Template.Annotations = map[string]string{"keep": "me"}
	f := newFixture(nil, set)
	out, _, err := f.run(t, "rollout", "restart", "web")
	if err != nil || out != "petset.kennel.dev/web restarted\n" {
		t.Fatalf("%q, %v", out, err)
	}
	got := getSet(t, f, "web").Spec.Template.Annotations
	want := map[string]string{"keep": "me", restartedAtAnnotation: "2026-12-04T21:00:00Z"}
	if len(got) != 2 || got["keep"] != want["keep"] || got[restartedAtAnnotation] != want[restartedAtAnnotation] {
		t.Fatalf("template annotations %v, want %v", got, want)
	}
	if _, _, err := f.run(t, "rollout", "restart", "nosuch"); err == nil {
		t.Fatal("restart of a missing set succeeded")
	}
}

func getSet(t *testing.T, f *fixture, name string) *kennelv1.PetSet {
	t.Helper()
	obj, err := f.kennel.Tracker().Get(kennelv1.SchemeGroupVersion.WithResource("petsets"), testNS, name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*kennelv1.PetSet)
}
