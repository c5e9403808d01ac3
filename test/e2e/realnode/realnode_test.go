// Package realnode is the real-node e2e lane: the project's images, the
// deployed controller and the examples proven in real pods (kubelet,
// containerd, runc, bridge CNI, kube-proxy) on the local plane's real node.
// The simulated nodes are cordoned, so every pod here runs for real.
//
// It skips with the exact reason when this machine cannot run a real node
// (not Linux, not root, packages or binaries missing), except under
// KENNEL_E2E_REQUIRED=1 (make test), where it fails.
package realnode

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.MainRealNode(m)) }

var exampleImages = []imageRef{
	image("nginx", framework.NginxImage),
	image("ghcr.io/kennel-dev/peer-finder", framework.PeerFinderImage),
}

// pods lists the pods with the label selector, sorted by ordinal.
func pods(ctx context.Context, f *framework.Framework, selector string) ([]corev1.Pod, error) {
	list, err := f.Client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return ordinal.Compare(items[i].Name, items[j].Name) < 0 })
	return items, nil
}

// waitReady waits until exactly n pods match and all are Ready.
func waitReady(ctx context.Context, f *framework.Framework, selector string, n int) []corev1.Pod {
	f.T.Helper()
	var got []corev1.Pod
	err := f.WaitFor(ctx, fmt.Sprintf("%d Ready pods %s", n, selector), func(ctx context.Context) (bool, error) {
		var err error
		if got, err = pods(ctx, f, selector); err != nil {
			return false, framework.Retry(err)
		}
		if len(got) != n {
			return false, nil
		}
		for i := range got {
			if !podReady(&got[i]) || got[i].DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return got
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyTime(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// The nginx-master example, manifests unchanged but for image references:
// the pets come up in order through the peer-finder image's init container
// with real cluster DNS, and a request to pet 2 is proxied to pet 0. The
// README's commands (logs, exec, port-forward) are run as a user would.
func TestNginxMasterExample(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(6 * time.Minute)
	f.InstallPetSetCRD()
	f.StartController("controller", "--namespace="+f.Namespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")

	start := time.Now()
	dir := overlay(t, exampleDir("nginx-master"), f.Namespace, nil, exampleImages...)
	if out, err := f.Kubectl("", "apply", "--server-side", "-k", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pets := waitReady(ctx, f, "app.kubernetes.io/name=nginx-master", 3)
	t.Logf("3 nginx pets Ready in %s", time.Since(start).Round(time.Millisecond))
	onRealNode(t, pets)
	// Ordered: each pet was created only after the one before was Ready.
	for i := 1; i < len(pets); i++ {
		if prev := readyTime(&pets[i-1]); pets[i].CreationTimestamp.Time.Before(prev.Truncate(time.Second)) {
			t.Errorf("%s created at %s, before %s was Ready at %s", pets[i].Name, pets[i].CreationTimestamp, pets[i-1].Name, prev)
		}
	}

	// The README: what each pet decided.
	logs, err := f.Kubectl("", "-n", f.Namespace, "logs", "web-1", "-c", "bootstrap")
	if err != nil || !strings.Contains(logs, "is the proxy of") {
		t.Errorf("kubectl logs web-1 -c bootstrap: %v\n%s", err, logs)
	}
	conf, err := podExec(f, "web-1", "head", "-4", "/etc/nginx/kennel/nginx.conf")
	if err != nil || conf == "" {
		t.Errorf("kubectl exec web-1 -- head -4 /etc/nginx/kennel/nginx.conf: %v\n%s", err, conf)
	}

	// From a client pod, by the pets' DNS names.
	client := startClient(ctx, f)
	web2 := f.FQDN("web", "nginx", 2)
	out := execRetry(ctx, f, client, "toolbox", "get", "http://"+web2+"/")
	t.Logf("GET http://%s/ from pod %s:\n%s", web2, client, out)
	if !strings.HasPrefix(out, "200 ") || !strings.Contains(out, "Served by the master") {
		t.Errorf("GET through web-2: not the master's seeded page")
	}
	if got, want := header(out, "X-Kennel-Served-By"), f.FQDN("web", "nginx", 0); got != want {
		t.Errorf("X-Kennel-Served-By %q, want %q", got, want)
	}
	if got := header(out, "X-Kennel-Proxied-By"); got != web2 {
		t.Errorf("X-Kennel-Proxied-By %q, want %q", got, web2)
	}

	// The README's check, through kubectl port-forward.
	checkPortForward(t, f, "web-2")
	nginxReadmeOperations(ctx, t, f, dir, client)
}

// nginxReadmeOperations runs the README's "put your own files there",
// "Scale, restart, remove" commands and checks what it promises.
func nginxReadmeOperations(ctx context.Context, t *testing.T, f *framework.Framework, dir, client string) {
	t.Helper()
	site := t.TempDir()
	page := "<p>kennel real-node page</p>\n"
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := f.Kubectl("", "-n", f.Namespace, "cp", site+"/.", "web-0:/usr/share/nginx/html"); err != nil {
		t.Errorf("kubectl cp site/. web-0:/usr/share/nginx/html: %v\n%s", err, out)
	}
	if out := execRetry(ctx, f, client, "toolbox", "get", "http://"+f.FQDN("web", "nginx", 1)+"/"); !strings.Contains(out, "kennel real-node page") {
		t.Errorf("after kubectl cp, web-1 proxies:\n%s", out)
	}

	if out, err := f.Kubectl("", "-n", f.Namespace, "scale", "petset", "web", "--replicas=5"); err != nil {
		t.Fatalf("kubectl scale petset web --replicas=5: %v\n%s", err, out)
	}
	waitReady(ctx, f, "app.kubernetes.io/name=nginx-master", 5)
	out := execRetry(ctx, f, client, "toolbox", "get", "http://"+f.FQDN("web", "nginx", 4)+"/")
	if got := header(out, "X-Kennel-Served-By"); got != f.FQDN("web", "nginx", 0) {
		t.Errorf("web-4 after the scale: served by %q, want web-0", got)
	}

	// Delete web-0: it comes back, and the proxies follow its new IP.
	old, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := f.Kubectl("", "-n", f.Namespace, "delete", "pod", "web-0"); err != nil {
		t.Fatalf("kubectl delete pod web-0: %v\n%s", err, out)
	}
	var back []corev1.Pod
	if err := f.WaitFor(ctx, "web-0 back", func(ctx context.Context) (bool, error) {
		var err error
		back, err = pods(ctx, f, "app.kubernetes.io/name=nginx-master")
		ok := err == nil && len(back) == 5 && back[0].UID != old.UID && podReady(&back[0])
		return ok, framework.Retry(err)
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("web-0 back: IP %s (was %s)", back[0].Status.PodIP, old.Status.PodIP)
	err = framework.Poll(ctx, time.Second, "web-2 proxying to the new web-0", func(context.Context) (bool, error) {
		out, err := podExec(f, client, "toolbox", "get", "http://"+f.FQDN("web", "nginx", 2)+"/")
		return err == nil && strings.Contains(out, "kennel real-node page") && header(out, "X-Kennel-Served-By") != "", framework.Retry(err)
	})
	if err != nil {
		t.Error(err)
	}

	// Clean up as the README says; the claims stay.
	if out, err := f.Kubectl("", "delete", "-k", dir); err != nil {
		t.Errorf("kubectl delete -k: %v\n%s", err, out)
	}
	for i := range 5 {
		if _, err := f.Client.CoreV1().PersistentVolumeClaims(f.Namespace).Get(ctx, fmt.Sprintf("www-web-%d", i), metav1.GetOptions{}); err != nil {
			t.Errorf("claim www-web-%d after kubectl delete -k: %v (the README says the claims stay)", i, err)
		}
	}
}

// checkPortForward runs `kubectl port-forward pod/POD PORT:80` and GETs /
// through it, as the README's curl does.
func checkPortForward(t *testing.T, f *framework.Framework, pod string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(filepath.Join(f.Plane.BinDir(), "kubectl"), "--kubeconfig="+f.Plane.Kubeconfig(),
		"-n", f.Namespace, "port-forward", "--address=127.0.0.1", "pod/"+pod, fmt.Sprintf("%d:80", port))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var resp *http.Response
	err = framework.Poll(f.Context(30*time.Second), 200*time.Millisecond, "port-forward to "+pod, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
		var err error
		resp, err = http.DefaultClient.Do(req)
		return err == nil, framework.Retry(err)
	})
	if err != nil {
		t.Fatalf("%v\nkubectl port-forward: %s", err, stderr.String())
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Kennel-Served-By"); !strings.HasPrefix(got, "web-0.") {
		t.Errorf("through port-forward to %s: X-Kennel-Served-By %q, want web-0's", pod, got)
	}
}
