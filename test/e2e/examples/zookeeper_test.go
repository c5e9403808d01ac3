package examples

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/internal/testenv"
)

// zkJar is the ZooKeeper jar of Debian's zookeeper package (its manifest
// lists the dependencies); KENNEL_ZOOKEEPER_JAR overrides it.
func zkJar() string {
	if j := os.Getenv("KENNEL_ZOOKEEPER_JAR"); j != "" {
		return j
	}
	return "/usr/share/java/zookeeper.jar"
}

// zkEnsemble runs real ZooKeeper servers on loopback addresses, one per
// pet, configured by the example's scripts.
type zkEnsemble struct {
	t       *testing.T
	java    string
	dir     string
	hosts   string            // Java hosts file: pet FQDN -> loopback address
	addr    map[int]string    // ordinal -> loopback address
	servers map[int]*exec.Cmd // running servers
	zkCli   string            // zkCli.sh stand-in running the real ZooKeeperMain
}

func (z *zkEnsemble) fqdn(i int) string {
	return fmt.Sprintf("zk-%d.zk.default.svc.cluster.local", i)
}

func (z *zkEnsemble) peers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintln(&b, z.fqdn(i))
	}
	return b.String()
}

// script runs one of the example's scripts as peer-finder would, for pet i
// among the first n pets.
func (z *zkEnsemble) script(name string, i, n int) string {
	z.t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(z.t), "examples", "zookeeper", name))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"ORDINAL=" + strconv.Itoa(i),
		"SELF=" + z.fqdn(i),
		"PEER_COUNT=" + strconv.Itoa(n),
		// Several servers on one machine: each listens on its own address.
		"CLIENT_LISTEN=peer",
		"QUORUM_LISTEN_ALL=false",
		"ZK_CONF_DIR=" + filepath.Join(z.dir, strconv.Itoa(i), "conf"),
		"ZK_DATA_DIR=" + filepath.Join(z.dir, strconv.Itoa(i), "data"),
		"ZKCLI=" + z.zkCli,
		"ZK_SERVER=" + z.fqdn(i) + ":2181",
	}
	cmd.Stdin = strings.NewReader(z.peers(n))
	out, err := cmd.CombinedOutput()
	if err != nil {
		z.t.Fatalf("%s for zk-%d of %d: %v\n%s", name, i, n, err, out)
	}
	return string(out)
}

// start starts the server of pet i with the configuration on-start wrote.
func (z *zkEnsemble) start(i int) {
	z.t.Helper()
	logf, err := os.Create(filepath.Join(z.dir, fmt.Sprintf("zk-%d.log", i)))
	if err != nil {
		z.t.Fatal(err)
	}
	cmd := exec.Command(z.java, "-Xmx192m", "-Djdk.net.hosts.file="+z.hosts,
		"-cp", zkJar(), "org.apache.zookeeper.server.quorum.QuorumPeerMain",
		filepath.Join(z.dir, strconv.Itoa(i), "conf", "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		z.t.Fatal(err)
	}
	z.servers[i] = cmd
	z.t.Cleanup(func() { z.stop(i); logf.Close() })
}

func (z *zkEnsemble) stop(i int) {
	cmd, ok := z.servers[i]
	if !ok {
		return
	}
	delete(z.servers, i)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
}

// srvr asks server i for its state with the srvr four-letter word.
func (z *zkEnsemble) srvr(i int) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(z.addr[i], "2181"), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return "", err
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(c)
	return b.String(), err
}

// waitMode waits until server i serves in one of the modes.
func (z *zkEnsemble) waitMode(i int, modes ...string) string {
	z.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		out, err := z.srvr(i)
		if err == nil {
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				if m, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok && slices.Contains(modes, m) {
					return m
				}
			}
			last = out
		} else {
			last = err.Error()
		}
		time.Sleep(300 * time.Millisecond)
	}
	z.t.Fatalf("zk-%d not in mode %v after 90s; last srvr: %s", i, modes, last)
	return ""
}

// cli runs the real zkCli (ZooKeeperMain) against server i.
func (z *zkEnsemble) cli(i int, args ...string) string {
	z.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, z.zkCli, append([]string{"-server", z.fqdn(i) + ":2181"}, args...)...).CombinedOutput()
	if err != nil {
		z.t.Fatalf("zkCli %v on zk-%d: %v\n%s", args, i, err, out)
	}
	return string(out)
}

