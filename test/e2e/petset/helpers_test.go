package petset

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// env is one test's plane, namespace, clients and controller processes.
type env struct {
	*framework.Framework
	kennel versioned.Interface
}

// setup returns the test's environment with the PetSet CRD installed.
func setup(t *testing.T) *env {
	t.Helper()
	f := framework.New(t)
	return &env{Framework: f, kennel: f.InstallPetSetCRD()}
}

// controller is a controller process with its probe and metrics addresses.
type controller struct {
	*framework.Controller
	health  string
	metrics string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startController runs the controller binary against the plane, limited to
// the test's namespace, with its Lease in the namespace too.
func (e *env) startController(name string, extra ...string) *controller {
	e.T.Helper()
	c := &controller{health: freeAddr(e.T), metrics: freeAddr(e.T)}
	args := []string{
		"--namespace=" + e.Namespace,
		"--leader-elect-namespace=" + e.Namespace,
		"--leader-elect-lease-duration=4s",
		"--leader-elect-renew-deadline=3s",
		"--leader-elect-retry-period=500ms",
		"--metrics-bind-address=" + c.metrics,
		"--health-probe-bind-address=" + c.health,
	}
	c.Controller = e.StartController(name, append(args, extra...)...)
	return c
}

// leaseHolder waits for the controllers' Lease to have a holder and returns it.
func (e *env) leaseHolder(ctx context.Context) string {
	e.T.Helper()
	var holder string
	err := e.WaitFor(ctx, "Lease holder", func(ctx context.Context) (bool, error) {
		lease, err := e.Client.CoordinationV1().Leases(e.Namespace).Get(ctx, "kennel-controller", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		return holder != "", nil
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return holder
}

// newPetSet returns a PetSet with the shape of framework.StatefulSet.
func newPetSet(name string, replicas int32) *kennelv1.PetSet {
	return framework.PetSet(name, replicas)
}

// create creates the governing Service (unless withoutService) and the set.
func (e *env) create(set *kennelv1.PetSet, withService bool) *kennelv1.PetSet {
	e.T.Helper()
	ctx := e.Context(30 * time.Second)
	if withService {
		e.createService(set.Spec.ServiceName)
	}
	out, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatalf("create PetSet: %v", err)
	}
	return out
}

func (e *env) createService(name string) {
	e.T.Helper()
	ctx := e.Context(30 * time.Second)
	if _, err := e.Client.CoreV1().Services(e.Namespace).Create(ctx, framework.HeadlessService(name), metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("create service: %v", err)
	}
}

// scale sets the replicas through the scale subresource, retrying when the
// controller's status writes race with it.
func (e *env) scale(name string, replicas int32) {
	e.T.Helper()
	ctx := e.Context(30 * time.Second)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := e.kennel.KennelV1().PetSets(e.Namespace).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = replicas
		_, err = e.kennel.KennelV1().PetSets(e.Namespace).UpdateScale(ctx, name, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.T.Fatalf("scale %s to %d: %v", name, replicas, err)
	}
}

func (e *env) get(name string) *kennelv1.PetSet {
	e.T.Helper()
	set, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(e.Context(10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return set
}

// waitCondition waits until the set's condition, written for its current
// generation, has the status (and the reason, if not empty).
func (e *env) waitCondition(ctx context.Context, name, condType string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	e.T.Helper()
	var got *metav1.Condition
	err := e.WaitFor(ctx, fmt.Sprintf("PetSet %s %s=%s %s", name, condType, status, reason), func(ctx context.Context) (bool, error) {
		set, err := e.kennel.KennelV1().PetSets(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		got = meta.FindStatusCondition(set.Status.Conditions, condType)
		return got != nil && got.ObservedGeneration == set.Generation && got.Status == status && (reason == "" || got.Reason == reason), nil
	})
	if err != nil {
		e.T.Fatalf("%v; last condition %+v", err, got)
	}
	return got
}

// waitOwnedReady waits until each named pod exists, is Ready and is
// controlled by the set.
func (e *env) waitOwnedReady(ctx context.Context, set string, names ...string) {
	e.T.Helper()
	err := e.WaitFor(ctx, fmt.Sprintf("%v Ready and owned by %s", names, set), func(ctx context.Context) (bool, error) {
		for _, n := range names {
			p, err := e.Client.CoreV1().Pods(e.Namespace).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, framework.Retry(err)
			}
			ref := metav1.GetControllerOf(p)
			if !framework.PetReady(p) || ref == nil || ref.Name != set {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		e.T.Fatal(err)
	}
}

// petNames returns the names of the set's pods that exist now.
func (e *env) petNames(ctx context.Context, set string) []string {
	e.T.Helper()
	pets, err := e.Pets(ctx, set)
	if err != nil {
		e.T.Fatal(err)
	}
	var out []string
	for _, p := range pets {
		out = append(out, p.Name)
	}
	return out
}

// duplicateWatcher watches every pod of the namespace and records a
// violation whenever a pet appears for an ordinal that still has another
// pod that has not been deleted and has not terminated (Failed or Succeeded).
type duplicateWatcher struct {
	mu         sync.Mutex
	live       map[string]map[types.UID]bool // "<set>/<ordinal>" -> live pod UIDs
	violations []string
	events     int
}

func (e *env) watchDuplicates(ctx context.Context) *duplicateWatcher {
	e.T.Helper()
	d := &duplicateWatcher{live: map[string]map[types.UID]bool{}}
	w, err := e.Client.CoreV1().Pods(e.Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			d.observe(ev.Type, pod)
		}
	}()
	e.T.Cleanup(w.Stop)
	return d
}

func (d *duplicateWatcher) observe(t watch.EventType, pod *corev1.Pod) {
	set, ord, ok := ordinal.Parse(pod.Name)
	if !ok {
		return
	}
	key := set + "/" + strconv.Itoa(ord)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events++
	if d.live[key] == nil {
		d.live[key] = map[types.UID]bool{}
	}
	terminated := pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
	if t == watch.Deleted || terminated {
		delete(d.live[key], pod.UID)
		return
	}
	d.live[key][pod.UID] = true
	if len(d.live[key]) > 1 {
		d.violations = append(d.violations, fmt.Sprintf("%s: %d live pods for ordinal %d at event %s of %s (uid %s)", key, len(d.live[key]), ord, t, pod.Name, pod.UID))
	}
}

func (d *duplicateWatcher) check(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.events == 0 {
		t.Error("duplicate watcher saw no pod events")
	}
	for _, v := range d.violations {
		t.Error(v)
	}
}

// httpGet returns the body of a 200 response.
func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}
