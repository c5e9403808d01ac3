package lifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/reconcile"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// Migration from a live StatefulSet: orphan-delete it, create a PetSet with
// the same name, selector and template (as written, without the API
// server's defaults); the PetSet adopts pods, claims and revisions and no
// pod is restarted. Then an update rolls through the PetSet as usual.
func TestMigrationFromStatefulSet(t *testing.T) {
	e := setup(t, true)
	ctx := e.Context(4 * time.Minute)
	sts := framework.StatefulSet("web", 3)
	e.CreateStatefulSet(ctx, sts)
	pods := e.WaitForReadyPets(ctx, "web", 3)
	before := uids(pods)
	stsRevision := pods[0].Labels["controller-revision-hash"]
	if stsRevision == "" {
		t.Fatalf("StatefulSet pods carry no controller-revision-hash")
	}

	if _, err := e.KubectlInNamespace("delete", "statefulset", "web", "--cascade=orphan", "--wait=true"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, "pods orphaned", func(ctx context.Context) (bool, error) {
		pets, err := e.Pets(ctx, "web")
		if err != nil {
			return false, framework.Retry(err)
		}
		for _, p := range pets {
			if metav1.GetControllerOf(&p) != nil {
				return false, nil
			}
		}
		return len(pets) == 3, nil
	}); err != nil {
		t.Fatal(err)
	}

	rec := e.RecordPods(ctx, "app=web")
	e.startController()
	ps := newPetSet("web", 3, true) // the StatefulSet's spec as written
	if _, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, ps, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitSet(ctx, "web", "pods adopted, set ready", func(s *kennelv1.PetSet, pets []corev1.Pod) bool {
		if len(pets) != 3 || s.Status.ReadyReplicas != 3 || s.Status.ObservedGeneration != s.Generation {
			return false
		}
		for _, p := range pets {
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "PetSet" || p.Labels[reconcile.PetSetLabel] != "web" {
				return false
			}
		}
		return true
	})
	// For a while, nothing may be rolled.
	samePets := e.samePets("web", before)
	e.Consistently(5*time.Second, "pods left alone after the migration", func(ctx context.Context) error {
		if err := samePets(ctx); err != nil {
			return err
		}
		for _, ev := range rec.Events() {
			if ev.Deleting {
				return fmt.Errorf("pod deleted during migration: %v", ev)
			}
		}
		return nil
	})
	set := e.get("web")
	if set.Status.UpdateRevision != stsRevision || set.Status.CurrentRevision != stsRevision || set.Status.UpdatedReplicas != 3 {
		t.Fatalf("status %+v, want the StatefulSet's revision %s current and updated", set.Status, stsRevision)
	}
	rev, err := e.Client.AppsV1().ControllerRevisions(e.Namespace).Get(ctx, stsRevision, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(rev); ref == nil || ref.Kind != "PetSet" {
		t.Fatalf("StatefulSet revision not adopted: %+v", rev.OwnerReferences)
	}
	if got := e.claimNames(ctx); len(got) != 3 {
		t.Fatalf("claims %v", got)
	}
	// The PetSet now manages updates.
	e.setImage("web", image2)
	e.waitSet(ctx, "web", "update after migration", rolledOut(3, image2))
	// And the retention policy applies to the adopted claims.
	e.patch("web", map[string]any{"spec": map[string]any{
		"replicas":                             2,
		"persistentVolumeClaimRetentionPolicy": map[string]any{"whenScaled": "Delete"},
	}})
	e.waitClaims(ctx, "adopted claim of the scaled-away pet deleted", "data-web-0", "data-web-1")
}

// Storage resize through volumeClaimTemplates: raising the storage request
// raises every claim's request where the StorageClass allows expansion,
// and says why not where it does not. Other template changes are refused
// by the API server.
func TestStorageResize(t *testing.T) {
	e := setup(t, false)
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("web", 2, true)
	e.create(set)
	e.waitSet(ctx, "web", "2 pets", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 2) })
	e.WaitForBoundClaims(ctx, "data-web-0", "data-web-1")

	grow := func(set *kennelv1.PetSet) {
		set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	}
	if err := e.update("web", grow); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, "claims requesting 2Gi", func(ctx context.Context) (bool, error) {
		for _, n := range []string{"data-web-0", "data-web-1"} {
			c, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, framework.Retry(err)
			}
			if q := c.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("2Gi")) != 0 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	s, _ := e.waitSet(ctx, "web", "VolumeClaimsResized reported", func(s *kennelv1.PetSet, _ []corev1.Pod) bool {
		return condition(s, kennelv1.PetSetVolumeClaimsResized) != nil && condition(s, kennelv1.PetSetVolumeClaimsResized).ObservedGeneration == s.Generation
	})
	t.Logf("VolumeClaimsResized: %+v", *condition(s, kennelv1.PetSetVolumeClaimsResized))

	// Any other change to the claim templates is refused.
	err := e.update("web", func(set *kennelv1.PetSet) {
		set.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("changing accessModes: %v, want Invalid", err)
	}
	t.Logf("refused: %v", err)

	// A StorageClass without expansion: the set says why.
	no := false
	className := "fixed-" + e.Namespace
	bind := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: className}, Provisioner: "kubernetes.io/host-path",
		AllowVolumeExpansion: &no, VolumeBindingMode: &bind}
	if _, err := e.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.Client.StorageV1().StorageClasses().Delete(context.Background(), className, metav1.DeleteOptions{})
	})
	fixed := newPetSet("db", 1, true)
	fixed.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = &className
	e.create(fixed)
	e.waitSet(ctx, "db", "1 pet", func(_ *kennelv1.PetSet, pets []corev1.Pod) bool { return allReady(pets, 1) })
	if err := e.update("db", grow); err != nil {
		t.Fatal(err)
	}
	e.waitSet(ctx, "db", "ResizeNotAllowed", func(s *kennelv1.PetSet, _ []corev1.Pod) bool {
		c := condition(s, kennelv1.PetSetVolumeClaimsResized)
		return c != nil && c.Reason == reconcile.ReasonResizeNotAllowed && c.Status == metav1.ConditionFalse
	})
}
