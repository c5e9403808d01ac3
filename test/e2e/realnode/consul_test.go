package realnode

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// The Consul example, manifests changed only by image references and the
// one-node component (examples/components/one-node): three servers
// bootstrap one cluster through peer-finder (bootstrap_expect 3, retry_join
// by DNS name); the README's commands show
// three alive members and one leader with two followers, all voters; a key
// written through consul-0 is read through consul-2; scaling to 5 adds two
// voters, and back to 3 one step at a time (the preStop `consul leave`)
// removes them from the Raft peers; the README's clean-up leaves no pet.
func TestConsulExample(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(12 * time.Minute)
	dir := applyExample(ctx, t, f, "consul", 3, image("hashicorp/consul", framework.ConsulImage))

	logs, err := f.Kubectl("", "-n", f.Namespace, "logs", "consul-0", "-c", "bootstrap")
	if err != nil || !strings.Contains(logs, "bootstrap_expect 3, 3 retry_join") {
		t.Errorf("kubectl logs consul-0 -c bootstrap: %v\n%s", err, logs)
	}
	conf, err := podExec(f, "consul-0", "cat", "/consul/config/kennel-peers.json")
	if err != nil || !strings.Contains(conf, f.FQDN("consul", "consul", 2)) {
		t.Errorf("consul-0's /consul/config/kennel-peers.json: %v\n%s", err, conf)
	}
	consulMembers(ctx, t, f, 3)
	consulPeers(ctx, t, f, 3)

	if out, err := podExec(f, "consul-0", "consul", "kv", "put", "kennel/e2e", "written-through-consul-0"); err != nil {
		t.Fatalf("consul kv put through consul-0: %v\n%s", err, out)
	}
	out, err := podExec(f, "consul-2", "consul", "kv", "get", "kennel/e2e")
	if err != nil || strings.TrimSpace(out) != "written-through-consul-0" {
		t.Fatalf("consul kv get through consul-2: %v\n%q", err, out)
	}
	t.Logf("key kennel/e2e read back through consul-2: written-through-consul-0")

	consulScale(ctx, t, f)
	// The README's clean-up, with the claims of the pets the scale added.
	readmeCleanUp(ctx, t, f, dir, "app.kubernetes.io/name=consul", petNames("data-consul", 5)...)
}

// consulScale runs the README's scaling: up to 5, then down one step at a
// time, checking the members and the Raft peers after each step.
func consulScale(ctx context.Context, t *testing.T, f *framework.Framework) {
	t.Helper()
	for _, n := range []int{5, 4, 3} {
		start := time.Now()
		if out, err := f.Kubectl("", "-n", f.Namespace, "scale", "petset", "consul", fmt.Sprintf("--replicas=%d", n)); err != nil {
			t.Fatalf("kubectl scale petset consul --replicas=%d: %v\n%s", n, err, out)
		}
		waitReady(ctx, f, "app.kubernetes.io/name=consul", n)
		consulMembers(ctx, t, f, n)
		consulPeers(ctx, t, f, n)
		t.Logf("scaled to %d in %s", n, time.Since(start).Round(time.Millisecond))
	}
	out, _ := podExec(f, "consul-0", "consul", "members")
	t.Logf("consul members after 5 -> 4 -> 3:\n%s", out)
	if left := consulMemberStatus(out)["consul-4"]; left != "left server" && left != "" {
		t.Errorf("consul-4 is %q in consul members after the scale down, want left (or gone)", left)
	}
}

