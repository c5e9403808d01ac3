package peerfinder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/plane"
)

// TestAPISourceRBAC runs peer-finder --source=api as the ServiceAccount of
// the examples' optional component: before its Role is bound the API
// server's 403 ends peer-finder with the Role to grant; once the
// component's Role and RoleBinding are applied, it finds its peers.
func TestAPISourceRBAC(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(2 * time.Minute)
	rbac, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "examples", "components", "peer-finder-api", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.ReplaceAll(string(rbac), "namespace: default", "namespace: "+f.Namespace), "\n---\n")
	// The ServiceAccount alone first.
	if _, err := f.Kubectl(docs[0], "apply", "-n", f.Namespace, "-f", "-"); err != nil {
		t.Fatal(err)
	}
	tok, err := f.Client.CoreV1().ServiceAccounts(f.Namespace).CreateToken(ctx, "peer-finder",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(fmt.Sprintf(`current-context: sa
clusters: [{name: plane, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: sa, user: {token: %q}}]
contexts: [{name: sa, context: {cluster: plane, user: sa}}]
`, f.Plane.APIServerURL(), tok.Status.Token)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Client.CoreV1().Services(f.Namespace).Create(ctx, framework.HeadlessService(set), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A slice as the EndpointSlice controller would write it for pet web-0.
	ready, host := true, "web-0"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-manual", Labels: map[string]string{discoveryv1.LabelServiceName: set}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.9.0.1"}, Hostname: &host, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	if _, err := f.Client.DiscoveryV1().EndpointSlices(f.Namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	bin := framework.BuildBinary(t, peerFinderPkg)
	run := func() (string, string, int) {
		cmd := exec.CommandContext(ctx, bin, "--source=api", "--kubeconfig="+kc, "--service="+set, "--ns="+f.Namespace,
			"--domain="+plane.ClusterDomain, "--hostname=web-0", "--on-start=cat", "--timeout=30s")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	_, stderr, code := run()
	user := fmt.Sprintf("system:serviceaccount:%s:peer-finder", f.Namespace)
	for _, want := range []string{"403 Forbidden", `User "` + user + `"`, "kind: Role\n", "kind: RoleBinding",
		"- kind: ServiceAccount\n  name: peer-finder\n  namespace: " + f.Namespace} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if code != 1 || t.Failed() {
		t.Fatalf("without the Role: exit %d, want 1; stderr:\n%s", code, stderr)
	}

	if _, err := f.Kubectl(strings.Join(docs[1:], "\n---\n"), "apply", "-n", f.Namespace, "-f", "-"); err != nil {
		t.Fatal(err)
	}
	var stdout string
	err = f.WaitFor(ctx, "peer-finder allowed by the Role", func(context.Context) (bool, error) {
		stdout, stderr, code = run()
		return code == 0, nil
	})
	if err != nil {
		t.Fatalf("%v; exit %d, stderr:\n%s", err, code, stderr)
	}
	if want := f.FQDN(set, set, 0) + "\n"; stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
}
