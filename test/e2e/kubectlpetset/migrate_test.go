package kubectlpetset

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// migrate refuses each unsafe case on a live StatefulSet and leaves it as
// it was, then moves it: same pods, same claims, no pod deleted.
func TestMigrate(t *testing.T) {
	e := setup(t)
	ctx := e.Context(5 * time.Minute)
	e.CreateStatefulSet(ctx, framework.StatefulSet("web", 3))
	e.WaitForReadyPets(ctx, "web", 3)
	sts := e.waitStatefulSetSettled(ctx, "web")
	lease := "--controller-lease=" + e.Namespace + "/kennel-controller"

	refuse := func(why string, args ...string) {
		t.Helper()
		_, err := e.petset(append([]string{"migrate", "statefulset/web", lease}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "refusing to migrate statefulset/web (left as it was)") || !strings.Contains(err.Error(), why) {
			t.Fatalf("migrate: %v; want a refusal naming %q", err, why)
		}
		got, err := e.Client.AppsV1().StatefulSets(e.Namespace).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || got.UID != sts.UID || got.DeletionTimestamp != nil {
			t.Fatalf("StatefulSet not left as it was: %v", err)
		}
	}
	// No controller yet.
	refuse("no kennel controller is running: its Lease " + e.Namespace + "/kennel-controller does not exist")
	e.startController(true)
	e.waitLeaseHeld(ctx, "kennel-controller")

	// Mid-rollout: an update held back by a partition.
	e.patchStatefulSet(ctx, "web", map[string]any{"spec": map[string]any{
		"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"partition": 3}},
		"template":       map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": image2}}}},
	}})
	e.waitStatefulSet(ctx, "web", "update revision differs", func(s *appsv1.StatefulSet) bool {
		return s.Status.ObservedGeneration == s.Generation && s.Status.UpdateRevision != s.Status.CurrentRevision
	})
	refuse("the StatefulSet is mid-rollout: currentRevision")
	e.patchStatefulSet(ctx, "web", map[string]any{"spec": map[string]any{
		"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"partition": 0}},
		"template":       map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": sts.Spec.Template.Spec.Containers[0].Image}}}},
	}})
	sts = e.waitStatefulSetSettled(ctx, "web")

	// A PetSet of the same name (selecting nothing of web's).
	clash := framework.PetSet("web", 0)
	clash.Spec.Selector.MatchLabels = map[string]string{"app": "clash"}
	clash.Spec.Template.Labels = map[string]string{"app": "clash"}
	if _, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, clash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	refuse("a PetSet named web already exists in namespace " + e.Namespace)
	if err := e.kennel.KennelV1().PetSets(e.Namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPetSetGone(ctx, "web")

	// A StatefulSet that is no valid PetSet: no serviceName, and a name of
	// 62 characters (the pet name <name>-0 would not fit a DNS label).
	long := "db" + strings.Repeat("x", 60)
	bad := framework.StatefulSet(long, 0)
	bad.Spec.ServiceName = ""
	bad.Spec.Selector.MatchLabels = map[string]string{"app": "db"}
	bad.Spec.Template.Labels = map[string]string{"app": "db"}
	if _, err := e.Client.AppsV1().StatefulSets(e.Namespace).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitStatefulSetSettled(ctx, long)
	_, err := e.petset("migrate", "statefulset/"+long, lease)
	if err == nil || !strings.Contains(err.Error(), "spec.serviceName is empty") || !strings.Contains(err.Error(), "the API server would refuse the PetSet") ||
		!strings.Contains(err.Error(), "metadata.name is too long") {
		t.Fatalf("migrate of an invalid PetSet: %v", err)
	}

	// Dry run: checks pass, nothing changes.
	out, err := e.petset("migrate", "statefulset/web", lease, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "checks passed", "would delete statefulset.apps/web with --cascade=orphan and create (dry run)", "kind: PetSet")
	refuseNothing := sts.UID
	if got, err := e.Client.AppsV1().StatefulSets(e.Namespace).Get(ctx, "web", metav1.GetOptions{}); err != nil || got.UID != refuseNothing {
		t.Fatalf("dry run changed the StatefulSet: %v", err)
	}

	e.moveAndCheck(ctx, sts, lease)
}

// moveAndCheck runs the migration and checks that pods and claims kept
// their UIDs, no pod was deleted, and the PetSet owns them.
func (e *env) moveAndCheck(ctx context.Context, sts *appsv1.StatefulSet, lease string) {
	t := e.T
	pods, err := e.Pets(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	podsBefore, claimsBefore := uids(pods), e.claimUIDs(ctx)
	rec := e.RecordPods(ctx, "app=web")
	out, err := e.petset("migrate", "statefulset/web", lease, "--timeout=2m")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "statefulset.apps/web deleted with --cascade=orphan (3 pods, 3 claims left running)", "petset.kennel.dev/web created",
		"petset.kennel.dev/web adopted 3 pods (web-0, web-1, web-2) and 3 claims, UIDs unchanged; current revision "+sts.Status.CurrentRevision)
	time.Sleep(3 * time.Second) // nothing may roll afterwards either
	pods, err = e.Pets(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got := uids(pods); !sameUIDs(got, podsBefore) {
		t.Fatalf("pod UIDs %v, were %v", got, podsBefore)
	}
	if got := e.claimUIDs(ctx); !sameUIDs(got, claimsBefore) {
		t.Fatalf("claim UIDs %v, were %v", got, claimsBefore)
	}
	for _, ev := range rec.Events() {
		if ev.Deleting {
			t.Fatalf("pod deleted during the migration: %v\n%s", ev, rec)
		}
	}
	set := e.get("web")
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != set.UID {
			t.Fatalf("pod %s not owned by the PetSet: %+v", p.Name, p.OwnerReferences)
		}
	}
	if _, err := e.Client.AppsV1().StatefulSets(e.Namespace).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("StatefulSet still there: %v", err)
	}
	if out, err := e.petset("rollout", "status", "web", "--watch=false"); err != nil || !strings.Contains(out, "complete 3 pods at revision "+sts.Status.CurrentRevision) {
		t.Fatalf("status after migration: %v %s", err, out)
	}
}

func sameUIDs(a, b map[string]types.UID) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (e *env) patchStatefulSet(ctx context.Context, name string, patch any) {
	e.T.Helper()
	b, err := json.Marshal(patch)
	if err != nil {
		e.T.Fatal(err)
	}
	if _, err := e.Client.AppsV1().StatefulSets(e.Namespace).Patch(ctx, name, types.StrategicMergePatchType, b, metav1.PatchOptions{}); err != nil {
		e.T.Fatalf("patch statefulset %s: %v", name, err)
	}
}

func (e *env) waitStatefulSet(ctx context.Context, name, what string, cond func(*appsv1.StatefulSet) bool) *appsv1.StatefulSet {
	e.T.Helper()
	var sts *appsv1.StatefulSet
	err := e.WaitFor(ctx, "statefulset "+name+": "+what, func(ctx context.Context) (bool, error) {
		var err error
		sts, err = e.Client.AppsV1().StatefulSets(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(sts), framework.Retry(err)
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return sts
}

func (e *env) waitStatefulSetSettled(ctx context.Context, name string) *appsv1.StatefulSet {
	e.T.Helper()
	return e.waitStatefulSet(ctx, name, "settled", func(s *appsv1.StatefulSet) bool {
		st, n := s.Status, *s.Spec.Replicas
		return st.ObservedGeneration == s.Generation && st.UpdateRevision != "" && st.CurrentRevision == st.UpdateRevision &&
			st.Replicas == n && st.ReadyReplicas == n && st.UpdatedReplicas == n
	})
}

func (e *env) waitLeaseHeld(ctx context.Context, name string) {
	e.T.Helper()
	if err := e.WaitFor(ctx, "Lease "+name+" held", func(ctx context.Context) (bool, error) {
		l, err := e.Client.CoordinationV1().Leases(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", nil
	}); err != nil {
		e.T.Fatal(err)
	}
}

func (e *env) waitPetSetGone(ctx context.Context, name string) {
	e.T.Helper()
	if err := e.WaitFor(ctx, "PetSet "+name+" gone", func(ctx context.Context) (bool, error) {
		_, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		e.T.Fatal(err)
	}
}
