// Package petset holds the end-to-end tests of the PetSet controller: the
// cmd/controller binary runs as a process against the local control plane.
package petset

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/pkg/reconcile"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

const (
	holdReady = "kennel.dev/hold-ready"
	failPod   = "kennel.dev/fail"
)

// lastBefore returns the last event of pod name before index seq.
func lastBefore(events []framework.PodEvent, name string, seq int) (framework.PodEvent, bool) {
	var last framework.PodEvent
	found := false
	for _, e := range events {
		if e.Seq >= seq {
			break
		}
		if e.Name == name {
			last, found = e, true
		}
	}
	return last, found
}

// checkOrderedCreation checks that every pet created was created only when
// the pet below it was Ready and not terminating.
func checkOrderedCreation(t *testing.T, set string, rec *framework.PodRecorder) {
	t.Helper()
	events := rec.Events()
	for _, e := range events {
		if e.Type != watch.Added {
			continue
		}
		_, ord, ok := ordinal.Parse(e.Name)
		if !ok || ord == 0 {
			continue
		}
		prev, found := lastBefore(events, ordinal.PetName(set, ord-1), e.Seq)
		if !found || !prev.Ready || prev.Deleting || prev.Type == watch.Deleted {
			t.Errorf("%s created while %s was %v (found=%v)\n%s", e.Name, ordinal.PetName(set, ord-1), prev, found, rec)
		}
	}
}

// checkOrderedDeletion checks that pets were deleted from the highest
// ordinal down, each gone before the next began terminating.
func checkOrderedDeletion(t *testing.T, rec *framework.PodRecorder, want []string) {
	t.Helper()
	events := rec.Events()
	var order []string
	started := map[string]int{}
	gone := map[string]int{}
	for _, e := range events {
		if _, ok := started[e.Name]; !ok && (e.Deleting || e.Type == watch.Deleted) {
			started[e.Name] = e.Seq
			order = append(order, e.Name)
		}
		if e.Type == watch.Deleted {
			gone[e.Name] = e.Seq
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("deletion order %v, want %v\n%s", order, want, rec)
		return
	}
	for i := 1; i < len(want); i++ {
		g, ok := gone[want[i-1]]
		if !ok || started[want[i]] < g {
			t.Errorf("%s began terminating before %s was gone\n%s", want[i], want[i-1], rec)
		}
	}
}

func TestOrderedScaling(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(4 * time.Minute)
	rec := e.RecordPods(ctx, "app=web")
	dups := e.watchDuplicates(ctx)
	e.create(newPetSet("web", 0), true)
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")

	e.scale("web", 3)
	e.WaitForReadyPets(ctx, "web", 3)
	if got := rec.Created(); !slices.Equal(got, []string{"web-0", "web-1", "web-2"}) {
		t.Fatalf("created %v", got)
	}

	// kubectl scale goes through the scale subresource too.
	if _, err := e.KubectlInNamespace("scale", "petset/web", "--replicas=5"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.KubectlInNamespace("wait", "--for=condition=Ready", "--timeout=120s", "petset/web"); err != nil {
		t.Fatal(err)
	}
	pets := e.WaitForReadyPets(ctx, "web", 5)
	if got := rec.Created(); !slices.Equal(got, []string{"web-0", "web-1", "web-2", "web-3", "web-4"}) {
		t.Fatalf("created %v", got)
	}
	checkOrderedCreation(t, "web", rec)

	// Identity: hostname, subdomain, labels, owner and claim per pet.
	for i, p := range pets {
		name := ordinal.PetName("web", i)
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" {
			t.Errorf("%s hostname=%q subdomain=%q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		if p.Labels[reconcile.PodNameLabel] != name || p.Labels[reconcile.PodIndexLabel] != fmt.Sprint(i) ||
			p.Labels[reconcile.PetSetLabel] != "web" || p.Labels[reconcile.PetIndexLabel] != fmt.Sprint(i) {
			t.Errorf("%s labels %v", p.Name, p.Labels)
		}
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "PetSet" || ref.Name != "web" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("%s controller ref %+v", p.Name, ref)
		}
	}

	e.scale("web", 2)
	e.WaitForReadyPets(ctx, "web", 2)
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
	checkOrderedDeletion(t, rec, []string{"web-4", "web-3", "web-2"})

	set := e.get("web")
	if set.Status.Replicas != 2 || set.Status.ReadyReplicas != 2 || set.Status.AvailableReplicas != 2 ||
		set.Status.ObservedGeneration != set.Generation || set.Status.Selector != "app=web" {
		t.Errorf("status %+v", set.Status)
	}
	// Claims outlive their pets.
	claims, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Items) != 5 {
		t.Errorf("%d claims after scaling down, want 5 kept", len(claims.Items))
	}
	if !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonSuccessfulCreate) || !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonSuccessfulDelete) {
		t.Error("no SuccessfulCreate/SuccessfulDelete events on the PetSet")
	}
	dups.check(t)
}

