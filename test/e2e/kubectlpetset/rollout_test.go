// Package kubectlpetset holds the end-to-end tests of the kubectl-petset
// plugin, run as `kubectl petset …` by the plane's kubectl against the
// local control plane with a kennel controller: rollout status through
// real and stuck rolling updates, history, undo, restart, migrate from a
// live StatefulSet, and convert on the examples' manifests.
package kubectlpetset

import (
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/kennel-dev/kennel/pkg/reconcile"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

// status waits through the first rollout and an update; history lists
// both revisions; undo goes back to the first and the pets end on it.
func TestRolloutStatusHistoryUndo(t *testing.T) {
	e := setup(t)
	e.startController(false)
	ctx := e.Context(4 * time.Minute)
	set := framework.PetSet("web", 3)
	set.Spec.Template.Spec.Containers[0].Image = image1
	e.create(set)

	out, err := e.petset("rollout", "status", "web", "--timeout=2m")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "petset rolling update complete 3 pods at revision")
	r1 := e.rolledOut(ctx, "web", 3, image1).Status.UpdateRevision

	update := templatePatch(image2, nil)
	// The controller copies the set's annotations to the revision it
	// makes, so the change-cause shows in the history.
	update["metadata"] = map[string]any{"annotations": map[string]any{"kubernetes.io/change-cause": "image 2"}}
	e.patch("web", update)
	out, err = e.petset("rollout", "status", "petset/web", "--timeout=2m")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "waiting for petset rolling update to complete", "petset rolling update complete 3 pods at revision")
	r2 := e.rolledOut(ctx, "web", 3, image2).Status.UpdateRevision
	if r1 == r2 {
		t.Fatalf("the update made no new revision (%s)", r1)
	}

	out, err = e.petset("rollout", "history", "web")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "petset.kennel.dev/web\nREVISION  CHANGE-CAUSE\n1         <none>\n2         image 2\n")
	out, err = e.petset("rollout", "history", "web", "--revision=1")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "with revision #1 ("+r1+")", "image: "+image1)

	out, err = e.petset("rollout", "undo", "web", "--dry-run=server")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "rolled back (server dry run)")
	if img := e.get("web").Spec.Template.Spec.Containers[0].Image; img != image2 {
		t.Fatalf("server dry run changed the template to %s", img)
	}
	out, err = e.petset("rollout", "undo", "web")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "petset.kennel.dev/web rolled back")
	if _, err := e.petset("rollout", "status", "web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	if r := e.rolledOut(ctx, "web", 3, image1).Status.UpdateRevision; r != r1 {
		t.Fatalf("after undo the pets run revision %s, want the first revision %s", r, r1)
	}
	out, err = e.petset("rollout", "history", "web")
	if err != nil {
		t.Fatal(err)
	}
	// The first revision is reused with the newest number (as upstream).
	mustContain(t, out, "2         image 2\n3         <none>\n")
	out, err = e.petset("rollout", "undo", "web", "--to-revision=3")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "skipped rollback (current template already matches revision 3)")
}

// A rollout onto pets that never become Ready: status gives up at
// --timeout, then fails as soon as the controller reports the rollout
// stuck, naming the pet and revision; undo recovers it.
func TestRolloutStatusStuck(t *testing.T) {
	e := setup(t)
	e.startController(false)
	ctx := e.Context(4 * time.Minute)
	set := framework.PetSet("web", 3)
	set.Annotations = map[string]string{reconcile.ProgressDeadlineAnnotation: "5"}
	set.Spec.Template.Spec.Containers[0].Image = image1
	e.create(set)
	if _, err := e.petset("rollout", "status", "web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	e.rolledOut(ctx, "web", 3, image1)

	e.patch("web", templatePatch("", map[string]any{"kennel.dev/hold-ready": "true"}))
	start := time.Now()
	out, err := e.petset("rollout", "status", "web", "--timeout=3s")
	if err == nil || !strings.Contains(err.Error(), "timed out after 3s waiting for the rollout of petset \"web\"") {
		t.Fatalf("status of a stuck rollout with --timeout=3s: %v\n%s", err, out)
	}
	t.Logf("gave up after %s", time.Since(start).Round(100*time.Millisecond))

	_, err = e.petset("rollout", "status", "web", "--timeout=2m")
	rev := e.get("web").Status.UpdateRevision
	if err == nil || !strings.Contains(err.Error(), "rollout is stuck") || !strings.Contains(err.Error(), "web-2") || !strings.Contains(err.Error(), rev) {
		t.Fatalf("status of a stuck rollout: %v; want it stuck naming web-2 and %s", err, rev)
	}

	if _, err := e.petset("rollout", "undo", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.petset("rollout", "status", "web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	e.rolledOut(ctx, "web", 3, image1)
}

// restart replaces every pet, highest ordinal first, each after the one
// before is Ready again.
func TestRolloutRestart(t *testing.T) {
	e := setup(t)
	e.startController(false)
	ctx := e.Context(4 * time.Minute)
	set := framework.PetSet("web", 3)
	set.Spec.Template.Spec.Containers[0].Image = image1
	e.create(set)
	if _, err := e.petset("rollout", "status", "web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	before := uids(e.WaitForReadyPets(ctx, "web", 3))
	rec := e.RecordPods(ctx, "app=web")

	out, err := e.petset("rollout", "restart", "web")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "petset.kennel.dev/web restarted")
	if _, err := e.petset("rollout", "status", "web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	s := e.rolledOut(ctx, "web", 3, image1)
	if s.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Fatal("no restartedAt annotation on the template")
	}
	after := uids(e.WaitForReadyPets(ctx, "web", 3))
	for n, u := range before {
		if after[n] == u {
			t.Errorf("pet %s was not replaced", n)
		}
	}
	// Order: each old pet goes only after the previous replacement is Ready.
	var order []string
	readyAgain := map[string]int{} // pet -> seq of the new pod's first Ready event
	gone := map[string]int{}
	for _, ev := range rec.Events() {
		if _, seen := gone[ev.Name]; !seen && (ev.Deleting || ev.Type == watch.Deleted) {
			gone[ev.Name] = ev.Seq
			order = append(order, ev.Name)
		}
		if _, seen := gone[ev.Name]; seen && ev.Ready && !ev.Deleting && ev.Type != watch.Deleted {
			if _, ok := readyAgain[ev.Name]; !ok {
				readyAgain[ev.Name] = ev.Seq
			}
		}
	}
	if strings.Join(order, " ") != "web-2 web-1 web-0" {
		t.Fatalf("pets replaced in the order %v, want web-2 web-1 web-0\n%s", order, rec)
	}
	for _, n := range []string{"web-2", "web-1", "web-0"} {
		if _, ok := readyAgain[n]; !ok {
			t.Fatalf("no Ready replacement of %s recorded\n%s", n, rec)
		}
	}
	if readyAgain["web-2"] > gone["web-1"] || readyAgain["web-1"] > gone["web-0"] {
		t.Fatalf("a pet was deleted before the previous one was Ready again\n%s", rec)
	}
}