// consulMembers waits until `consul members` on consul-0 lists exactly
// consul-0..n-1 as alive servers (other members must have left).
func consulMembers(ctx context.Context, t *testing.T, f *framework.Framework, n int) {
	t.Helper()
	var out string
	err := framework.Poll(ctx, time.Second, fmt.Sprintf("consul members: %d alive servers", n), func(context.Context) (bool, error) {
		var err error
		if out, err = podExec(f, "consul-0", "consul", "members"); err != nil {
			return false, framework.Retry(err)
		}
		alive := aliveServers(out)
		return strings.Join(alive, ",") == strings.Join(petNames("consul", n), ","), nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("consul members:\n%s", out)
}

// consulPeers waits until `consul operator raft list-peers` on consul-0
// lists consul-0..n-1, all voters, one leader and n-1 followers.
func consulPeers(ctx context.Context, t *testing.T, f *framework.Framework, n int) {
	t.Helper()
	var out string
	err := framework.Poll(ctx, time.Second, fmt.Sprintf("raft list-peers: %d voters, one leader", n), func(context.Context) (bool, error) {
		var err error
		if out, err = podExec(f, "consul-0", "consul", "operator", "raft", "list-peers"); err != nil {
			return false, framework.Retry(err)
		}
		names, states := raftPeers(out)
		want := make([]string, 0, n)
		for range n - 1 {
			want = append(want, "follower")
		}
		want = append(want, "leader")
		return strings.Join(names, ",") == strings.Join(petNames("consul", n), ",") &&
			strings.Join(states, ",") == strings.Join(want, ","), nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("consul operator raft list-peers:\n%s", out)
}

// readmeCleanUp runs an example README's clean-up: `kubectl delete -k`,
// then `kubectl delete pvc` of the claims, and waits until no pod matches
// selector and no claim is left in the namespace.
func readmeCleanUp(ctx context.Context, t *testing.T, f *framework.Framework, dir, selector string, claims ...string) {
	t.Helper()
	if out, err := f.Kubectl("", "delete", "-k", dir); err != nil {
		t.Fatalf("kubectl delete -k: %v\n%s", err, out)
	}
	if out, err := f.Kubectl("", append([]string{"-n", f.Namespace, "delete", "pvc"}, claims...)...); err != nil {
		t.Fatalf("kubectl delete pvc %s: %v\n%s", strings.Join(claims, " "), err, out)
	}
	if err := f.WaitFor(ctx, "no pet and no claim left", func(ctx context.Context) (bool, error) {
		p, err := pods(ctx, f, selector)
		if err != nil {
			return false, framework.Retry(err)
		}
		c, err := f.Client.CoreV1().PersistentVolumeClaims(f.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, framework.Retry(err)
		}
		return len(p) == 0 && len(c.Items) == 0, nil
	}); err != nil {
		t.Error(err)
	}
}

// aliveServers returns the sorted names of the alive servers in `consul
// members` output.
func aliveServers(out string) []string {
	var names []string
	for node, status := range consulMemberStatus(out) {
		if status == "alive server" {
			names = append(names, node)
		}
	}
	sort.Strings(names)
	return names
}

// consulMemberStatus maps each node of `consul members` output to its
// status, followed by " server" for servers.
func consulMemberStatus(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		if len(fs) < 4 || fs[0] == "Node" {
			continue
		}
		if fs[3] == "server" {
			m[fs[0]] = fs[2] + " server"
		} else {
			m[fs[0]] = fs[2]
		}
	}
	return m
}

// raftPeers returns the voters of `consul operator raft list-peers` output,
// sorted by name, and their states sorted.
func raftPeers(out string) ([]string, []string) {
	var names, states []string
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		if len(fs) < 5 || fs[0] == "Node" || fs[4] != "true" {
			continue
		}
		names = append(names, fs[0])
		states = append(states, fs[3])
	}
	sort.Strings(names)
	sort.Strings(states)
	return names, states
}

// petNames returns set-0..set-n-1.
func petNames(set string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", set, i)
	}
	sort.Strings(out)
	return out
}

func TestConsulOutputParsing(t *testing.T) {
	members := `Node      Address          Status  Type    Build   Protocol  DC   Partition  Segment
consul-0  10.233.0.5:8301  alive   server  1.16.3  2         dc1  default    <all>
consul-1  10.233.0.6:8301  alive   server  1.16.3  2         dc1  default    <all>
consul-3  10.233.0.8:8301  left    server  1.16.3  2         dc1  default    <all>
client-a  10.233.0.9:8301  alive   client  1.16.3  2         dc1  default    <default>
`
	peers := `Node      ID                                    Address          State     Voter  RaftProtocol  Commit Index  Trails Leader By
consul-1  0f8e-1                                10.233.0.6:8300  follower  true   3             40            0 commits
consul-0  0f8e-0                                10.233.0.5:8300  leader    true   3             40            -
consul-2  0f8e-2                                10.233.0.7:8300  follower  false  3             40            0 commits
`
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"alive servers", aliveServers(members), "consul-0,consul-1"},
		{"voters", first(raftPeers(peers)), "consul-0,consul-1"},
		{"voter states", second(raftPeers(peers)), "follower,leader"},
		{"no output", aliveServers(""), ""},
		{"pet names", petNames("consul", 3), "consul-0,consul-1,consul-2"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.got, ","); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if s := consulMemberStatus(members)["consul-3"]; s != "left server" {
		t.Errorf("consul-3: %q, want left server", s)
	}
}

func first(a, _ []string) []string  { return a }
func second(_, b []string) []string { return b }
