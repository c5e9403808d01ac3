package realnode

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// The ZooKeeper example, manifests unchanged but for image references:
// three pets form one ensemble (one leader, two followers by srvr) and a
// znode written through zk-0 is read through zk-2.
func TestZooKeeperExample(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(8 * time.Minute)
	f.InstallPetSetCRD()
	f.StartController("controller", "--namespace="+f.Namespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	dir := overlayPatched(t, exampleDir("zookeeper"), f.Namespace, oneNodePatch,
		image("zookeeper", framework.ZooKeeperImage), image("ghcr.io/kennel-dev/peer-finder", framework.PeerFinderImage))
	start := time.Now()
	if out, err := f.Kubectl("", "apply", "--server-side", "-k", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pets := waitReady(ctx, f, "app.kubernetes.io/name=zookeeper", 3)
	t.Logf("3 ZooKeeper pets Ready in %s", time.Since(start).Round(time.Millisecond))
	onRealNode(t, pets)

	client := startClient(ctx, f)
	modes := srvrModes(ctx, t, f, client, 3)
	t.Logf("srvr modes: %v", modes)
	if got := strings.Join(sortedModes(modes), ","); got != "follower,follower,leader" {
		t.Errorf("modes %v, want one leader and two followers", modes)
	}

	if out, err := zkCli(f, "zk-0", "create", "/kennel-e2e", "written-through-zk-0"); err != nil {
		t.Fatalf("create through zk-0: %v\n%s", err, out)
	}
	out, err := zkCli(f, "zk-2", "get", "/kennel-e2e")
	if err != nil || !strings.Contains(out, "written-through-zk-0") {
		t.Fatalf("get through zk-2: %v\n%s", err, out)
	}
	t.Logf("znode /kennel-e2e read back through zk-2: written-through-zk-0")
}

// oneNodePatch is what the real node forces on the example: it is one node
// (the example requires one server per node), and its hostPath volumes
// ignore fsGroup (created 0750 root, not writable by the image's uid 1000).
// Both are what a user of a one-node cluster with such volumes meets.
const oneNodePatch = `apiVersion: kennel.dev/v1
kind: PetSet
metadata:
  name: zk
spec:
  template:
    spec:
      affinity:
        podAntiAffinity: null
      securityContext:
        runAsUser: 0
        runAsGroup: 0
`

// zkCli runs the image's zkCli.sh in a pet against its own server.
func zkCli(f *framework.Framework, pod string, args ...string) (string, error) {
	return f.Kubectl("", append([]string{"-n", f.Namespace, "exec", pod, "-c", "zookeeper", "--",
		"zkCli.sh", "-server", "localhost:2181"}, args...)...)
}

// srvrModes asks each of the n pets for srvr (from the client pod, by DNS
// name) until every one answers with a mode, and returns them by pet.
func srvrModes(ctx context.Context, t *testing.T, f *framework.Framework, client string, n int) map[string]string {
	t.Helper()
	modes := map[string]string{}
	for i := range n {
		pet := fmt.Sprintf("zk-%d", i)
		addr := f.FQDN("zk", "zk", i) + ":2181"
		err := framework.Poll(ctx, time.Second, "srvr of "+pet, func(context.Context) (bool, error) {
			out, err := podExec(f, client, "toolbox", "zk", addr, "srvr")
			for _, l := range strings.Split(out, "\n") {
				if m, ok := strings.CutPrefix(l, "Mode: "); ok {
					modes[pet] = strings.TrimSpace(m)
					return true, nil
				}
			}
			return false, framework.Retry(fmt.Errorf("%v: %q", err, out))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return modes
}

func sortedModes(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
