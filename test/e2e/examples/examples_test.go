// Package examples runs kennel's examples against the local control plane:
// every manifest applied server-side (validated by the PetSet CRD), each
// example's PetSet brought up by the kennel controller (pods simulated by
// kwok), and each example's on-start script run by the real peer-finder
// against the plane's CoreDNS, with the flags of the example's manifest.
package examples

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/test/e2e/framework"
	"github.com/kennel-dev/kennel/test/plane"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }

// repoRoot is the repository's top directory.
func repoRoot(testing.TB) string { return framework.RepoRoot() }

func mustKubectl(t testing.TB, f *framework.Framework, stdin string, args ...string) string {
	t.Helper()
	out, err := f.Kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// installCRD applies deploy/crd once per plane and waits until PetSets are
// served.
func installCRD(t *testing.T, f *framework.Framework) {
	t.Helper()
	f.InstallPetSetCRD()
}

// render returns the objects of an example's kustomization.
func render(t testing.TB, f *framework.Framework, example string) (string, []*unstructured.Unstructured) {
	t.Helper()
	return renderDir(t, f, filepath.Join(repoRoot(t), "examples", example))
}

// renderDir returns the objects of the kustomization in dir, as YAML and
// decoded.
func renderDir(t testing.TB, f *framework.Framework, dir string) (string, []*unstructured.Unstructured) {
	t.Helper()
	example := filepath.Base(dir)
	out := mustKubectl(t, f, "", "kustomize", dir)
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", example, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return out, objs
}

// example describes one directory of examples/.
type example struct {
	dir, set, service string
	replicas          int
	ordered           bool   // OrderedReady: pets created one after the other
	selector          string // label selector of the pets
	script            string // on-start script, relative to the example
	// outputs returns the env that points the script's files into dir, and
	// the files it writes there.
	outputs func(dir string) ([]string, []string)
}

var examples = []example{
	{
		dir: "nginx-master", set: "web", service: "nginx", replicas: 3, ordered: true,
		selector: "app.kubernetes.io/name=nginx-master", script: "on-start.sh",
		outputs: func(dir string) ([]string, []string) {
			return []string{"NGINX_CONF=" + dir + "/conf/nginx.conf", "HTML_ROOT=" + dir + "/html", "RESOLVER=10.96.0.10"},
				[]string{"conf/nginx.conf", "html/index.html"}
		},
	},
	{
		dir: "zookeeper", set: "zk", service: "zk", replicas: 3, ordered: true,
		selector: "app.kubernetes.io/name=zookeeper", script: "on-start.sh",
		outputs: func(dir string) ([]string, []string) {
			return []string{"ZK_CONF_DIR=" + dir + "/conf", "ZK_DATA_DIR=" + dir + "/data"},
				[]string{"data/myid", "conf/zoo.cfg", "conf/zoo.cfg.dynamic"}
		},
	},
	{
		dir: "consul", set: "consul", service: "consul", replicas: 3, ordered: false,
		selector: "app.kubernetes.io/name=consul", script: "on-start.sh",
		outputs: func(dir string) ([]string, []string) {
			return []string{"CONSUL_PEERS_CONFIG=" + dir + "/config/kennel-peers.json"}, []string{"config/kennel-peers.json"}
		},
	},
}

// TestExampleManifestsValidate applies every example with a server-side dry
// run, so the API server checks each object, the PetSets against the CRD's
// schema; and checks that the schema does refuse a broken PetSet.
func TestExampleManifestsValidate(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	installCRD(t, f)
	for _, ex := range examples {
		out, objs := render(t, f, ex.dir)
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetKind()]++
		}
		if kinds["PetSet"] != 1 || kinds["Service"] == 0 || kinds["ConfigMap"] != 1 {
			t.Errorf("%s: objects %v, want a PetSet, a ConfigMap and Services", ex.dir, kinds)
		}
		if _, err := f.Kubectl(out, "apply", "--server-side", "--dry-run=server", "--validate=strict", "-n", f.Namespace, "-f", "-"); err != nil {
			t.Errorf("%s: %v", ex.dir, err)
		}
	}

	// The same PetSet, broken in ways the CRD must catch.
	out, _ := render(t, f, "nginx-master")
	broken := []struct{ name, from, to, want string }{
		{"unknown field", "  serviceName: nginx\n", "  serviceName: nginx\n  replicaz: 3\n", "replicaz"},
		{"replicas not a number", "  replicas: 3\n", "  replicas: three\n", "replicas"},
		{"no serviceName", "  serviceName: nginx\n", "", "serviceName"},
	}
	for _, b := range broken {
		if !strings.Contains(out, b.from) {
			t.Fatalf("%s: rendered manifest lacks %q", b.name, b.from)
		}
		if _, err := f.Kubectl(strings.Replace(out, b.from, b.to, 1), "apply", "--server-side", "--dry-run=server", "--validate=strict", "-n", f.Namespace, "-f", "-"); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: the API server accepted a broken PetSet (err: %v)", b.name, err)
		}
	}
}

