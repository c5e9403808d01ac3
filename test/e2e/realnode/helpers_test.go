package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/plane"
)

// imageRef maps an image name of the examples and deploy/ to the image
// imported into the real node (kustomize `images:`).
type imageRef struct{ name, newName, newTag string }

func splitRef(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:]
}

func image(name, ref string) imageRef {
	n, tag := splitRef(ref)
	return imageRef{name, n, tag}
}

// overlay writes a kustomization that applies dir (an example or deploy/)
// unchanged except for image references and the kustomize components
// listed (directories), in namespace ns when not empty, and returns its
// directory.
func overlay(t *testing.T, dir, ns string, components []string, images ...imageRef) string {
	t.Helper()
	out := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(out, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	if ns != "" {
		fmt.Fprintf(&b, "namespace: %s\n", ns)
	}
	fmt.Fprintf(&b, "resources:\n- %s\nimages:\n", rel(dir))
	for _, im := range images {
		fmt.Fprintf(&b, "- name: %s\n  newName: %s\n  newTag: %q\n", im.name, im.newName, im.newTag)
	}
	if len(components) > 0 {
		b.WriteString("components:\n")
		for _, c := range components {
			fmt.Fprintf(&b, "- %s\n", rel(c))
		}
	}
	if err := os.WriteFile(filepath.Join(out, "kustomization.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// applyExample starts a controller for the test's namespace, applies
// examples/NAME through an overlay (the image references, the peer-finder
// image and the one-node component: examples/components/one-node, what a
// one-node cluster forces on the examples) and waits until its n pets, labelled
// app.kubernetes.io/name=NAME, are Ready on the real node. It returns the
// overlay's directory.
func applyExample(ctx context.Context, t *testing.T, f *framework.Framework, name string, n int, images ...imageRef) string {
	t.Helper()
	f.InstallPetSetCRD()
	f.StartController("controller", "--namespace="+f.Namespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	images = append(images, image("ghcr.io/kennel-dev/peer-finder", framework.PeerFinderImage))
	dir := overlay(t, exampleDir(name), f.Namespace, []string{exampleDir("components/one-node")}, images...)
	start := time.Now()
	if out, err := f.Kubectl("", "apply", "--server-side", "-k", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pets := waitReady(ctx, f, "app.kubernetes.io/name="+name, n)
	t.Logf("%d %s pets Ready in %s", n, name, time.Since(start).Round(time.Millisecond))
	onRealNode(t, pets)
	return dir
}

// exampleDir is an example's directory in the repository.
func exampleDir(name string) string {
	return filepath.Join(framework.RepoRoot(), "examples", name)
}

// startClient runs a toolbox pod in the test's namespace and waits until it
// runs; commands run in it with exec.
func startClient(ctx context.Context, f *framework.Framework) string {
	f.T.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name:            "toolbox",
				Image:           framework.ToolboxImage,
				ImagePullPolicy: corev1.PullNever,
				Args:            []string{"sleep"},
			}},
		},
	}
	if _, err := f.Client.CoreV1().Pods(f.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		f.T.Fatal(err)
	}
	f.WaitForPodReady(ctx, pod.Name, true)
	return pod.Name
}

// exec runs a command in a pod's first container with kubectl exec.
func podExec(f *framework.Framework, pod string, args ...string) (string, error) {
	return f.Kubectl("", append([]string{"-n", f.Namespace, "exec", pod, "--"}, args...)...)
}

// execRetry runs exec until it succeeds or ctx ends.
func execRetry(ctx context.Context, f *framework.Framework, pod string, args ...string) string {
	f.T.Helper()
	var out string
	err := framework.Poll(ctx, time.Second, strings.Join(args, " ")+" in "+pod, func(context.Context) (bool, error) {
		var err error
		out, err = podExec(f, pod, args...)
		return err == nil, framework.Retry(err)
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return out
}

// onRealNode fails the test unless every listed pod runs on the real node.
func onRealNode(t *testing.T, pods []corev1.Pod) {
	t.Helper()
	for _, p := range pods {
		if p.Spec.NodeName != plane.RealNodeName {
			t.Errorf("pod %s runs on %q, not on the real node", p.Name, p.Spec.NodeName)
		}
	}
}

// header returns the value of a header line "Name: value" in toolbox get
// output.
func header(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
		if l == "" {
			break
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
