package realnode

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// zkMarker is a file the test writes on zk-1's volume; it is there again
// only if the recreated pet mounts the same volume.
const zkMarker = "/data/kennel-e2e-marker"

// deletedPetKeepsData deletes zk-1's pod and checks that the pet comes back
// on the same claim with its data: the claim's UID, a marker file and the
// snapshot and transaction log files of before on the volume, and the znode
// served by zk-1 once it is back in the ensemble.
func deletedPetKeepsData(ctx context.Context, t *testing.T, f *framework.Framework, znode, value string) {
	t.Helper()
	claim := func() string {
		c, err := f.Client.CoreV1().PersistentVolumeClaims(f.Namespace).Get(ctx, "data-zk-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(c.UID)
	}
	defer logElapsed(t, "deleting zk-1 and checking its data", time.Now())
	uid := claim()
	old, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, "zk-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("written-before-delete-%d", time.Now().UnixNano())
	if out, err := f.Kubectl("", "-n", f.Namespace, "exec", "zk-1", "-c", "zookeeper", "--",
		"sh", "-c", "echo "+marker+" >"+zkMarker); err != nil {
		t.Fatalf("marker on zk-1's volume: %v\n%s", err, out)
	}
	filesBefore := zkDataFiles(t, f, "zk-1")
	myidBefore := strings.TrimSpace(execZK(t, f, "zk-1", "cat", "/data/myid"))
	t.Logf("zk-1 before delete: claim data-zk-1 uid %s, myid %s, data files %v", uid, myidBefore, filesBefore)

	start := time.Now()
	if out, err := f.Kubectl("", "-n", f.Namespace, "delete", "pod", "zk-1", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := f.WaitFor(ctx, "zk-1 recreated and Ready", func(ctx context.Context) (bool, error) {
		p, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, "zk-1", metav1.GetOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return p.UID != old.UID && p.DeletionTimestamp == nil && podReady(p), nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("zk-1 deleted and Ready again in %s", time.Since(start).Round(time.Millisecond))

	if got := claim(); got != uid {
		t.Errorf("claim data-zk-1 uid %s after the delete, was %s", got, uid)
	}
	if got := strings.TrimSpace(execZK(t, f, "zk-1", "cat", zkMarker)); got != marker {
		t.Errorf("marker file on zk-1's volume is %q after the delete, want %q", got, marker)
	}
	if got := strings.TrimSpace(execZK(t, f, "zk-1", "cat", "/data/myid")); got != myidBefore {
		t.Errorf("zk-1's myid %q after the delete, was %q", got, myidBefore)
	}
	filesAfter := zkDataFiles(t, f, "zk-1")
	t.Logf("zk-1 after delete: claim uid %s, data files %v", claim(), filesAfter)
	if missing := without(filesBefore, filesAfter); len(missing) > 0 {
		t.Errorf("data files of before gone from zk-1's volume: %v", missing)
	}
	waitEnsemble(ctx, t, f, 3)
	out, err := zkCli(f, "zk-1", "get", znode)
	if err != nil || !strings.Contains(out, value) {
		t.Fatalf("get %s through zk-1 after its delete: %v\n%s", znode, err, out)
	}
	t.Logf("znode %s read back through the recreated zk-1: %s", znode, value)
}

// scaleAddsAndRemovesServers scales the PetSet to 5 as the README says and
// waits until the sidecar's reconfig has made zk-3 and zk-4 voting members
// (followers by srvr), then back to 3 and waits until they are removed and
// the ensemble still takes writes.
func scaleAddsAndRemovesServers(ctx context.Context, t *testing.T, f *framework.Framework, client string) {
	t.Helper()
	defer logElapsed(t, "scaling to 5 and back to 3", time.Now())
	scale := func(n int) {
		if out, err := f.Kubectl("", "-n", f.Namespace, "scale", "petset", "zk", fmt.Sprintf("--replicas=%d", n)); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	start := time.Now()
	scale(5)
	waitReady(ctx, f, "app.kubernetes.io/name=zookeeper", 5)
	t.Logf("5 pets Ready %s after the scale", time.Since(start).Round(time.Millisecond))
	members := waitEnsemble(ctx, t, f, 5)
	t.Logf("ensemble of 5 by zk-0's config %s after the scale: %v", time.Since(start).Round(time.Millisecond), members)
	modes := srvrModes(ctx, t, f, client, 5)
	t.Logf("srvr modes: %v", modes)
	if got := strings.Join(sortedModes(modes), ","); got != "follower,follower,follower,follower,leader" {
		t.Errorf("modes %v, want one leader and four followers", modes)
	}

	start = time.Now()
	scale(3)
	waitReady(ctx, f, "app.kubernetes.io/name=zookeeper", 3)
	members = waitEnsemble(ctx, t, f, 3)
	t.Logf("ensemble of 3 by zk-0's config %s after the scale down: %v", time.Since(start).Round(time.Millisecond), members)
	if out, err := zkCli(f, "zk-0", "create", "/kennel-e2e-scaled", "after-scale-down"); err != nil || strings.Contains(out, "Exception") {
		t.Fatalf("create through zk-0 after the scale down: %v\n%s", err, out)
	}
	out, err := zkCli(f, "zk-2", "get", "/kennel-e2e-scaled")
	if err != nil || !strings.Contains(out, "after-scale-down") {
		t.Fatalf("get through zk-2 after the scale down: %v\n%s", err, out)
	}
	t.Logf("znode /kennel-e2e-scaled written through zk-0 and read through zk-2 after the scale down")
	logs, err := f.Kubectl("", "-n", f.Namespace, "logs", "zk-0", "-c", "reconfig")
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "on-change: reconfig") || strings.Contains(l, "on-change: the ensemble now") {
			t.Logf("zk-0's sidecar: %s", strings.TrimSpace(l))
		}
	}
}

var serverLine = regexp.MustCompile(`(?m)^server\.(\d+)=([^:]+):\d+:\d+:(\w+)`)

// waitEnsemble waits until zk-0's server reports (zkCli.sh config) exactly
// servers 1..n, all participants (voting), and returns the member lines.
func waitEnsemble(ctx context.Context, t *testing.T, f *framework.Framework, n int) []string {
	t.Helper()
	var members []string
	err := framework.Poll(ctx, 2*time.Second, fmt.Sprintf("zk-0's config lists servers 1..%d as participants", n), func(context.Context) (bool, error) {
		out, err := zkCli(f, "zk-0", "config")
		if err != nil {
			return false, framework.Retry(fmt.Errorf("%v: %s", err, out))
		}
		ids, got := parseEnsemble(out)
		members = got
		want := make([]int, n)
		for i := range want {
			want[i] = i + 1
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			return false, framework.Retry(fmt.Errorf("voting members %v", got))
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return members
}

// parseEnsemble returns the sorted ids of the participants in zkCli.sh
// config output, and every server as "id=host:role".
func parseEnsemble(out string) ([]int, []string) {
	var ids []int
	var members []string
	for _, m := range serverLine.FindAllStringSubmatch(out, -1) {
		id, _ := strconv.Atoi(m[1])
		members = append(members, fmt.Sprintf("%d=%s:%s", id, strings.SplitN(m[2], ".", 2)[0], m[3]))
		if m[3] == "participant" {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	sort.Strings(members)
	return ids, members
}

// zkDataFiles lists the snapshot and transaction log files on a pet's volume.
func zkDataFiles(t *testing.T, f *framework.Framework, pod string) []string {
	t.Helper()
	out := execZK(t, f, pod, "sh", "-c", "cd /data && ls -1 version-2/* log/version-2/* 2>/dev/null || true")
	var files []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, "acceptedEpoch") && !strings.HasSuffix(l, "currentEpoch") {
			files = append(files, l)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no snapshot or log files on %s's volume", pod)
	}
	return files
}

func execZK(t *testing.T, f *framework.Framework, pod string, args ...string) string {
	t.Helper()
	out, err := f.Kubectl("", append([]string{"-n", f.Namespace, "exec", pod, "-c", "zookeeper", "--"}, args...)...)
	if err != nil {
		t.Fatalf("exec %v in %s: %v\n%s", args, pod, err, out)
	}
	return out
}

func logElapsed(t *testing.T, what string, start time.Time) {
	t.Logf("%s took %s", what, time.Since(start).Round(time.Millisecond))
}

// without returns the elements of a that are not in b.
func without(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func TestParseEnsemble(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		ids     []int
		members []string
	}{
		{"none", "Connecting to localhost:2181\n", nil, nil},
		{"three", "server.1=zk-0.zk.ns.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n" +
			"server.3=zk-2.zk.ns.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n" +
			"server.2=zk-1.zk.ns.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\nversion=100000003\n",
			[]int{1, 2, 3}, []string{"1=zk-0:participant", "2=zk-1:participant", "3=zk-2:participant"}},
		{"observer not voting", "server.1=zk-0.zk:2888:3888:participant;0.0.0.0:2181\n" +
			"server.4=zk-3.zk:2888:3888:observer;0.0.0.0:2181\n",
			[]int{1}, []string{"1=zk-0:participant", "4=zk-3:observer"}},
	}
	for _, tt := range tests {
		ids, members := parseEnsemble(tt.out)
		if fmt.Sprint(ids) != fmt.Sprint(tt.ids) || fmt.Sprint(members) != fmt.Sprint(tt.members) {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, ids, members, tt.ids, tt.members)
		}
	}
}