// controllerAvailable reports whether this checkout has the controller.
func controllerAvailable(t testing.TB) bool {
	_, err := os.Stat(filepath.Join(repoRoot(t), "cmd", "controller", "main.go"))
	return err == nil
}

// startController runs the kennel controller for the test's namespace until
// the test ends; its log goes to the test log on failure.
func startController(t *testing.T, f *framework.Framework) {
	t.Helper()
	f.StartController("controller",
		"--namespace="+f.Namespace,
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0")
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// applyExample applies an example for real and brings up its pets: with the
// kennel controller when the checkout has one, else (and the test says so)
// with the built-in StatefulSet controller on the same spec.
func applyExample(t *testing.T, f *framework.Framework, ex example) string {
	t.Helper()
	out, _ := render(t, f, ex.dir)
	kind := "PetSet"
	if controllerAvailable(t) {
		startController(t, f)
	} else {
		t.Logf("no cmd/controller in this checkout: the PetSet is applied, and its spec is run as an apps/v1 StatefulSet")
		kind = "StatefulSet"
		twin := strings.Replace(out, "apiVersion: kennel.dev/v1\nkind: PetSet\n", "apiVersion: apps/v1\nkind: StatefulSet\n", 1)
		if twin == out {
			t.Fatal("rendered manifest has no PetSet header to replace")
		}
		mustKubectl(t, f, twin, "apply", "--server-side", "--field-manager=kennel-e2e", "-n", f.Namespace, "-f", "-")
	}
	mustKubectl(t, f, out, "apply", "--server-side", "--field-manager=kennel-e2e", "-n", f.Namespace, "-f", "-")
	return kind
}

// waitForPets waits until n pets of the example are Ready and returns them.
func waitForPets(t *testing.T, f *framework.Framework, ctx context.Context, ex example, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := f.WaitFor(ctx, fmt.Sprintf("%d Ready pets of %s", n, ex.set), func(ctx context.Context) (bool, error) {
		l, err := f.Client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: ex.selector})
		if err != nil {
			return false, framework.Retry(err)
		}
		pods = l.Items
		if len(pods) != n {
			return false, nil
		}
		for i := range pods {
			if !plane.PodReady(&pods[i]) || pods[i].DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return ordinal.Compare(a.Name, b.Name) })
	return pods
}

// containerArgs returns the args of the named container (init or not) of
// the example's PetSet.
func containerArgs(t testing.TB, objs []*unstructured.Unstructured, name string) []string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "PetSet" {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", field)
			for _, c := range cs {
				m, _ := c.(map[string]any)
				if m["name"] != name {
					continue
				}
				args, _, _ := unstructured.NestedStringSlice(m, "args")
				return args
			}
		}
	}
	t.Fatalf("no container %s in the PetSet", name)
	return nil
}