func TestHaltOnUnhealthyPetAndResume(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 2), true)
	e.WaitForReadyPets(ctx, "web", 2)

	e.SetPodAnnotation(ctx, "web-1", holdReady, "true")
	e.WaitForPodReady(ctx, "web-1", false)
	e.scale("web", 4)
	e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionFalse, reconcile.ReasonPetNotReady)
	e.Consistently(3*time.Second, "no pet beyond the unhealthy web-1", func(ctx context.Context) error {
		if got := e.petNames(ctx, "web"); len(got) != 2 {
			return fmt.Errorf("pets %v", got)
		}
		return nil
	})
	if !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonPetNotReady) {
		t.Error("no PetNotReady event")
	}

	e.SetPodAnnotation(ctx, "web-1", holdReady, "")
	e.WaitForReadyPets(ctx, "web", 4)
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
	e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionTrue, reconcile.ReasonComplete)
}

func TestNoDeadlockWhenPredecessorIsDeleted(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 3), true)
	pets := e.WaitForReadyPets(ctx, "web", 3)
	oldUID := pets[0].UID

	e.SetPodAnnotation(ctx, "web-1", holdReady, "true")
	e.WaitForPodReady(ctx, "web-1", false)
	if err := e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := e.WaitFor(ctx, "web-0 recreated and Ready while web-1 is held", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return p.UID != oldUID && framework.PetReady(p), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil || p1.UID != pets[1].UID {
		t.Fatalf("web-1 replaced or missing: %v", err)
	}
}

