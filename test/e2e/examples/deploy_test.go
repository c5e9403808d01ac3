package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// deploy runs hack/deploy.sh against the plane, as `make deploy` does
// against a cluster.
func deploy(t *testing.T, kubeconfig, kubectlBin string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "deploy.sh"))
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+kubeconfig,
		"KUBECTL="+kubectlBin,
		"KENNEL_DEPLOY_TIMEOUT=2m",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/deploy.sh: %v\n%s", err, out)
	}
	return string(out)
}

// TestDeploy installs kennel with hack/deploy.sh (kustomize, server-side
// apply) into the plane, checks what it created and what its service
// accounts may do, creates PetSets, then deploys again (an upgrade) and
// checks that the PetSets survived.
func TestDeploy(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot(t), "deploy", "kustomization.yaml")); err != nil {
		t.Fatalf("deploy/kustomization.yaml, what hack/deploy.sh applies, is missing: %v", err)
	}
	f := framework.New(t)
	ctx := f.Context(5 * time.Minute)
	kubectlBin := filepath.Join(f.Plane.BinDir(), "kubectl")

	out := deploy(t, f.Plane.Kubeconfig(), kubectlBin)
	t.Logf("hack/deploy.sh:\n%s", out)
	for _, want := range []string{"waiting for CRD petsets.kennel.dev to be Established", "waiting for Deployment kennel-system/kennel-controller to roll out", "kennel deployed"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy.sh output lacks %q", want)
		}
	}

	// What deploy/ holds, as kustomize renders it.
	_, objs := renderDir(t, f, filepath.Join(repoRoot(t), "deploy"))
	var sas, deployments []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			sas = append(sas, o.GetNamespace()+"/"+o.GetName())
		case "Deployment":
			deployments = append(deployments, o.GetNamespace()+"/"+o.GetName())
		}
	}
	if len(sas) == 0 || len(deployments) == 0 {
		t.Fatalf("deploy/ renders ServiceAccounts %v and Deployments %v; want at least one of each", sas, deployments)
	}
	for _, d := range deployments {
		ns, name, _ := strings.Cut(d, "/")
		dep, err := f.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Deployment %s: %v", d, err)
		}
		if dep.Status.UpdatedReplicas != *dep.Spec.Replicas || dep.Status.AvailableReplicas != *dep.Spec.Replicas {
			t.Errorf("Deployment %s not rolled out: %+v", d, dep.Status)
		}
	}
	crd := mustKubectl(t, f, "", "get", "crd", "petsets.kennel.dev", "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status}")
	if crd != "True" {
		t.Errorf("CRD petsets.kennel.dev Established=%q", crd)
	}

	// RBAC: the controller's service account may do its job, and may not
	// read Secrets.
	for _, sa := range sas {
		ns, name, _ := strings.Cut(sa, "/")
		as := "--as=system:serviceaccount:" + ns + ":" + name
		if !strings.Contains(name, "controller") && len(sas) > 1 {
			continue
		}
		allowed := [][]string{
			{"list", "petsets.kennel.dev", "--all-namespaces"},
			{"watch", "petsets.kennel.dev", "--all-namespaces"},
			{"update", "petsets.kennel.dev/status", "-n", f.Namespace},
			{"create", "pods", "-n", f.Namespace},
			{"delete", "pods", "-n", f.Namespace},
			{"list", "pods", "--all-namespaces"},
			{"create", "persistentvolumeclaims", "-n", f.Namespace},
			{"create", "controllerrevisions.apps", "-n", f.Namespace},
			{"create", "events", "-n", f.Namespace},
			{"get", "storageclasses.storage.k8s.io"},
		}
		for _, a := range allowed {
			if out, err := f.Kubectl("", append([]string{"auth", "can-i", as}, a...)...); err != nil || strings.TrimSpace(out) != "yes" {
				t.Errorf("%s cannot %v: %q %v", sa, a, out, err)
			}
		}
		denied := [][]string{
			{"get", "secrets", "--all-namespaces"},
			{"list", "secrets", "--all-namespaces"},
			{"get", "secrets", "-n", ns},
			{"watch", "secrets", "-n", f.Namespace},
			{"delete", "customresourcedefinitions.apiextensions.k8s.io"},
			{"create", "clusterrolebindings.rbac.authorization.k8s.io"},
		}
		for _, d := range denied {
			out, _ := f.Kubectl("", append([]string{"auth", "can-i", as}, d...)...)
			if strings.TrimSpace(out) != "no" {
				t.Errorf("%s may %v (%q)", sa, d, out)
			}
		}
	}

	// PetSets created before an upgrade survive it.
	for _, ex := range []string{"nginx-master", "zookeeper"} {
		out, _ := render(t, f, ex)
		mustKubectl(t, f, out, "apply", "--server-side", "--field-manager=kennel-e2e", "-n", f.Namespace, "-f", "-")
	}
	uids := map[string]string{}
	for _, name := range []string{"web", "zk"} {
		uids[name] = mustKubectl(t, f, "", "get", "petset", name, "-n", f.Namespace, "-o", "jsonpath={.metadata.uid}")
	}
	deploy(t, f.Plane.Kubeconfig(), kubectlBin)
	for name, uid := range uids {
		got, err := f.Kubectl("", "get", "petset", name, "-n", f.Namespace, "-o", "jsonpath={.metadata.uid}")
		if err != nil || got != uid {
			t.Errorf("PetSet %s after the upgrade: uid %q (was %q), %v", name, got, uid, err)
		}
	}
	// The upgrade left the objects in place: no field-manager conflicts, the
	// Deployment still rolled out.
	for _, d := range deployments {
		ns, name, _ := strings.Cut(d, "/")
		if _, err := f.Kubectl("", "-n", ns, "rollout", "status", "--timeout=60s", "deployment/"+name); err != nil {
			t.Error(err)
		}
	}
}