// localArgs turns the peer-finder args of a manifest into the args of a run
// on this machine: scripts from the example directory, and the pod's
// identity given by flags.
func localArgs(t testing.TB, f *framework.Framework, ex example, args []string, pet string) []string {
	t.Helper()
	scripts := filepath.Join(repoRoot(t), "examples", ex.dir)
	var out []string
	for _, a := range args {
		a = strings.Replace(a, "=/kennel/scripts/", "="+scripts+"/", 1)
		out = append(out, a)
	}
	return append(out,
		"--ns="+f.Namespace,
		"--hostname="+pet,
		"--domain="+plane.ClusterDomain,
		"--dns-server="+f.Plane.DNSAddr(),
		"--poll-interval=200ms",
	)
}

// runScriptDirect runs an example's script as peer-finder would, with the
// given peers, and returns the files it wrote.
func runScriptDirect(t *testing.T, ex example, self string, peers []string) string {
	t.Helper()
	dir := t.TempDir()
	env, files := ex.outputs(dir)
	_, ord, _ := ordinal.Parse(strings.SplitN(self, ".", 2)[0])
	cmd := exec.Command(filepath.Join(repoRoot(t), "examples", ex.dir, ex.script))
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"PEERS=" + strings.Join(peers, " "),
		"PEER_COUNT=" + strconv.Itoa(len(peers)),
		"SELF=" + self,
		"ORDINAL=" + strconv.Itoa(ord),
	}, env...)
	cmd.Stdin = strings.NewReader(strings.Join(peers, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", ex.script, err, out)
	}
	return dump(t, dir, files)
}

func dump(t testing.TB, dir string, files []string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range files {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "==> %s <==\n%s", n, data)
	}
	return strings.ReplaceAll(b.String(), dir, "$DIR")
}

// TestExamplesBootstrap brings each example up on the plane and runs its
// on-start script the way its bootstrap init container does, for every pet,
// through the real peer-finder against the plane's CoreDNS.
func TestExamplesBootstrap(t *testing.T) {
	t.Parallel()
	peerFinder := framework.BuildBinary(t, "github.com/kennel-dev/kennel/cmd/peer-finder")
	for _, ex := range examples {
		t.Run(ex.dir, func(t *testing.T) {
			t.Parallel()
			f := framework.New(t)
			installCRD(t, f)
			ctx := f.Context(4 * time.Minute)

			rec := f.RecordPods(ctx, ex.selector)
			kind := applyExample(t, f, ex)
			pods := waitForPets(t, f, ctx, ex, ex.replicas)
			checkPets(t, f, ctx, ex, pods, rec, kind)

			// DNS publishes every pet, Ready or not.
			fqdns := make([]string, ex.replicas)
			for i := range fqdns {
				fqdns[i] = f.FQDN(ex.set, ex.service, i)
			}
			_, objs := render(t, f, ex.dir)
			args := containerArgs(t, objs, "bootstrap")
			for i := 0; i < ex.replicas; i++ {
				pet := ordinal.PetName(ex.set, i)
				dir := t.TempDir()
				env, files := ex.outputs(dir)
				cmd := exec.CommandContext(ctx, peerFinder, localArgs(t, f, ex, args, pet)...)
				cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("peer-finder for %s: %v\n%s", pet, err, out)
				}
				got := dump(t, dir, files)
				want := runScriptDirect(t, ex, fqdns[i], fqdns)
				if got != want {
					t.Errorf("%s: through peer-finder and CoreDNS:\n%s\nwant (the script on the %d pets):\n%s\npeer-finder:\n%s", pet, got, ex.replicas, want, out)
				}
			}
		})
	}
}

