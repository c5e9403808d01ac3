package reconcile

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func revSet(image string) *kennelv1.PetSet {
	replicas := int32(3)
	return &kennelv1.PetSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "set-uid", Generation: 1},
		Spec: kennelv1.PetSetSpec{
			Replicas:    &replicas,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			ServiceName: "web",
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func mustRevision(t *testing.T, set *kennelv1.PetSet, number int64, collisions int32) *appsv1.ControllerRevision {
	t.Helper()
	rev, err := newRevision(set, number, collisions)
	if err != nil {
		t.Fatal(err)
	}
	rev.UID = types.UID("uid-" + rev.Name)
	return rev
}

func TestRevisionDataRoundTrip(t *testing.T) {
	set := revSet("nginx:1")
	rev := mustRevision(t, set, 1, 0)
	var patch map[string]map[string]map[string]any
	if err := json.Unmarshal(rev.Data.Raw, &patch); err != nil {
		t.Fatal(err)
	}
	if patch["spec"]["template"]["$patch"] != "replace" {
		t.Errorf("data %s lacks $patch: replace", rev.Data.Raw)
	}
	tmpl, err := revisionTemplate(rev)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Spec.Containers[0].Image != "nginx:1" || tmpl.Labels["app"] != "web" {
		t.Errorf("decoded template %+v", tmpl)
	}
	if !strings.HasPrefix(rev.Name, "web-") || rev.Labels[appsv1.ControllerRevisionHashLabelKey] != strings.TrimPrefix(rev.Name, "web-") {
		t.Errorf("name %q labels %v", rev.Name, rev.Labels)
	}
	if ref := metav1.GetControllerOf(rev); ref == nil || ref.UID != set.UID || ref.Kind != "PetSet" {
		t.Errorf("controller ref %+v", ref)
	}
	again := mustRevision(t, set, 7, 0)
	if again.Name != rev.Name {
		t.Errorf("same template, different names %s %s", rev.Name, again.Name)
	}
	if other := mustRevision(t, set, 1, 1); other.Name == rev.Name {
		t.Errorf("collision count does not change the name")
	}
	if other := mustRevision(t, revSet("nginx:2"), 1, 0); other.Name == rev.Name {
		t.Errorf("different templates share name %s", rev.Name)
	}
}

// A revision written by the upstream StatefulSet controller: its template
// was defaulted by the API server and keys are in another order.
func TestEqualRevisionsAcrossDefaults(t *testing.T) {
	set := revSet("nginx:1.27")
	set.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 80}}
	ours := mustRevision(t, set, 1, 0)
	upstream := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f9c7b6"}}
	upstream.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"web"}},` +
		`"spec":{"containers":[{"image":"nginx:1.27","imagePullPolicy":"IfNotPresent","name":"c","ports":[{"containerPort":80,"name":"web","protocol":"TCP"}],` +
		`"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst",` +
		`"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`)
	if !equalRevisions(ours, upstream) {
		t.Fatalf("defaulted upstream revision not equal to ours")
	}
	changed := revSet("nginx:1.28")
	changed.Spec.Template.Spec.Containers[0].Ports = set.Spec.Template.Spec.Containers[0].Ports
	if equalRevisions(mustRevision(t, changed, 1, 0), upstream) {
		t.Fatalf("different image compares equal")
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                corev1.PullAlways,
		"nginx:latest":         corev1.PullAlways,
		"nginx:1.27":           corev1.PullIfNotPresent,
		"localhost:5000/nginx": corev1.PullAlways,
		"localhost:5000/x:1":   corev1.PullIfNotPresent,
		"nginx@sha256:abc":     corev1.PullIfNotPresent,
	} {
		if got := defaultPullPolicy(image); got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
}

func TestPlanRevisions(t *testing.T) {
	v1 := revSet("nginx:1")
	v2 := revSet("nginx:2")
	r1 := mustRevision(t, v1, 1, 0)
	r2 := mustRevision(t, v2, 2, 0)
	withStatus := func(set *kennelv1.PetSet, current string, collisions int32) *kennelv1.PetSet {
		set = set.DeepCopy()
		set.Status.CurrentRevision = current
		if collisions != 0 {
			set.Status.CollisionCount = &collisions
		}
		return set
	}
	// A revision with the v2 revision's name but other data.
	squatter := r2.DeepCopy()
	squatter.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace","spec":{"containers":[{"name":"other","image":"x"}]}}}}`)
	for _, tc := range []struct {
		name         string
		set          *kennelv1.PetSet
		owned        []*appsv1.ControllerRevision
		wantUpdate   string
		wantCurrent  string
		wantCreate   bool
		wantRenumber bool
		wantNumber   int64
		wantColl     int32
	}{
		{"first revision", withStatus(v1, "", 0), nil, r1.Name, r1.Name, true, false, 1, 0},
		{"unchanged", withStatus(v1, r1.Name, 0), []*appsv1.ControllerRevision{r1}, r1.Name, r1.Name, false, false, 1, 0},
		{"new template", withStatus(v2, r1.Name, 0), []*appsv1.ControllerRevision{r1}, r2.Name, r1.Name, true, false, 2, 0},
		{"rollback reuses the old revision", withStatus(v1, r1.Name, 0), []*appsv1.ControllerRevision{r1, r2}, r1.Name, r1.Name, false, true, 3, 0},
		{"current unknown falls back to update", withStatus(v2, "gone", 0), []*appsv1.ControllerRevision{r1, r2}, r2.Name, r2.Name, false, false, 2, 0},
		{"collision raises the count", withStatus(v2, r1.Name, 0), []*appsv1.ControllerRevision{r1, squatter}, mustRevision(t, v2, 3, 1).Name, r1.Name, true, false, 3, 1},
		{"existing collision count kept", withStatus(v2, "", 4), nil, mustRevision(t, v2, 1, 4).Name, mustRevision(t, v2, 1, 4).Name, true, false, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planRevisions(tc.set, tc.owned)
			if err != nil {
				t.Fatal(err)
			}
			if plan.update.Name != tc.wantUpdate || plan.current.Name != tc.wantCurrent {
				t.Errorf("update %s current %s, want %s %s", plan.update.Name, plan.current.Name, tc.wantUpdate, tc.wantCurrent)
			}
			if plan.create != tc.wantCreate || plan.renumber != tc.wantRenumber {
				t.Errorf("create %v renumber %v, want %v %v", plan.create, plan.renumber, tc.wantCreate, tc.wantRenumber)
			}
			if plan.update.Revision != tc.wantNumber || plan.collisionCount != tc.wantColl {
				t.Errorf("number %d collisions %d, want %d %d", plan.update.Revision, plan.collisionCount, tc.wantNumber, tc.wantColl)
			}
			for _, r := range tc.owned {
				if plan.renumber && r.Name == plan.update.Name && r.Revision == plan.update.Revision {
					t.Errorf("plan modified the cached revision")
				}
			}
		})
	}
}

func TestRevisionsToTrim(t *testing.T) {
	var revs []*appsv1.ControllerRevision
	for i := 1; i <= 6; i++ {
		revs = append(revs, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-" + string(rune('a'+i-1))}, Revision: int64(i)})
	}
	pet := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{RevisionLabel: "web-b"}}}
	for _, tc := range []struct {
		limit int32
		want  []string
	}{
		{0, []string{"web-a", "web-c", "web-d"}},
		{1, []string{"web-a", "web-c"}},
		{2, []string{"web-a"}},
		{3, nil},
		{10, nil},
	} {
		set := revSet("x")
		set.Spec.RevisionHistoryLimit = &tc.limit
		// Current web-e, update web-f, a pet still on web-b.
		got := revisionsToTrim(set, revs, "web-e", "web-f", []*corev1.Pod{pet})
		var names []string
		for _, r := range got {
			names = append(names, r.Name)
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("limit %d: trim %v, want %v", tc.limit, names, tc.want)
		}
	}
}

func TestOwnershipOf(t *testing.T) {
	set := revSet("x")
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	mk := func(name string, lbls map[string]string, owner types.UID) *appsv1.ControllerRevision {
		r := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
		if owner != "" {
			tr := true
			r.OwnerReferences = []metav1.OwnerReference{{Kind: "X", Name: "o", UID: owner, Controller: &tr}}
		}
		return r
	}
	match := map[string]string{"app": "web"}
	other := map[string]string{"app": "db"}
	gone := mk("orphan-going", match, "")
	gone.DeletionTimestamp = &metav1.Time{}
	revs := []*appsv1.ControllerRevision{
		mk("ours", match, set.UID), mk("orphan", match, ""), mk("foreign", match, "other"),
		mk("ours-mismatch", other, set.UID), mk("orphan-mismatch", other, ""), gone,
	}
	judge := func(set *kennelv1.PetSet) map[string]ownership {
		out := map[string]ownership{}
		for _, r := range revs {
			out[r.Name] = ownershipOf(set, r, sel.Matches(labels.Set(r.Labels)))
		}
		return out
	}
	want := map[string]ownership{"ours": owns, "orphan": adopt, "foreign": notOurs, "ours-mismatch": release, "orphan-mismatch": notOurs, "orphan-going": notOurs}
	if got := judge(set); !maps.Equal(got, want) {
		t.Errorf("live set: %v, want %v", got, want)
	}
	// A set being deleted keeps what it controls and adopts nothing.
	deleted := set.DeepCopy()
	deleted.DeletionTimestamp = &metav1.Time{}
	want = map[string]ownership{"ours": owns, "orphan": notOurs, "foreign": notOurs, "ours-mismatch": owns, "orphan-mismatch": notOurs, "orphan-going": notOurs}
	if got := judge(deleted); !maps.Equal(got, want) {
		t.Errorf("deleted set: %v, want %v", got, want)
	}
}

func TestSyncRevisions(t *testing.T) {
	ctx := context.Background()
	v1 := revSet("nginx:1")
	client := fake.NewClientset()
	rc := NewRevisionControl(client)
	res, err := applyRevisionPlan(ctx, rc, v1, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := client.AppsV1().ControllerRevisions("default").Get(ctx, res.update.Name, metav1.GetOptions{})
	if err != nil || r1.Revision != 1 {
		t.Fatalf("revision not created: %v %+v", err, r1)
	}
	v2 := revSet("nginx:2")
	v2.Status.CurrentRevision = r1.Name
	res2, err := applyRevisionPlan(ctx, rc, v2, []*appsv1.ControllerRevision{r1})
	if err != nil {
		t.Fatal(err)
	}
	if res2.current.Name != r1.Name || res2.update.Name == r1.Name || res2.update.Revision != 2 {
		t.Fatalf("after change: current %s update %s/%d", res2.current.Name, res2.update.Name, res2.update.Revision)
	}
	// Roll back: the first revision is renumbered, nothing new is created.
	v1.Status.CurrentRevision = r1.Name
	res3, err := applyRevisionPlan(ctx, rc, v1, []*appsv1.ControllerRevision{r1, res2.update})
	if err != nil {
		t.Fatal(err)
	}
	if res3.update.Name != r1.Name || res3.update.Revision != 3 {
		t.Fatalf("rollback: update %s/%d, want %s/3", res3.update.Name, res3.update.Revision, r1.Name)
	}
	list, _ := client.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{})
	if len(list.Items) != 2 {
		t.Fatalf("%d revisions, want 2", len(list.Items))
	}
	// The cache is behind: the revision exists but was not listed.
	res4, err := applyRevisionPlan(ctx, rc, v2, nil)
	if err != nil || res4.update.Name != res2.update.Name {
		t.Fatalf("stale cache: %v %+v", err, res4.update)
	}
	// A foreign object under the name the template hashes to.
	v3 := revSet("nginx:3")
	squat := mustRevision(t, v3, 9, 0)
	squat.Data.Raw = []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"x","image":"y"}]}}}}`)
	if _, err := client.AppsV1().ControllerRevisions("default").Create(ctx, squat, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res5, err := applyRevisionPlan(ctx, rc, v3, nil)
	if err == nil || res5.collisionCount != 1 {
		t.Fatalf("collision: err %v count %d", err, res5.collisionCount)
	}
	v3.Status.CollisionCount = &res5.collisionCount
	res6, err := applyRevisionPlan(ctx, rc, v3, nil)
	if err != nil || res6.update.Name == squat.Name {
		t.Fatalf("after collision: %v %s", err, res6.update.Name)
	}
}

type failingRevisions struct{ RevisionControl }

func (failingRevisions) CreateRevision(context.Context, *kennelv1.PetSet, *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "controllerrevisions"}, "x", nil)
}

func TestSyncRevisionsCreateError(t *testing.T) {
	if _, err := applyRevisionPlan(context.Background(), failingRevisions{}, revSet("a"), nil); !apierrors.IsForbidden(err) {
		t.Fatalf("err %v, want Forbidden", err)
	}
}

func TestSetAtRevision(t *testing.T) {
	old := revSet("nginx:1")
	rev := mustRevision(t, old, 1, 0)
	cur := revSet("nginx:2")
	got, err := setAtRevision(cur, rev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Template.Spec.Containers[0].Image != "nginx:1" || cur.Spec.Template.Spec.Containers[0].Image != "nginx:2" {
		t.Fatalf("template not taken from revision, or input modified")
	}
	pod := newPet(got, 0, rev.Name)
	if pod.Labels[RevisionLabel] != rev.Name || pod.Spec.Containers[0].Image != "nginx:1" {
		t.Fatalf("pet %+v", pod)
	}
}