func TestParallelIgnoresUnhealthyPets(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("par", 4)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.Template.Annotations = map[string]string{holdReady: "true"}
	e.create(set, true)
	err := e.WaitFor(ctx, "4 pets created though none is Ready", func(ctx context.Context) (bool, error) {
		return len(e.petNames(ctx, "par")) == 4, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pets, _ := e.Pets(ctx, "par")
	for i := range pets {
		if framework.PetReady(&pets[i]) {
			t.Errorf("%s Ready despite %s", pets[i].Name, holdReady)
		}
	}
	e.scale("par", 1)
	err = e.WaitFor(ctx, "scale down to 1 while unhealthy", func(ctx context.Context) (bool, error) {
		return slices.Equal(e.petNames(ctx, "par"), []string{"par-0"}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStorageIdentityAndDNS(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 3), true)
	pets := e.WaitForReadyPets(ctx, "web", 3)
	e.WaitForBoundClaims(ctx, "data-web-0", "data-web-1", "data-web-2")
	claim, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, "data-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claim.Labels["app"] != "web" {
		t.Errorf("claim labels %v lack the selector's", claim.Labels)
	}

	// The pet is recreated with the same claim (same UID, same volume).
	if err := e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = e.WaitFor(ctx, "web-1 recreated", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return p.UID != pets[1].UID && framework.PetReady(p), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var claimName string
	for _, v := range p.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claimName = v.PersistentVolumeClaim.ClaimName
		}
	}
	again, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, "data-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claimName != "data-web-1" || again.UID != claim.UID || again.Spec.VolumeName != claim.Spec.VolumeName {
		t.Errorf("recreated pet uses claim %q (uid %s, volume %s), want data-web-1 (uid %s, volume %s)",
			claimName, again.UID, again.Spec.VolumeName, claim.UID, claim.Spec.VolumeName)
	}

	// DNS: each pet's name resolves and the Service's SRV records list them all.
	srvName := fmt.Sprintf("_%s._tcp.web.%s.svc.cluster.local", framework.PeerPort, e.Namespace)
	var want []string
	for i := range 3 {
		want = append(want, e.FQDN("web", "web", i))
	}
	err = e.WaitFor(ctx, "SRV records of "+srvName, func(ctx context.Context) (bool, error) {
		recs, err := framework.LookupSRV(ctx, e.Plane.DNSAddr(), srvName)
		if err != nil {
			return false, framework.Retry(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.Target)
		}
		if !slices.Equal(got, want) {
			return false, framework.Retry(fmt.Errorf("got %v, want %v", got, want))
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, fqdn := range want {
		ips, err := framework.LookupA(ctx, e.Plane.DNSAddr(), fqdn)
		if err != nil || len(ips) != 1 {
			t.Errorf("A %s: %v %v", fqdn, ips, err)
		}
	}
}

func TestAdoptionAndRelease(t *testing.T) {
	e := setup(t)
	ctx := e.Context(3 * time.Minute)
	// An orphan that matches the selector and the name pattern, created
	// before the controller runs. Under OnDelete the adopted pod is kept
	// (a rolling update would replace it: it lacks the revision label).
	set := newPetSet("web", 2)
	set.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec:       *set.Spec.Template.Spec.DeepCopy(),
	}
	orphan.Spec.Volumes = nil
	orphan.Spec.Containers[0].VolumeMounts = nil
	created, err := e.Client.CoreV1().Pods(e.Namespace).Create(ctx, orphan, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A pod that matches the selector but not the name pattern stays alone.
	stranger := orphan.DeepCopy()
	stranger.Name = "web-x"
	if _, err := e.Client.CoreV1().Pods(e.Namespace).Create(ctx, stranger, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.create(set, true)
	e.startController("a")

	err = e.WaitFor(ctx, "web-0 adopted", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		ref := metav1.GetControllerOf(p)
		return ref != nil && ref.Name == "web" && p.UID == created.UID, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, "web-1 created", func(ctx context.Context) (bool, error) {
		return slices.Contains(e.petNames(ctx, "web"), "web-1"), nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-x", metav1.GetOptions{})
	if err != nil || metav1.GetControllerOf(p) != nil {
		t.Errorf("web-x adopted or gone: %v", err)
	}
	// The adopted pet gets its identity labels.
	err = e.WaitFor(ctx, "web-0 identity labels", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return p.Labels[reconcile.PetIndexLabel] == "0" && p.UID == created.UID, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitOwnedReady(ctx, "web", "web-0", "web-1")

	// Release: a pet relabelled out of the selector loses its owner.
	patch := []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)
	if _, err := e.Client.CoreV1().Pods(e.Namespace).Patch(ctx, "web-0", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = e.WaitFor(ctx, "web-0 released", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return metav1.GetControllerOf(p) == nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The released pod still holds the name web-0: the set says so.
	e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionFalse, reconcile.ReasonPetNameTaken)
	// Once the released pod is gone the controller makes its own web-0.
	if err := e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitOwnedReady(ctx, "web", "web-0", "web-1")
}

func TestPauseAnnotation(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 1), true)
	e.WaitForReadyPets(ctx, "web", 1)
	e.SetPodAnnotation(ctx, "web-0", reconcile.InitializedAnnotation, "false")
	e.scale("web", 3)
	e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionFalse, reconcile.ReasonPaused)
	e.Consistently(3*time.Second, "no scaling while paused", func(ctx context.Context) error {
		if got := e.petNames(ctx, "web"); len(got) != 1 {
			return fmt.Errorf("pets %v", got)
		}
		return nil
	})
	e.SetPodAnnotation(ctx, "web-0", reconcile.InitializedAnnotation, "true")
	e.WaitForReadyPets(ctx, "web", 3)
}

func TestMissingServiceThenCreated(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 2), false)
	e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionFalse, reconcile.ReasonServiceNotFound)
	if !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonServiceNotFound) {
		t.Error("no ServiceNotFound event")
	}
	if got := e.petNames(ctx, "web"); len(got) != 0 {
		t.Fatalf("pets %v without a Service", got)
	}
	e.createService("web")
	e.WaitForReadyPets(ctx, "web", 2)
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
}

func TestFailedPetIsRecreated(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	dups := e.watchDuplicates(ctx)
	e.create(newPetSet("web", 2), true)
	pets := e.WaitForReadyPets(ctx, "web", 2)
	e.SetPodAnnotation(ctx, "web-1", failPod, "true")
	err := e.WaitFor(ctx, "web-1 replaced", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return p.UID != pets[1].UID && framework.PetReady(p), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonRecreatingFailedPet) {
		t.Error("no RecreatingFailedPet event")
	}
	dups.check(t)
}

// TestTwoControllers runs two controller processes at once, with leader
// election and without, through scaling, failing pets and (with leader
// election) a leader handover; a watcher checks that no ordinal ever has
// two live pods.
func TestTwoControllers(t *testing.T) {
	for _, le := range []bool{true, false} {
		t.Run(fmt.Sprintf("leader-elect=%v", le), func(t *testing.T) {
			e := setup(t)
			flag := fmt.Sprintf("--leader-elect=%v", le)
			ctrls := []*controller{e.startController("a", flag), e.startController("b", flag)}
			ctx := e.Context(5 * time.Minute)
			dups := e.watchDuplicates(ctx)
			set := newPetSet("web", 4)
			e.create(set, true)
			par := newPetSet("par", 4)
			par.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			e.create(par, true)
			e.WaitForReadyPets(ctx, "web", 4)
			e.WaitForReadyPets(ctx, "par", 4)

			var leader string
			if le {
				leader = e.leaseHolder(ctx)
			}
			for round := range 3 {
				for _, name := range []string{"web-2", "par-1", "par-3"} {
					e.SetPodAnnotation(ctx, name, failPod, "true")
				}
				e.scale("par", 6)
				if le && round == 1 {
					// Hand over: the leader stops (releasing the Lease) mid-flight.
					for _, c := range ctrls {
						if c.LogContains(`"Acquired leadership" identity="` + leader + `"`) {
							c.Stop(t)
						}
					}
					// The stopped leader released the Lease on its way out.
					lease, err := e.Client.CoordinationV1().Leases(e.Namespace).Get(ctx, "kennel-controller", metav1.GetOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if h := lease.Spec.HolderIdentity; h != nil && *h == leader {
						t.Errorf("Lease still names the stopped leader %s: not released on shutdown", leader)
					}
				}
				e.WaitForReadyPets(ctx, "web", 4)
				e.WaitForReadyPets(ctx, "par", 6)
				e.scale("web", 1)
				e.scale("par", 2)
				e.WaitForReadyPets(ctx, "web", 1)
				e.WaitForReadyPets(ctx, "par", 2)
				e.scale("web", 4)
				e.scale("par", 4)
				e.WaitForReadyPets(ctx, "web", 4)
				e.WaitForReadyPets(ctx, "par", 4)
			}
			if le {
				if now := e.leaseHolder(ctx); now == leader {
					t.Errorf("lease still held by %s after the leader stopped", leader)
				}
			}
			dups.check(t)
		})
	}
}

func TestHealthEndpoints(t *testing.T) {
	e := setup(t)
	c := e.startController("a")
	ctx := e.Context(time.Minute)
	err := e.WaitFor(ctx, "/readyz ok", func(ctx context.Context) (bool, error) {
		out, err := httpGet(ctx, "http://"+c.health+"/readyz")
		return err == nil && strings.TrimSpace(out) == "ok", framework.Retry(err)
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := httpGet(ctx, "http://"+c.health+"/healthz"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("/healthz %q %v", out, err)
	}
	e.create(newPetSet("web", 1), true)
	e.WaitForReadyPets(ctx, "web", 1)
	out, err := httpGet(ctx, "http://"+c.metrics+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		"kennel_petset_syncs_total", "kennel_petset_sync_errors_total", "kennel_petset_sync_duration_seconds_bucket",
		"kennel_petset_pets_created_total 1", `kennel_workqueue_depth{name="petset"}`, `kennel_workqueue_adds_total{name="petset"}`,
	} {
		if !strings.Contains(out, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// TestRejectedByQuotaBackoffAndRecovery: a ResourceQuota rejects the second
// pet (or its claim); the set reports it and recovers once the quota is
// raised, through the backoff requeue alone.
func TestRejectedByQuotaBackoffAndRecovery(t *testing.T) {
	for _, tc := range []struct {
		resource corev1.ResourceName
		reason   string
	}{
		{corev1.ResourcePods, reconcile.ReasonFailedCreate},
		{corev1.ResourcePersistentVolumeClaims, reconcile.ReasonFailedCreateClaim},
	} {
		t.Run(string(tc.resource), func(t *testing.T) {
			e := setup(t)
			ctx := e.Context(3 * time.Minute)
			quota := &corev1.ResourceQuota{
				ObjectMeta: metav1.ObjectMeta{Name: "quota"},
				Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{tc.resource: resource.MustParse("1")}},
			}
			if _, err := e.Client.CoreV1().ResourceQuotas(e.Namespace).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			err := e.WaitFor(ctx, "quota status", func(ctx context.Context) (bool, error) {
				q, err := e.Client.CoreV1().ResourceQuotas(e.Namespace).Get(ctx, "quota", metav1.GetOptions{})
				if err != nil {
					return false, framework.Retry(err)
				}
				_, ok := q.Status.Hard[tc.resource]
				return ok, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			e.startController("a")
			e.create(newPetSet("web", 2), true)
			e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionFalse, tc.reason)
			if !e.HasEvent(ctx, "PetSet", "web", tc.reason) {
				t.Errorf("no %s event", tc.reason)
			}
			if got := e.petNames(ctx, "web"); !slices.Equal(got, []string{"web-0"}) {
				t.Fatalf("pets %v", got)
			}
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				q, err := e.Client.CoreV1().ResourceQuotas(e.Namespace).Get(ctx, "quota", metav1.GetOptions{})
				if err != nil {
					return err
				}
				q.Spec.Hard[tc.resource] = resource.MustParse("5")
				_, err = e.Client.CoreV1().ResourceQuotas(e.Namespace).Update(ctx, q, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			e.WaitForReadyPets(ctx, "web", 2)
			e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
		})
	}
}

// TestMinReadySeconds: the next pet waits until the previous one has been
// Ready for minReadySeconds, and availableReplicas follows.
func TestMinReadySeconds(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	rec := e.RecordPods(ctx, "app=web")
	set := newPetSet("web", 2)
	set.Spec.MinReadySeconds = 3
	e.create(set, true)
	e.WaitForReadyPets(ctx, "web", 2)
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
	if s := e.get("web").Status; s.AvailableReplicas != 2 {
		t.Errorf("availableReplicas %d", s.AvailableReplicas)
	}
	ready0, ok := rec.First(func(ev framework.PodEvent) bool { return ev.Name == "web-0" && ev.Ready })
	if !ok {
		t.Fatalf("web-0 never seen Ready\n%s", rec)
	}
	added1, ok := rec.First(func(ev framework.PodEvent) bool { return ev.Name == "web-1" })
	if !ok {
		t.Fatalf("web-1 never seen\n%s", rec)
	}
	// Both times are when the watch delivered the change; allow a second
	// for the Ready condition's timestamp being truncated to whole seconds.
	if gap := added1.At.Sub(ready0.At); gap < 2*time.Second {
		t.Errorf("web-1 created %s after web-0 was Ready, want at least minReadySeconds (3s)\n%s", gap, rec)
	}
}

// TestRollingUpdateAndStartOrdinal: a template change replaces pets from the
// highest ordinal down to the partition, one at a time; ordinals.start
// shifts the range.
func TestRollingUpdateAndStartOrdinal(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("web", 3)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 4}
	e.create(set, true)
	pets := e.WaitForReadyPets(ctx, "web", 3)
	if got := []string{pets[0].Name, pets[1].Name, pets[2].Name}; !slices.Equal(got, []string{"web-4", "web-5", "web-6"}) {
		t.Fatalf("pets %v, want web-4..6", got)
	}
	oldRev := pets[0].Labels[reconcile.RevisionLabel]
	rec := e.RecordPods(ctx, "app=web")

	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := e.get("web")
		cur.Spec.Template.Annotations = map[string]string{"kennel.dev/e2e-rollout": "2"}
		partition := int32(1)
		cur.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
			Type:          appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition},
		}
		_, err := e.kennel.KennelV1().PetSets(e.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
	err = e.WaitFor(ctx, "web-5 and web-6 updated", func(ctx context.Context) (bool, error) {
		pets, err := e.Pets(ctx, "web")
		if err != nil || len(pets) != 3 {
			return false, framework.Retry(err)
		}
		return pets[0].Labels[reconcile.RevisionLabel] == oldRev &&
			pets[1].Labels[reconcile.RevisionLabel] != oldRev && pets[2].Labels[reconcile.RevisionLabel] != oldRev &&
			framework.PetReady(&pets[1]) && framework.PetReady(&pets[2]), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkOrderedDeletion(t, rec, []string{"web-6", "web-5"})
	err = e.WaitFor(ctx, "status of the partitioned rollout", func(ctx context.Context) (bool, error) {
		s := e.get("web").Status
		return s.UpdatedReplicas == 2 && s.ReadyReplicas == 3 && s.UpdateRevision != oldRev, nil
	})
	if err != nil {
		t.Fatalf("%v: %+v", err, e.get("web").Status)
	}
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
}

// TestReservedOrdinals: a reserved ordinal gets no pet and the others keep
// their ordinals; reserving a running pet's ordinal removes that pet.
func TestReservedOrdinals(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	set := newPetSet("web", 3)
	set.Spec.ReserveOrdinals = []int32{1}
	e.create(set, true)
	e.waitOwnedReady(ctx, "web", "web-0", "web-2", "web-3")
	if got := e.petNames(ctx, "web"); !slices.Equal(got, []string{"web-0", "web-2", "web-3"}) {
		t.Fatalf("pets %v", got)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := e.get("web")
		cur.Spec.ReserveOrdinals = []int32{1, 2}
		_, err := e.kennel.KennelV1().PetSets(e.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.WaitFor(ctx, "pets web-0 web-3 web-4", func(ctx context.Context) (bool, error) {
		return slices.Equal(e.petNames(ctx, "web"), []string{"web-0", "web-3", "web-4"}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
}

// TestRollbackOfBrokenRollout: a rollout onto a template whose pets never
// become Ready halts on the first one; reverting the template replaces it
// and the set is Ready again, with no pod deleted by hand
// (kubernetes#67250).
func TestRollbackOfBrokenRollout(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 3), true)
	pets := e.WaitForReadyPets(ctx, "web", 3)
	good := pets[0].Labels[reconcile.RevisionLabel]

	setHold := func(hold bool) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := e.get("web")
			if hold {
				cur.Spec.Template.Annotations = map[string]string{holdReady: "true"}
			} else {
				cur.Spec.Template.Annotations = nil
			}
			_, err := e.kennel.KennelV1().PetSets(e.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setHold(true)
	err := e.WaitFor(ctx, "web-2 on the broken template", func(ctx context.Context) (bool, error) {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-2", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return p.Labels[reconcile.RevisionLabel] != good && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Consistently(2*time.Second, "rollout halted on web-2", func(ctx context.Context) error {
		p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Labels[reconcile.RevisionLabel] != good {
			return fmt.Errorf("web-1 updated while web-2 is not Ready")
		}
		return nil
	})

	setHold(false)
	err = e.WaitFor(ctx, "all pets Ready on the good template", func(ctx context.Context) (bool, error) {
		pets, err := e.Pets(ctx, "web")
		if err != nil || len(pets) != 3 {
			return false, framework.Retry(err)
		}
		for i := range pets {
			if pets[i].Labels[reconcile.RevisionLabel] != good || !framework.PetReady(&pets[i]) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
	if !e.HasEvent(ctx, "PetSet", "web", reconcile.ReasonReplacingUnhealthyPet) {
		t.Error("no ReplacingUnhealthyPet event")
	}
}

// TestTerminatingClaimBlocksPet: a pet whose claim is being deleted is not
// recreated on it; once the claim is gone a fresh claim and pet are made.
func TestTerminatingClaimBlocksPet(t *testing.T) {
	e := setup(t)
	e.startController("a")
	ctx := e.Context(3 * time.Minute)
	e.create(newPetSet("web", 1), true)
	e.WaitForReadyPets(ctx, "web", 1)
	e.WaitForBoundClaims(ctx, "data-web-0")
	claims := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace)
	old, err := claims.Get(ctx, "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A finalizer of the test's keeps the claim Terminating until released.
	const hold = "kennel.dev/e2e-hold"
	patch := []byte(`{"metadata":{"finalizers":["` + hold + `"]}}`)
	if _, err := claims.Patch(ctx, "data-web-0", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := claims.Delete(ctx, "data-web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitCondition(ctx, "web", kennelv1.PetSetProgressing, metav1.ConditionFalse, reconcile.ReasonClaimTerminating)
	if got := e.petNames(ctx, "web"); len(got) != 0 {
		t.Fatalf("pet recreated on a terminating claim: %v", got)
	}
	if _, err := claims.Patch(ctx, "data-web-0", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.WaitForReadyPets(ctx, "web", 1)
	fresh, err := claims.Get(ctx, "data-web-0", metav1.GetOptions{})
	if err != nil || fresh.UID == old.UID {
		t.Fatalf("claim not recreated: %v", err)
	}
	e.waitCondition(ctx, "web", kennelv1.PetSetReady, metav1.ConditionTrue, "")
}