// ensemble returns the server ids the ensemble has, as server i reports it.
func (z *zkEnsemble) ensemble(i int) []int {
	z.t.Helper()
	var ids []int
	for _, l := range strings.Split(z.cli(i, "config"), "\n") {
		rest, ok := strings.CutPrefix(l, "server.")
		if !ok {
			continue
		}
		id, err := strconv.Atoi(rest[:strings.IndexByte(rest, '=')])
		if err != nil {
			z.t.Fatalf("bad config line %q", l)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// waitEnsemble polls server i for up to 20s until it reports want (a
// follower learns a committed configuration shortly after the leader), and
// returns what it reported last.
func (z *zkEnsemble) waitEnsemble(i int, want []int) []int {
	z.t.Helper()
	var got []int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if got = z.ensemble(i); slices.Equal(got, want) {
			break
		}
	}
	return got
}

// TestZooKeeperRealEnsemble runs the ZooKeeper example's scripts with real
// ZooKeeper servers on loopback addresses, the way the PetSet does when it
// scales: zk-0 starts alone; zk-1 and zk-2 start with on-start's
// configuration and are added by on-change (`reconfig -add`, through the
// real zkCli) run for zk-0; data written on one server is read on another;
// then zk-2 goes away and on-change removes it (`reconfig -remove`) and the
// two left keep serving.
func TestZooKeeperRealEnsemble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three JVMs; not under -short")
	}
	java, err := exec.LookPath("java")
	_, jarErr := os.Stat(zkJar())
	if err != nil || jarErr != nil {
		testenv.SkipOrFail(t, "needs java and %s (Debian package zookeeper; hack/ensure-test-deps.sh installs it): %v %v", zkJar(), err, jarErr)
	}
	t.Parallel()

	z := &zkEnsemble{t: t, java: java, dir: t.TempDir(), addr: map[int]string{}, servers: map[int]*exec.Cmd{}}
	// Loopback addresses of this run only: 127.a.b.1..3.
	a, b := 2+rand.IntN(250), 2+rand.IntN(250)
	var hosts strings.Builder
	for i := range 3 {
		z.addr[i] = fmt.Sprintf("127.%d.%d.%d", a, b, i+1)
		fmt.Fprintf(&hosts, "%s %s\n", z.addr[i], z.fqdn(i))
	}
	z.hosts = filepath.Join(z.dir, "hosts")
	z.zkCli = filepath.Join(z.dir, "zkCli.sh")
	if err := os.WriteFile(z.hosts, []byte(hosts.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := fmt.Sprintf("#!/bin/sh\nexec %s -Xmx96m -Djdk.net.hosts.file=%s -cp %s org.apache.zookeeper.ZooKeeperMain \"$@\"\n", java, z.hosts, zkJar())
	if err := os.WriteFile(z.zkCli, []byte(cli), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i := range 3 {
				data, _ := os.ReadFile(filepath.Join(z.dir, fmt.Sprintf("zk-%d.log", i)))
				t.Logf("zk-%d log:\n%s", i, tail(string(data), 40))
			}
		}
	})

	// zk-0 alone: an ensemble of one.
	z.script("on-start.sh", 0, 1)
	z.start(0)
	if m := z.waitMode(0, "leader"); m != "leader" {
		t.Fatalf("zk-0 mode %s", m)
	}
	if out := z.script("on-change.sh", 0, 1); !strings.Contains(out, "already is servers 1") {
		t.Errorf("on-change for one pet:\n%s", out)
	}

	// zk-1, then zk-2: each starts with the ensemble plus itself, joins, and
	// the lowest pet's on-change adds it.
	for n := 2; n <= 3; n++ {
		i := n - 1
		z.script("on-start.sh", i, n)
		z.start(i)
		z.waitMode(i, "follower", "observer")
		out := z.script("on-change.sh", 0, n)
		if !strings.Contains(out, fmt.Sprintf("reconfig -add server.%d=%s", n, z.fqdn(i))) {
			t.Errorf("on-change for %d pets did not add zk-%d:\n%s", n, i, out)
		}
		want := []int{}
		for id := 1; id <= n; id++ {
			want = append(want, id)
		}
		for j := 0; j < n; j++ {
			if got := z.waitEnsemble(j, want); !slices.Equal(got, want) {
				t.Fatalf("after adding zk-%d, zk-%d reports servers %v, want %v", i, j, got, want)
			}
		}
		// The other pets' sidecars leave it alone.
		if out := z.script("on-change.sh", i, n); !strings.Contains(out, "nothing to do") {
			t.Errorf("on-change of zk-%d acted:\n%s", i, out)
		}
	}
	if myid, _ := os.ReadFile(filepath.Join(z.dir, "2", "data", "myid")); string(myid) != "3\n" {
		t.Errorf("zk-2 myid %q", myid)
	}

	// One ensemble: written on zk-0, read on zk-2.
	z.cli(0, "create", "/kennel", "written-on-zk-0")
	if out := z.cli(2, "get", "/kennel"); !strings.Contains(out, "written-on-zk-0") {
		t.Errorf("zk-2 does not see the znode written on zk-0:\n%s", out)
	}
	modes := map[string]int{}
	for i := range 3 {
		modes[z.waitMode(i, "leader", "follower")]++
	}
	if modes["leader"] != 1 || modes["follower"] != 2 {
		t.Errorf("modes %v, want one leader and two followers", modes)
	}

	// Scale down: zk-2 goes away; on-change removes it.
	z.stop(2)
	out := z.script("on-change.sh", 0, 2)
	if !strings.Contains(out, "reconfig -remove 3") {
		t.Errorf("on-change for 2 pets did not remove server 3:\n%s", out)
	}
	for j := 0; j < 2; j++ {
		if got := z.waitEnsemble(j, []int{1, 2}); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("after removing zk-2, zk-%d reports servers %v", j, got)
		}
	}
	z.cli(1, "create", "/kennel/after-scale-down", "ok")
	if out := z.cli(0, "get", "/kennel/after-scale-down"); !strings.Contains(out, "ok") {
		t.Errorf("the two servers left do not serve writes:\n%s", out)
	}
}
