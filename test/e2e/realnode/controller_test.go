package realnode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

const (
	systemNS       = "kennel-system"
	controllerSel  = "app.kubernetes.io/name=kennel,app.kubernetes.io/component=controller"
	leaseName      = "kennel-controller"
	serviceAccount = "kennel-controller"
)

// The deployed controller: `make deploy` with the project's controller
// image runs 2 replicas in kennel-system under the restricted Pod Security
// level, with in-cluster config from their ServiceAccount, leader election,
// the kubelet's probes on /healthz and /readyz and metrics on the pod IP.
// Its token is refused a Secret read. Killing the leader pod during a
// scale-up hands over to the other replica, which completes the scale.
func TestDeployedController(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(8 * time.Minute)
	dir := overlay(t, filepath.Join(framework.RepoRoot(), "deploy"), "", nil,
		image("ghcr.io/kennel-dev/controller", framework.ControllerImage))
	start := time.Now()
	cmd := exec.Command(filepath.Join(framework.RepoRoot(), "hack", "deploy.sh"))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+f.Plane.Kubeconfig(), "KUBECTL="+filepath.Join(f.Plane.BinDir(), "kubectl"),
		"KENNEL_DEPLOY_DIR="+dir, "KENNEL_DEPLOY_TIMEOUT=3m")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deploy (hack/deploy.sh): %v\n%s", err, out)
	}
	t.Cleanup(func() { undeploy(f) })
	t.Logf("deployed and rolled out in %s", time.Since(start).Round(time.Millisecond))

	ns, err := f.Client.CoreV1().Namespaces().Get(ctx, systemNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("%s enforces Pod Security %q, want restricted", systemNS, got)
	}
	replicas := controllerPods(ctx, t, f, 2)
	onRealNode(t, replicas)
	for _, p := range replicas {
		if p.Spec.ServiceAccountName != serviceAccount {
			t.Errorf("pod %s runs as ServiceAccount %q", p.Name, p.Spec.ServiceAccountName)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				t.Errorf("pod %s container %s restarted %d times (liveness probe?)", p.Name, cs.Name, cs.RestartCount)
			}
		}
	}
	leader := leaseHolder(ctx, t, f, "")
	t.Logf("leader: %s", leader)

	checkMetrics(ctx, t, replicas)
	checkTokenRefusedSecrets(ctx, t, f, replicas[0])
	checkFailover(ctx, t, f, leader)
}

// controllerPods waits for n Ready controller pods and returns them.
func controllerPods(ctx context.Context, t *testing.T, f *framework.Framework, n int) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	err := f.WaitFor(ctx, fmt.Sprintf("%d Ready controller pods", n), func(ctx context.Context) (bool, error) {
		list, err := f.Client.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: controllerSel})
		if err != nil {
			return false, framework.Retry(err)
		}
		ready = ready[:0]
		for _, p := range list.Items {
			if podReady(&p) && p.DeletionTimestamp == nil {
				ready = append(ready, p)
			}
		}
		return len(ready) == n && len(list.Items) == n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ready
}

// leaseHolder waits until the Lease names a pod other than not, and
// returns that pod's name (the identity is "<hostname>_<uuid>").
func leaseHolder(ctx context.Context, t *testing.T, f *framework.Framework, not string) string {
	t.Helper()
	var holder string
	err := f.WaitFor(ctx, "a leader other than "+not, func(ctx context.Context) (bool, error) {
		l, err := f.Client.CoordinationV1().Leases(systemNS).Get(ctx, leaseName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, framework.Retry(err)
		}
		holder, _, _ = strings.Cut(*l.Spec.HolderIdentity, "_")
		if holder == not {
			return false, nil
		}
		_, err = f.Client.CoreV1().Pods(systemNS).Get(ctx, holder, metav1.GetOptions{})
		return err == nil, framework.Retry(err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return holder
}

// checkMetrics scrapes each replica's metrics from its pod IP, across the
// node's bridge.
func checkMetrics(ctx context.Context, t *testing.T, pods []corev1.Pod) {
	t.Helper()
	for _, p := range pods {
		url := fmt.Sprintf("http://%s:8080/metrics", p.Status.PodIP)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("scrape %s: %v", url, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "kennel_petset_") {
			t.Errorf("scrape %s: %s, no kennel_petset_ metrics in %d bytes", url, resp.Status, len(body))
		}
	}
}

// checkTokenRefusedSecrets reads the service-account token the kubelet
// mounted into the pod and checks that the API server serves PetSets to it
// but refuses it Secrets.
func checkTokenRefusedSecrets(ctx context.Context, t *testing.T, f *framework.Framework, pod corev1.Pod) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(f.Plane.Dir(), "node", "kubelet", "pods", string(pod.UID),
		"volumes", "kubernetes.io~projected", "*", "token"))
	if len(matches) != 1 {
		t.Fatalf("the token mounted into pod %s: found %v", pod.Name, matches)
	}
	token, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Plane.RESTConfig()
	cfg.TLSClientConfig = rest.TLSClientConfig{CAData: cfg.CAData}
	cfg.BearerToken = string(token)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kube.CoreV1().Secrets(systemNS).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the controller's token listing Secrets: %v, want Forbidden", err)
	}
	_, err = kube.CoreV1().Secrets(f.Namespace).Get(ctx, "any", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the controller's token reading a Secret: %v, want Forbidden", err)
	}
	if _, err := kube.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the controller's token listing pods (it must): %v", err)
	}
}

// checkFailover starts a scale from 1 to 3 pets, kills the leader pod, and
// checks that the other replica takes the Lease and completes the scale.
func checkFailover(ctx context.Context, t *testing.T, f *framework.Framework, leader string) {
	t.Helper()
	kc := f.InstallPetSetCRD()
	if _, err := f.Client.CoreV1().Services(f.Namespace).Create(ctx, framework.HeadlessService("app"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	set := framework.PetSet("app", 1)
	c := &set.Spec.Template.Spec.Containers[0]
	c.Image, c.ImagePullPolicy, c.Args = framework.ToolboxImage, corev1.PullNever, []string{"sleep"}
	if _, err := kc.KennelV1().PetSets(f.Namespace).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, f, "app=app", 1)
	patch := []byte(`{"spec":{"replicas":3}}`)
	if _, err := kc.KennelV1().PetSets(f.Namespace).Patch(ctx, "app", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := f.Client.CoreV1().Pods(systemNS).Delete(ctx, leader, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	next := leaseHolder(ctx, t, f, leader)
	t.Logf("leader %s killed; %s took over in %s", leader, next, time.Since(killed).Round(time.Millisecond))
	pets := waitReady(ctx, f, "app=app", 3)
	onRealNode(t, pets)
	t.Logf("scale to 3 completed %s after the leader was killed", time.Since(killed).Round(time.Millisecond))
	// The new leader reports it in the PetSet's status.
	if err := f.WaitFor(ctx, "PetSet status with 3 ready replicas", func(ctx context.Context) (bool, error) {
		got, err := kc.KennelV1().PetSets(f.Namespace).Get(ctx, "app", metav1.GetOptions{})
		return err == nil && got.Status.ReadyReplicas == 3, framework.Retry(err)
	}); err != nil {
		t.Error(err)
	}
}

// undeploy removes the controller's Deployment (the CRD stays for the
// other tests).
func undeploy(f *framework.Framework) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := f.Client.AppsV1().Deployments(systemNS).Delete(ctx, "kennel-controller", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		f.T.Logf("remove the deployed controller: %v", err)
	}
}
