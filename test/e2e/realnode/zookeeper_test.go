package realnode

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// The ZooKeeper example, manifests changed only by image references and the
// one-node component (examples/components/one-node): three pets form one ensemble (one leader, two followers by srvr) and a
// znode written through zk-0 is read through zk-2; a deleted pet comes back
// on its claim with its data; scaling to 5 and back to 3 adds and removes
// servers through the sidecar's reconfig; a rolling update keeps serving.
func TestZooKeeperExample(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(16 * time.Minute)
	dir := applyExample(ctx, t, f, "zookeeper", 3, image("zookeeper", framework.ZooKeeperImage))

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

	zkReadmeChecks(t, f)
	deletedPetKeepsData(ctx, t, f, "/kennel-e2e", "written-through-zk-0")
	scaleAddsAndRemovesServers(ctx, t, f, client)
	rollingUpdateKeepsServing(ctx, t, f)
	// The README's clean-up, with the claims of the pets the scale added.
	readmeCleanUp(ctx, t, f, dir, "app.kubernetes.io/name=zookeeper", petNames("data-zk", 5)...)
}

// zkReadmeChecks runs the README's "Run it" commands not run elsewhere:
// zk-1's myid is 2, and zkServer.sh status in zk-0 names its mode.
func zkReadmeChecks(t *testing.T, f *framework.Framework) {
	t.Helper()
	if got := strings.TrimSpace(execZK(t, f, "zk-1", "cat", "/data/myid")); got != "2" {
		t.Errorf("kubectl exec zk-1 -c zookeeper -- cat /data/myid: %q, want 2", got)
	}
	out := execZK(t, f, "zk-0", "zkServer.sh", "status")
	if !strings.Contains(out, "Mode: leader") && !strings.Contains(out, "Mode: follower") {
		t.Errorf("kubectl exec zk-0 -c zookeeper -- zkServer.sh status: no mode\n%s", out)
	}
	t.Logf("zkServer.sh status in zk-0:\n%s", out)
}

// writerScript writes the znode through the whole ensemble, one zkCli.sh
// (one JVM) per write, and prints "ok|err <unix ms>" for each (bash's
// EPOCHREALTIME: busybox's date has no milliseconds).
const writerScript = `while true; do
  out=$(zkCli.sh -server "$SERVERS" set /kennel-e2e "$(date +%s)" 2>&1)
  if echo "$out" | grep -qiE 'exception|error|refused|timed ?out|not connected'; then r=err; else r=ok; fi
  ts=${EPOCHREALTIME/./}
  echo "$r ${ts:0:13}"
done`

// rollingUpdateKeepsServing changes the pets' template while a client
// writes through the ensemble, waits until every pet runs the new
// revision, and reports the longest time between two successful writes.
func rollingUpdateKeepsServing(ctx context.Context, t *testing.T, f *framework.Framework) {
	t.Helper()
	servers := make([]string, 3)
	for i := range servers {
		servers[i] = f.FQDN("zk", "zk", i) + ":2181"
	}
	writer := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "writer"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "writer", Image: framework.ZooKeeperImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/bash", "-c", writerScript},
				Env: []corev1.EnvVar{{Name: "SERVERS", Value: strings.Join(servers, ",")},
					{Name: "CLIENT_JVMFLAGS", Value: "-Xmx64m"}},
			}},
		},
	}
	if _, err := f.Client.CoreV1().Pods(f.Namespace).Create(ctx, writer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.WaitForPodReady(ctx, "writer", true)
	waitLogCount(ctx, t, f, "writer", "ok ", 3)

	start := time.Now()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kennel.dev/e2e-rollout":"%d"}}}}}`, start.Unix())
	if out, err := f.Kubectl("", "-n", f.Namespace, "patch", "petset", "zk", "--type=merge", "-p", patch); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	kc := f.InstallPetSetCRD()
	if err := f.WaitFor(ctx, "every pet at the new revision and Ready", func(ctx context.Context) (bool, error) {
		set, err := kc.KennelV1().PetSets(f.Namespace).Get(ctx, "zk", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		st := set.Status
		return st.ObservedGeneration >= set.Generation && st.UpdatedReplicas == 3 && st.ReadyReplicas == 3 &&
			st.UpdateRevision != "" && st.CurrentRevision == st.UpdateRevision, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("rolling update of 3 pets done in %s", time.Since(start).Round(time.Millisecond))
	waitLogCount(ctx, t, f, "writer", "ok ", 1)
	logs, err := f.Kubectl("", "-n", f.Namespace, "logs", "writer")
	if err != nil {
		t.Fatal(err)
	}
	gap, oks, errs := longestGap(logs, start.UnixMilli())
	t.Logf("writes during the update: %d ok, %d failed; longest time between two successful writes: %s", oks, errs, gap)
	if oks < 2 {
		t.Errorf("only %d successful writes during the update: nothing measured\n%s", oks, logs)
	}
	if gap > 20*time.Second {
		t.Errorf("the ensemble stopped taking writes for %s during the rolling update", gap)
	}
}

// waitLogCount waits until pod's log has n more lines with prefix than now.
func waitLogCount(ctx context.Context, t *testing.T, f *framework.Framework, pod, prefix string, n int) {
	t.Helper()
	count := func() int {
		out, _ := f.Kubectl("", "-n", f.Namespace, "logs", pod)
		c := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				c++
			}
		}
		return c
	}
	want := count() + n
	if err := framework.Poll(ctx, time.Second, fmt.Sprintf("%d lines %q in %s's log", n, prefix, pod), func(context.Context) (bool, error) {
		return count() >= want, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// longestGap reads "ok|err <unix ms>" lines and returns the longest time
// between two successful writes after since (ms), and the counts.
func longestGap(logs string, since int64) (time.Duration, int, int) {
	var last, longest int64
	oks, errs := 0, 0
	for _, l := range strings.Split(logs, "\n") {
		r, ts, ok := strings.Cut(strings.TrimSpace(l), " ")
		ms, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			continue
		}
		if r == "ok" {
			if last != 0 && ms >= since && ms-last > longest {
				longest = ms - last
			}
			last = ms
			if ms >= since {
				oks++
			}
		} else if ms >= since {
			errs++
		}
	}
	return time.Duration(longest) * time.Millisecond, oks, errs
}

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

func TestLongestGap(t *testing.T) {
	tests := []struct {
		name     string
		logs     string
		since    int64
		want     time.Duration
		oks, bad int
	}{
		{"none", "", 0, 0, 0, 0},
		{"steady", "ok 1000\nok 2000\nok 3500\n", 0, 1500 * time.Millisecond, 3, 0},
		{"errors widen the gap", "ok 1000\nerr 2000\nerr 3000\nok 9000\nok 9500\n", 0, 8 * time.Second, 3, 2},
		{"before since ignored", "ok 1000\nok 9000\nok 9100\nok 9300\n", 9050, 200 * time.Millisecond, 2, 0},
		{"noise ignored", "SLF4J: x\nok 1000\nok abc\nok 1300\n", 0, 300 * time.Millisecond, 2, 0},
	}
	for _, tt := range tests {
		got, oks, bad := longestGap(tt.logs, tt.since)
		if got != tt.want || oks != tt.oks || bad != tt.bad {
			t.Errorf("%s: got %s %d ok %d err, want %s %d %d", tt.name, got, oks, bad, tt.want, tt.oks, tt.bad)
		}
	}
}
