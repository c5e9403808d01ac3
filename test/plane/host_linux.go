package plane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A real node changes the machine (there is no systemd to undo it): the
// bridge, iptables rules and chains (the kubelet's and kube-proxy's too),
// net.ipv4.ip_forward (set by the bridge plugin), mounts, network
// namespaces under /run/netns, cgroups under /kubepods, and paths
// containerd and CNI create at fixed places. hostGuard records the state
// before, in a journal, and restores it at stop; a journal left by a real
// node that did not stop is restored before the next one starts.
const (
	realNodeLock    = "/run/kennel-real-node.lock"
	realNodeJournal = "/run/kennel-real-node.json"
	natChain        = "KENNEL-REAL-NODE"
)

// fixedPaths are created by containerd, CNI and the kubelet regardless of
// their configuration; they are removed at stop when they did not exist
// before (and the kubelet's links into the node's pod logs are removed
// from /var/log/containers when it did).
var fixedPaths = []string{"/run/containerd", "/var/lib/cni", "/run/netns", "/etc/containerd", containerLogLinks}

const containerLogLinks = "/var/log/containers"

// sysctls are the host-wide settings a real node changes: the bridge plugin
// sets ip_forward, and the kubelet sets its kernel tunables (with
// protectKernelDefaults false, which these machines need).
var sysctls = []string{
	"net/ipv4/ip_forward",
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
}

type hostJournal struct {
	Pid       int               `json:"pid"`
	NodeDir   string            `json:"nodeDir"`
	Bridge    string            `json:"bridge"`
	Sysctls   map[string]string `json:"sysctls"`
	IPTables  string            `json:"iptables"`
	IP6Tables string            `json:"ip6tables"`
	Created   []string          `json:"created"` // fixed paths absent before
	Netns     []string          `json:"netns"`   // /run/netns entries before
}

type hostGuard struct {
	lock *os.File
	j    hostJournal
	logf func(string, ...any)
}

type hostNetwork struct {
	bridge, gateway string
	prefixLen       int
	dnat            []dnat
}

// dnat sends proto traffic from the bridge to dst:port on to the address
// to (host:port on 127.0.0.1).
type dnat struct {
	proto, dst string
	port       int
	to         string
}

// errLocked marks the error of acquireHost when another real node runs.
var errLocked = errors.New("another real node runs on this machine")

