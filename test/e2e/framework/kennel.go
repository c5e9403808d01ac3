package framework

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
)

// ControllerPkg is the import path of kennel's controller command.
const ControllerPkg = "github.com/kennel-dev/kennel/cmd/controller"

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Kubectl runs the plane's kubectl against the plane with stdin (if any) and
// returns its stdout; a failure's error carries kubectl's stderr.
func (f *Framework) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(f.Plane.BinDir(), "kubectl"), append([]string{"--kubeconfig=" + f.Plane.Kubeconfig()}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// KubectlInNamespace runs the plane's kubectl in the test's namespace.
func (f *Framework) KubectlInNamespace(args ...string) (string, error) {
	return f.Kubectl("", append([]string{"--namespace=" + f.Namespace}, args...)...)
}

var (
	crdOnce sync.Once
	crdErr  error
)

// InstallPetSetCRD applies deploy/crd server-side (once per test binary,
// that is once per plane), waits until the CRD is Established and PetSets
// are served in the test's namespace, and returns a kennel clientset.
func (f *Framework) InstallPetSetCRD() versioned.Interface {
	t := f.T
	t.Helper()
	crdOnce.Do(func() {
		_, crdErr = f.Kubectl("", "apply", "--server-side", "--field-manager=kennel-e2e", "-k", filepath.Join(RepoRoot(), "deploy", "crd"))
		if crdErr == nil {
			crdErr = f.WaitForCRDEstablished(f.Context(time.Minute), "petsets.kennel.dev")
		}
	})
	if crdErr != nil {
		t.Fatalf("install the PetSet CRD: %v", crdErr)
	}
	kc, err := versioned.NewForConfig(f.Plane.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WaitFor(f.Context(time.Minute), "PetSets served", func(ctx context.Context) (bool, error) {
		_, err := kc.KennelV1().PetSets(f.Namespace).List(ctx, metav1.ListOptions{})
		return err == nil, Retry(err)
	}); err != nil {
		t.Fatal(err)
	}
	return kc
}

// Controller is a kennel controller process started by StartController.
type Controller struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan error
}

// StartController runs the controller binary against the plane with
// --kubeconfig, -v=2 and args, until Stop or the end of the test; its log
// tail goes to the test log if the test failed.
func (f *Framework) StartController(name string, args ...string) *Controller {
	t := f.T
	t.Helper()
	bin := BuildBinary(t, ControllerPkg)
	c := &Controller{Name: name, LogPath: filepath.Join(t.TempDir(), name+".log"), done: make(chan error, 1)}
	logf, err := os.Create(c.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, append([]string{"--kubeconfig=" + f.Plane.Kubeconfig(), "-v=2"}, args...)...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait(); _ = logf.Close() }()
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(c.LogPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 150 {
				lines = lines[len(lines)-150:]
			}
			t.Logf("controller %s log (tail):\n%s", name, strings.Join(lines, "\n"))
		}
	})
	return c
}

// Stop sends SIGTERM and waits for the process to exit; it fails the test
// if that takes more than 15 seconds.
func (c *Controller) Stop(t testing.TB) {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
	case <-time.After(15 * time.Second):
		t.Errorf("controller %s did not exit within 15s of SIGTERM", c.Name)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// LogContains reports whether the controller's log mentions s.
func (c *Controller) LogContains(s string) bool {
	b, err := os.ReadFile(c.LogPath)
	return err == nil && strings.Contains(string(b), s)
}

// PetSet returns a PetSet with the shape of StatefulSet(name, replicas):
// the same template, claim template, Service and policy.
func PetSet(name string, replicas int32) *kennelv1.PetSet {
	ss := StatefulSet(name, replicas)
	return &kennelv1.PetSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: ss.Labels},
		Spec: kennelv1.PetSetSpec{
			Replicas:             ss.Spec.Replicas,
			Selector:             ss.Spec.Selector,
			Template:             ss.Spec.Template,
			VolumeClaimTemplates: ss.Spec.VolumeClaimTemplates,
			ServiceName:          ss.Spec.ServiceName,
			PodManagementPolicy:  ss.Spec.PodManagementPolicy,
		},
	}
}
