package lifecycle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// env is one test's namespace on the shared plane with the PetSet CRD and a
// controller limited to the namespace.
type env struct {
	*framework.Framework
	kennel versioned.Interface
}

// setup installs the CRD (once), and starts a controller for the test's
// namespace unless noController.
func setup(t *testing.T, noController bool) *env {
	t.Helper()
	f := framework.New(t)
	e := &env{Framework: f, kennel: f.InstallPetSetCRD()}
	if !noController {
		e.startController()
	}
	return e
}

// startController runs the controller binary for the test's namespace
// until the test ends.
func (e *env) startController() {
	e.StartController("controller",
		"--namespace="+e.Namespace,
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0")
}

// newPetSet returns a PetSet shaped like framework.StatefulSet; claims
// selects whether it has the "data" claim template.
func newPetSet(name string, replicas int32, claims bool) *kennelv1.PetSet {
	set := framework.PetSet(name, replicas)
	if !claims {
		set.Spec.VolumeClaimTemplates = nil
		set.Spec.Template.Spec.Containers[0].VolumeMounts = nil
	}
	return set
}

// create creates the governing Service and the set.
func (e *env) create(set *kennelv1.PetSet) *kennelv1.PetSet {
	e.T.Helper()
	ctx := e.Context(30 * time.Second)
	if _, err := e.Client.CoreV1().Services(e.Namespace).Create(ctx, framework.HeadlessService(set.Spec.ServiceName), metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("create service: %v", err)
	}
	out, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatalf("create PetSet: %v", err)
	}
	return out
}

func (e *env) get(name string) *kennelv1.PetSet {
	e.T.Helper()
	set, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(e.Context(10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return set
}

// patch applies a JSON merge patch to the set.
func (e *env) patch(name string, patch any) {
	e.T.Helper()
	b, err := json.Marshal(patch)
	if err != nil {
		e.T.Fatal(err)
	}
	if _, err := e.kennel.KennelV1().PetSets(e.Namespace).Patch(e.Context(10*time.Second), name, types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
		e.T.Fatalf("patch %s with %s: %v", name, b, err)
	}
}

// update changes the set with mutate, retrying on conflicts (the
// controller writes status meanwhile).
func (e *env) update(name string, mutate func(*kennelv1.PetSet)) error {
	ctx := e.Context(30 * time.Second)
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		set, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(set)
		_, err = e.kennel.KennelV1().PetSets(e.Namespace).Update(ctx, set, metav1.UpdateOptions{})
		return err
	})
}

// setImage changes the image of the template's container.
func (e *env) setImage(name, image string) {
	e.T.Helper()
	if err := e.update(name, func(set *kennelv1.PetSet) { set.Spec.Template.Spec.Containers[0].Image = image }); err != nil {
		e.T.Fatalf("update %s: %v", name, err)
	}
}

// waitNoPets waits until no pod labelled app=name exists.
func (e *env) waitNoPets(ctx context.Context, name string) {
	e.T.Helper()
	if err := e.WaitFor(ctx, "pets of "+name+" gone", func(ctx context.Context) (bool, error) {
		pets, err := e.Pets(ctx, name)
		return err == nil && len(pets) == 0, framework.Retry(err)
	}); err != nil {
		e.T.Fatal(err)
	}
}

// pets returns the set's pods sorted by ordinal.
func (e *env) pets(ctx context.Context, name string) []corev1.Pod {
	e.T.Helper()
	pets, err := e.Pets(ctx, name)
	if err != nil {
		e.T.Fatal(err)
	}
	return pets
}

// images returns "<pet>=<image>" for every pet.
func images(pets []corev1.Pod) string {
	var s []string
	for _, p := range pets {
		s = append(s, p.Name+"="+p.Spec.Containers[0].Image)
	}
	return strings.Join(s, " ")
}

// waitSet waits until cond holds for the set and its pets (all existing
// pods labelled app=name).
func (e *env) waitSet(ctx context.Context, name, what string, cond func(set *kennelv1.PetSet, pets []corev1.Pod) bool) (*kennelv1.PetSet, []corev1.Pod) {
	e.T.Helper()
	var (
		set  *kennelv1.PetSet
		pets []corev1.Pod
	)
	err := e.WaitFor(ctx, what, func(ctx context.Context) (bool, error) {
		var err error
		if set, err = e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, framework.Retry(err)
		}
		if pets, err = e.Pets(ctx, name); err != nil {
			return false, framework.Retry(err)
		}
		return cond(set, pets), nil
	})
	if err != nil {
		st := ""
		if set != nil {
			b, _ := json.Marshal(set.Status)
			st = string(b)
		}
		e.T.Fatalf("%v\nstatus %s\npets %s", err, st, images(pets))
	}
	return set, pets
}

// rolledOut reports whether all n pets are Ready, run the image, and the
// set's status says the update revision is current.
func rolledOut(n int, image string) func(*kennelv1.PetSet, []corev1.Pod) bool {
	return func(set *kennelv1.PetSet, pets []corev1.Pod) bool {
		if len(pets) != n || set.Status.CurrentRevision != set.Status.UpdateRevision || set.Status.ObservedGeneration != set.Generation ||
			set.Status.UpdatedReplicas != int32(n) || set.Status.ReadyReplicas != int32(n) {
			return false
		}
		for i := range pets {
			if !framework.PetReady(&pets[i]) || pets[i].Spec.Containers[0].Image != image || pets[i].Labels["controller-revision-hash"] != set.Status.UpdateRevision {
				return false
			}
		}
		return true
	}
}

func condition(set *kennelv1.PetSet, t string) *metav1.Condition {
	return meta.FindStatusCondition(set.Status.Conditions, t)
}

// uids maps pet names to UIDs.
func uids(pets []corev1.Pod) map[string]types.UID {
	out := map[string]types.UID{}
	for _, p := range pets {
		out[p.Name] = p.UID
	}
	return out
}