// acquireHostWait is acquireHost, retried for up to wait while another
// real node holds the lock.
func acquireHostWait(ctx context.Context, nodeDir string, wait time.Duration, logf func(string, ...any)) (*hostGuard, error) {
	deadline := time.Now().Add(wait)
	logged := false
	for {
		g, err := acquireHost(nodeDir, logf)
		if err == nil || !errors.Is(err, errLocked) || time.Now().After(deadline) {
			return g, err
		}
		if !logged {
			logf("plane: %v; waiting up to %s", err, wait)
			logged = true
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// acquireHost takes the machine's real-node lock, restores what a previous
// real node left, and records the host state.
func acquireHost(nodeDir string, logf func(string, ...any)) (*hostGuard, error) {
	f, err := os.OpenFile(realNodeLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		var other hostJournal
		_ = readJSONFile(realNodeJournal, &other)
		return nil, fmt.Errorf("%w (pid %d, %s): only one at a time; stop it first (lock %s)",
			errLocked, other.Pid, other.NodeDir, realNodeLock)
	}
	g := &hostGuard{lock: f, logf: logf}
	var stale hostJournal
	if err := readJSONFile(realNodeJournal, &stale); err == nil {
		logf("plane: restoring the host after a real node that did not stop (pid %d, %s)", stale.Pid, stale.NodeDir)
		old := &hostGuard{j: stale, logf: logf}
		old.killContainers()
		if err := old.undo(); err != nil {
			g.release()
			return nil, fmt.Errorf("restore the host after the previous real node: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		logf("plane: ignoring unreadable %s: %v", realNodeJournal, err)
	}
	if g.j, err = recordHost(nodeDir); err != nil {
		g.release()
		return nil, err
	}
	data, err := json.Marshal(g.j)
	if err == nil {
		err = os.WriteFile(realNodeJournal, data, 0o600)
	}
	if err != nil {
		g.release()
		return nil, err
	}
	return g, nil
}

func recordHost(nodeDir string) (hostJournal, error) {
	j := hostJournal{Pid: os.Getpid(), NodeDir: nodeDir, Bridge: realBridge}
	j.Sysctls = readSysctls()
	var err error
	if j.IPTables, err = output("iptables-save"); err != nil {
		return j, err
	}
	if j.IP6Tables, err = output("ip6tables-save"); err != nil {
		return j, err
	}
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			j.Created = append(j.Created, p)
		}
	}
	j.Netns = listDir("/run/netns")
	return j, nil
}

// setupNetwork creates the bridge with the gateway address (the kubelet
// needs its node IP on an interface before any pod exists) and the DNAT
// rules to the plane's loopback servers.
func (g *hostGuard) setupNetwork(ctx context.Context, n hostNetwork) error {
	cmds := [][]string{
		{"ip", "link", "add", n.bridge, "type", "bridge"},
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", n.gateway, n.prefixLen), "dev", n.bridge},
		{"ip", "link", "set", n.bridge, "up"},
		{"iptables", "-w", "-t", "nat", "-N", natChain},
		{"iptables", "-w", "-t", "nat", "-I", "PREROUTING", "1", "-i", n.bridge, "-j", natChain},
	}
	for _, d := range n.dnat {
		cmds = append(cmds, []string{"iptables", "-w", "-t", "nat", "-A", natChain, "-d", d.dst, "-p", d.proto,
			"--dport", strconv.Itoa(d.port), "-j", "DNAT", "--to-destination", d.to})
	}
	for _, c := range cmds {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	// DNAT to 127.0.0.1 needs route_localnet, on this bridge only (never
	// "all"); the setting goes with the bridge.
	return os.WriteFile(filepath.Join("/proc/sys/net/ipv4/conf", n.bridge, "route_localnet"), []byte("1"), 0o644)
}

// killContainers kills every process of the node: the containers (in the
// kubepods cgroups) and whatever runs from the node's directory
// (containerd's shims, and the components of a real node that did not stop).
func (g *hostGuard) killContainers() {
	for attempt := 0; attempt < 50; attempt++ {
		pids := cgroupPids("kubepods")
		pids = append(pids, pidsMentioning(g.j.NodeDir)...)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.logf("plane: processes of the real node still alive after 5s")
}

// restore undoes the node's changes and releases the lock.
func (g *hostGuard) restore() error {
	g.killContainers()
	err := g.undo()
	g.release()
	return err
}

func (g *hostGuard) release() {
	if g.lock != nil {
		_ = os.Remove(realNodeJournal)
		g.lock.Close()
		g.lock = nil
	}
}

// undo restores the host state in g.j; every step runs, the errors are
// joined.
func (g *hostGuard) undo() error {
	var errs []error
	created := map[string]bool{}
	for _, p := range g.j.Created {
		created[p] = true
	}
	keepNetns := map[string]bool{}
	for _, n := range g.j.Netns {
		keepNetns[n] = true
	}
	var newNetns []string
	for _, n := range listDir("/run/netns") {
		if !keepNetns[n] {
			newNetns = append(newNetns, filepath.Join("/run/netns", n))
		}
	}
	prefixes := append([]string{g.j.NodeDir}, newNetns...)
	for p := range created {
		prefixes = append(prefixes, p)
	}
	errs = append(errs, unmountUnder(prefixes))
	for _, n := range newNetns {
		errs = append(errs, os.Remove(n))
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", g.j.Bridge)); err == nil {
		errs = append(errs, run("ip", "link", "del", g.j.Bridge))
	}
	errs = append(errs, restoreIPTables("iptables", g.j.IPTables), restoreIPTables("ip6tables", g.j.IP6Tables))
	for k, v := range g.j.Sysctls {
		if cur := readSysctls()[k]; cur != v {
			errs = append(errs, os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644))
		}
	}
	errs = append(errs, removeLinksInto(containerLogLinks, g.j.NodeDir))
	errs = append(errs, removeCgroups("kubepods"))
	for p := range created {
		errs = append(errs, os.RemoveAll(p))
	}
	return errors.Join(errs...)
}

// restoreIPTables puts back the tables saved before start, and empties the
// tables that did not exist then.
func restoreIPTables(tool, saved string) error {
	cmd := exec.Command(tool+"-restore", "-w")
	cmd.Stdin = strings.NewReader(saved)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore: %w: %s", tool, err, strings.TrimSpace(string(out)))
	}
	now, err := output(tool + "-save")
	if err != nil {
		return err
	}
	had := tables(saved)
	var errs []error
	for t := range tables(now) {
		if !had[t] {
			errs = append(errs, run(tool, "-w", "-t", t, "-F"), run(tool, "-w", "-t", t, "-X"))
		}
	}
	return errors.Join(errs...)
}

// tables names the tables in iptables-save output.
func tables(save string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "*") {
			out[strings.TrimPrefix(l, "*")] = true
		}
	}
	return out
}

// unmountUnder unmounts (lazily, deepest first) every mount point under
// one of the prefixes.
func unmountUnder(prefixes []string) error {
	var points []string
	for _, m := range mountPoints() {
		for _, p := range prefixes {
			if m == p || strings.HasPrefix(m, p+"/") {
				points = append(points, m)
				break
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, m := range points {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists the mount points of this mount namespace.
func mountPoints() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// cgroupRoots are the cgroup v1 hierarchies: one directory per mount.
func cgroupRoots() []string {
	var out []string
	for _, d := range listDir("/sys/fs/cgroup") {
		p := filepath.Join("/sys/fs/cgroup", d)
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// cgroupPids lists the processes in the cgroup name (and below) of every
// hierarchy.
func cgroupPids(name string) []int {
	seen := map[int]bool{}
	var out []int
	for _, root := range cgroupRoots() {
		_ = filepath.Walk(filepath.Join(root, name), func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeCgroups removes the cgroup name and its children in every
// hierarchy, deepest first (a cgroup is removed with rmdir once empty).
func removeCgroups(name string) error {
	var errs []error
	for _, root := range cgroupRoots() {
		var dirs []string
		_ = filepath.Walk(filepath.Join(root, name), func(path string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for range 20 {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// pidsMentioning lists the processes (other than this one) whose command
// line mentions s.
func pidsMentioning(s string) []int {
	if s == "" {
		return nil
	}
	var out []int
	self := os.Getpid()
	for _, d := range listDir("/proc") {
		pid, err := strconv.Atoi(d)
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d, "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			out = append(out, pid)
		}
	}
	return out
}

func readSysctls() map[string]string {
	out := map[string]string{}
	for _, k := range sysctls {
		if v, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			out[k] = strings.TrimSpace(string(v))
		}
	}
	return out
}

// removeLinksInto removes the symlinks in dir that point under target.
func removeLinksInto(dir, target string) error {
	var errs []error
	for _, name := range listDir(dir) {
		p := filepath.Join(dir, name)
		if dst, err := os.Readlink(p); err == nil && strings.HasPrefix(dst, target+"/") {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}

func listDir(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return string(out), nil
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// HostSnapshot describes the host state a real node touches, normalized so
// that two snapshots compare equal when the host is as it was: iptables
// and ip6tables rules (counters dropped, empty ACCEPT-only tables dropped),
// network links, ip_forward, mounts of containers and network namespaces,
// kubepods cgroups, containerd's and CNI's fixed paths, and node processes.
func HostSnapshot() map[string]string {
	s := map[string]string{}
	for _, tool := range []string{"iptables", "ip6tables"} {
		out, err := output(tool + "-save")
		if err != nil {
			out = err.Error()
		}
		s[tool] = normalizeIPTables(out)
	}
	s["links"] = strings.Join(listDir("/sys/class/net"), " ")
	for k, v := range readSysctls() {
		s["sysctl "+k] = v
	}
	s["container log links"] = strings.Join(listDir(containerLogLinks), " ")
	var mounts []string
	for _, m := range mountPoints() {
		if strings.HasPrefix(m, "/run/netns") || strings.HasPrefix(m, "/run/containerd") || strings.Contains(m, "/node/") {
			mounts = append(mounts, m)
		}
	}
	s["mounts"] = strings.Join(mounts, " ")
	s["kubepods cgroups"] = fmt.Sprint(len(cgroupPids("kubepods")), " processes, ", cgroupDirs("kubepods"), " dirs")
	var paths []string
	for _, p := range append(fixedPaths, realNodeJournal) {
		if _, err := os.Lstat(p); err == nil {
			paths = append(paths, p)
		}
	}
	s["paths"] = strings.Join(paths, " ")
	s["processes"] = strings.Join(processesNamed("containerd", "containerd-shim", "kubelet", "kube-proxy"), " ")
	return s
}

func cgroupDirs(name string) int {
	n := 0
	for _, root := range cgroupRoots() {
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			n++
		}
	}
	return n
}

// processesNamed lists "name(pid)" of the processes whose command name
// starts with one of names.
// isZombie reports whether the process has exited and waits to be reaped
// (state Z): a killed shim stays listed until its parent, often init, reaps
// it, but it no longer runs.
func isZombie(pid string) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold
	// spaces: "1234 (containerd-shim) Z ...".
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func processesNamed(names ...string) []string {
	var out []string
	for _, d := range listDir("/proc") {
		if _, err := strconv.Atoi(d); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", d, "comm"))
		if err != nil || isZombie(d) {
			continue
		}
		c := strings.TrimSpace(string(comm))
		for _, n := range names {
			if strings.HasPrefix(c, n) {
				out = append(out, fmt.Sprintf("%s(%s)", c, d))
				break
			}
		}
	}
	return out
}

// normalizeIPTables drops comments, counters, and tables that hold nothing
// (only built-in chains with policy ACCEPT and no rules).
func normalizeIPTables(save string) string {
	var out, table []string
	empty := true
	flush := func() {
		if len(table) > 0 && !empty {
			out = append(out, table...)
		}
		table, empty = nil, true
	}
	sc := bufio.NewScanner(strings.NewReader(save))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#") || l == "":
			continue
		case strings.HasPrefix(l, "*"):
			flush()
			table = append(table, l)
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l)
			if len(f) < 2 || f[1] != "ACCEPT" {
				empty = false
			}
			table = append(table, strings.Join(f[:min(2, len(f))], " "))
		case l == "COMMIT":
			table = append(table, l)
			flush()
		default:
			empty = false
			table = append(table, l)
		}
	}
	flush()
	return strings.Join(out, "\n")
}
