package kubectlpetset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/plane"
)

const (
	pluginPkg = "github.com/kennel-dev/kennel/cmd/kubectl-petset"
	image1    = "registry.invalid/kennel/simulated:1"
	image2    = "registry.invalid/kennel/simulated:2"
)

// env is one test's namespace with the PetSet CRD and the plugin built.
type env struct {
	*framework.Framework
	kennel versioned.Interface
	plugin string
}

func setup(t *testing.T) *env {
	t.Helper()
	f := framework.New(t)
	return &env{Framework: f, kennel: f.InstallPetSetCRD(), plugin: framework.BuildBinary(t, pluginPkg)}
}

// startController runs a controller for the namespace; leader elects it
// with a Lease kennel-controller in the namespace.
func (e *env) startController(leader bool) {
	args := []string{"--namespace=" + e.Namespace, "--metrics-bind-address=0", "--health-probe-bind-address=0"}
	if leader {
		args = append(args, "--leader-elect=true", "--leader-elect-namespace="+e.Namespace)
	} else {
		args = append(args, "--leader-elect=false")
	}
	e.StartController("controller", args...)
}

// petset runs `kubectl petset ARGS` through the plane's kubectl, which
// finds the plugin on the PATH, and logs the session.
func (e *env) petset(args ...string) (string, error) {
	e.T.Helper()
	return e.petsetStdin("", args...)
}

// petsetStdin is petset with standard input (if not empty).
func (e *env) petsetStdin(stdin string, args ...string) (string, error) {
	e.T.Helper()
	full := append([]string{"petset", "--kubeconfig=" + e.Plane.Kubeconfig(), "-n", e.Namespace}, args...)
	cmd := exec.Command(filepath.Join(e.Plane.BinDir(), "kubectl"), full...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(e.plugin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	prompt := "$ kubectl petset "
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
		prompt = "$ ... | kubectl petset "
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	e.T.Logf("%s%s   # %s, %v\n%s%s", prompt, strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), exitStatus(err), out.String(), errb.String())
	if err != nil {
		return out.String(), fmt.Errorf("kubectl petset %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// create creates the governing Service and the set.
func (e *env) create(set *kennelv1.PetSet) {
	e.T.Helper()
	ctx := e.Context(30 * time.Second)
	if _, err := e.Client.CoreV1().Services(e.Namespace).Create(ctx, framework.HeadlessService(set.Spec.ServiceName), metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("create service: %v", err)
	}
	if _, err := e.kennel.KennelV1().PetSets(e.Namespace).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("create PetSet: %v", err)
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

func templatePatch(image string, annotations map[string]any) map[string]any {
	tmpl := map[string]any{}
	if image != "" {
		tmpl["spec"] = map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}}
	}
	if annotations != nil {
		tmpl["metadata"] = map[string]any{"annotations": annotations}
	}
	return map[string]any{"spec": map[string]any{"template": tmpl}}
}

// rolledOut checks, right after `rollout status` returned, that the set
// and all n pets are on the update revision with the image and Ready.
func (e *env) rolledOut(ctx context.Context, name string, n int, image string) *kennelv1.PetSet {
	e.T.Helper()
	set := e.get(name)
	pets, err := e.Pets(ctx, name)
	if err != nil {
		e.T.Fatal(err)
	}
	st := set.Status
	if st.CurrentRevision != st.UpdateRevision || st.ObservedGeneration != set.Generation || int(st.ReadyReplicas) != n || len(pets) != n {
		e.T.Fatalf("rollout status returned but the set is not rolled out: status %+v, %d pets", st, len(pets))
	}
	for i := range pets {
		p := &pets[i]
		if !plane.PodReady(p) || p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != image || p.Labels["controller-revision-hash"] != st.UpdateRevision {
			e.T.Fatalf("rollout status returned but pet %s is not rolled out: image %s, revision %s (want %s), ready %v",
				p.Name, p.Spec.Containers[0].Image, p.Labels["controller-revision-hash"], st.UpdateRevision, plane.PodReady(p))
		}
	}
	return set
}

func uids(pets []corev1.Pod) map[string]types.UID {
	out := map[string]types.UID{}
	for _, p := range pets {
		out[p.Name] = p.UID
	}
	return out
}

func (e *env) claimUIDs(ctx context.Context) map[string]types.UID {
	e.T.Helper()
	list, err := e.Client.CoreV1().PersistentVolumeClaims(e.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, c := range list.Items {
		out[c.Name] = c.UID
	}
	return out
}

func mustContain(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