// checkPets checks the pets' identity, the order they were created in, and
// that the PetSet's ConfigMap holds the example's script.
func checkPets(t *testing.T, f *framework.Framework, ctx context.Context, ex example, pods []corev1.Pod, rec *framework.PodRecorder, kind string) {
	t.Helper()
	var want []string
	for i := 0; i < ex.replicas; i++ {
		want = append(want, ordinal.PetName(ex.set, i))
	}
	nodes := map[string]string{}
	for i, p := range pods {
		if p.Name != want[i] || p.Spec.Hostname != p.Name || p.Spec.Subdomain != ex.service {
			t.Errorf("pod %d: name %s hostname %s subdomain %s, want %s/%s", i, p.Name, p.Spec.Hostname, p.Spec.Subdomain, want[i], ex.service)
		}
		if other, ok := nodes[p.Spec.NodeName]; ok && ex.dir != "nginx-master" {
			t.Errorf("%s and %s share node %s despite the anti-affinity", other, p.Name, p.Spec.NodeName)
		}
		nodes[p.Spec.NodeName] = p.Name
		// The scripts ConfigMap exists and is the example's files.
		for _, v := range p.Spec.Volumes {
			if v.ConfigMap == nil {
				continue
			}
			cm, err := f.Client.CoreV1().ConfigMaps(f.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("pod %s mounts ConfigMap %s: %v", p.Name, v.ConfigMap.Name, err)
			}
			for key, data := range cm.Data {
				file, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", ex.dir, key))
				if err != nil || string(file) != data {
					t.Errorf("ConfigMap %s key %s differs from examples/%s/%s (%v)", cm.Name, key, ex.dir, key, err)
				}
			}
		}
		for _, c := range p.Spec.Volumes {
			if c.PersistentVolumeClaim != nil && !strings.HasSuffix(c.PersistentVolumeClaim.ClaimName, "-"+p.Name) {
				t.Errorf("pod %s uses claim %s", p.Name, c.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	created := rec.Created()
	if ex.ordered {
		if !slices.Equal(created, want) {
			t.Errorf("%s created pets in the order %v, want %v", kind, created, want)
		}
		for i := 1; i < len(want); i++ {
			c, _ := rec.First(func(e framework.PodEvent) bool { return e.Name == want[i] })
			r, ok := rec.First(func(e framework.PodEvent) bool { return e.Name == want[i-1] && e.Ready })
			if !ok || r.Seq > c.Seq {
				t.Errorf("%s: %s was created before %s was Ready:\n%s", kind, want[i], want[i-1], rec)
			}
		}
	} else {
		slices.SortFunc(created, ordinal.Compare)
		if !slices.Equal(created, want) {
			t.Errorf("%s created pets %v, want %v", kind, created, want)
		}
	}
}

// TestZooKeeperScaleReconfig runs the ZooKeeper example's reconfig sidecar
// (peer-finder --on-change with on-change.sh, the manifest's flags) for zk-0
// against the plane's CoreDNS, with a stand-in zkCli.sh holding the
// ensemble, and scales the set 3 → 4 → 3: the new pet must be added to the
// ensemble, then removed.
func TestZooKeeperScaleReconfig(t *testing.T) {
	t.Parallel()
	ex := examples[1]
	if ex.dir != "zookeeper" {
		t.Fatal("examples[1] is not zookeeper")
	}
	peerFinder := framework.BuildBinary(t, "github.com/kennel-dev/kennel/cmd/peer-finder")
	f := framework.New(t)
	installCRD(t, f)
	ctx := f.Context(5 * time.Minute)
	kind := applyExample(t, f, ex)
	waitForPets(t, f, ctx, ex, 3)

	spec := func(i int) string {
		return fmt.Sprintf("server.%d=%s:2888:3888:participant;0.0.0.0:2181", i+1, f.FQDN(ex.set, ex.service, i))
	}
	dir := t.TempDir()
	state, calls := filepath.Join(dir, "ensemble"), filepath.Join(dir, "calls")
	if err := os.WriteFile(state, []byte(spec(0)+"\n"+spec(1)+"\n"+spec(2)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, objs := render(t, f, ex.dir)
	args := append(localArgs(t, f, ex, containerArgs(t, objs, "reconfig"), "zk-0"), "--settle=1s")
	sidecar := exec.Command(peerFinder, args...)
	sidecar.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"ZKCLI=" + filepath.Join(repoRoot(t), "examples", "testdata", "fake-zkCli.sh"),
		"FAKE_ZK_STATE=" + state,
		"FAKE_ZK_LOG=" + calls,
	}
	var sidecarOut bytes.Buffer
	sidecar.Stdout, sidecar.Stderr = &sidecarOut, &sidecarOut
	if err := sidecar.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sidecar.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = sidecar.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(15 * time.Second):
			_ = sidecar.Process.Kill()
			return fmt.Errorf("peer-finder did not stop on SIGTERM within 15s: %v", <-exited)
		}
	}
	t.Cleanup(func() {
		_ = stop()
		if t.Failed() {
			data, _ := os.ReadFile(calls)
			t.Logf("sidecar output:\n%s\nzkCli.sh calls:\n%s", sidecarOut.String(), data)
		}
	})

	ensembleIs := func(want ...int) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			data, err := os.ReadFile(state)
			if err != nil {
				return false, err
			}
			var lines []string
			for _, i := range want {
				lines = append(lines, spec(i))
			}
			got := strings.Fields(string(data))
			slices.Sort(got)
			slices.Sort(lines)
			return slices.Equal(got, lines), nil
		}
	}

	resource := strings.ToLower(kind)
	mustKubectl(t, f, "", "scale", "-n", f.Namespace, resource+"/zk", "--replicas=4")
	// One server per node: with the plane's three nodes, zk-3 cannot be
	// scheduled. A fourth node lets it run.
	waitUnschedulable(t, f, ctx, "zk-3")
	addNode(t, f, ctx, 3)
	waitForPets(t, f, ctx, ex, 4)
	if err := f.WaitFor(ctx, "server.4 added to the ensemble", ensembleIs(0, 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(calls)
	if !strings.Contains(string(log), "reconfig -add "+spec(3)) {
		t.Errorf("no `reconfig -add %s` call:\n%s", spec(3), log)
	}

	// The new pet's own on-start sees the four servers and takes id 4.
	out := filepath.Join(t.TempDir(), "zk-3")
	cmd := exec.CommandContext(ctx, peerFinder, localArgs(t, f, ex, containerArgs(t, objs, "bootstrap"), "zk-3")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ZK_CONF_DIR=" + out + "/conf", "ZK_DATA_DIR=" + out + "/data"}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("on-start of zk-3: %v\n%s", err, b)
	}
	if myid, _ := os.ReadFile(filepath.Join(out, "data", "myid")); string(myid) != "4\n" {
		t.Errorf("zk-3 myid %q, want 4", myid)
	}
	dyn, _ := os.ReadFile(filepath.Join(out, "conf", "zoo.cfg.dynamic"))
	if string(dyn) != spec(0)+"\n"+spec(1)+"\n"+spec(2)+"\n"+spec(3)+"\n" {
		t.Errorf("zk-3 zoo.cfg.dynamic:\n%s", dyn)
	}

	mustKubectl(t, f, "", "scale", "-n", f.Namespace, resource+"/zk", "--replicas=3")
	waitForPets(t, f, ctx, ex, 3)
	if err := f.WaitFor(ctx, "server.4 removed from the ensemble", ensembleIs(0, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Errorf("sidecar: %v", err)
	}
}

// waitUnschedulable waits until the scheduler reports pod as unschedulable.
func waitUnschedulable(t *testing.T, f *framework.Framework, ctx context.Context, pod string) {
	t.Helper()
	err := f.WaitFor(ctx, pod+" unschedulable", func(ctx context.Context) (bool, error) {
		p, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("%s was scheduled to %s despite the anti-affinity", pod, p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// addNode adds simulated node i to the plane (as the plane makes its own),
// if it is not there yet.
func addNode(t *testing.T, f *framework.Framework, ctx context.Context, i int) {
	t.Helper()
	name := plane.NodeName(i)
	cidr := fmt.Sprintf("10.244.%d.0/24", i)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{plane.NodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
	}
	if _, err := f.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create node %s: %v", name, err)
	}
}
