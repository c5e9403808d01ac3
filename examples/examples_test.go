package examples_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kennel-dev/kennel/pkg/ordinal"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the scripts' current output")

// pet describes one pet of an example: its set, its governing Service and its
// ordinal.
type pet struct {
	set, service string
	ordinal      int
}

func (p pet) name() string { return fmt.Sprintf("%s-%d", p.set, p.ordinal) }
func (p pet) fqdn() string {
	return fmt.Sprintf("%s.%s.default.svc.cluster.local", p.name(), p.service)
}

// peersOf returns the FQDNs of pets 0..n-1 of a set, in ordinal order.
func peersOf(set, service string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = pet{set, service, i}.fqdn()
	}
	return out
}

// lexicographic returns the peers sorted as plain strings (web-10 before
// web-2), the order the historical peer-finder produced.
func lexicographic(peers []string) []string {
	out := append([]string(nil), peers...)
	sort.Strings(out)
	return out
}

// stdinOf is what peer-finder writes to a script: one FQDN per line, with a
// trailing newline.
func stdinOf(peers []string) string {
	if len(peers) == 0 {
		return ""
	}
	return strings.Join(peers, "\n") + "\n"
}

// peerEnv is the environment peer-finder gives a script.
func peerEnv(self pet, peers []string) []string {
	return []string{
		"PEERS=" + strings.Join(peers, " "),
		"PEER_COUNT=" + strconv.Itoa(len(peers)),
		"SELF=" + self.fqdn(),
		"ORDINAL=" + strconv.Itoa(self.ordinal),
		"SERVICE=" + self.service,
		"NAMESPACE=default",
		"DOMAIN=cluster.local",
	}
}

// shell is one way of running a script: directly (its #!/bin/sh line) or
// with a named POSIX shell, like the shells of the examples' images (dash in
// Debian/Ubuntu-based nginx and zookeeper, busybox ash in Alpine-based consul).
type shell struct {
	name string
	argv []string // prefix before the script path; empty: exec the script
}

// shells returns every way the scripts run in. A missing shell fails the
// test: hack/ensure-test-deps.sh installs them all.
func shells(t *testing.T) []shell {
	t.Helper()
	out := []shell{{name: "shebang"}}
	for _, s := range []shell{
		{name: "dash", argv: []string{"dash"}},
		{name: "busybox", argv: []string{"busybox", "sh"}},
		{name: "bash-posix", argv: []string{"bash", "--posix"}},
	} {
		if _, err := exec.LookPath(s.argv[0]); err != nil {
			t.Fatalf("%s is not installed: the scripts must run under it (hack/ensure-test-deps.sh installs it): %v", s.argv[0], err)
		}
		out = append(out, s)
	}
	return out
}

type result struct {
	stdout, stderr string
	err            error
}

// run runs script under sh with stdin and env (plus PATH only).
func run(t *testing.T, sh shell, script, stdin string, env []string) result {
	t.Helper()
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string(nil), sh.argv...), abs)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return result{stdout.String(), stderr.String(), err}
}

// dumpFiles renders the named files under dir for a golden comparison, with
// every occurrence of dir replaced by $DIR. Missing files are shown as such.
func dumpFiles(t *testing.T, dir string, names ...string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "==> %s <==\n", n)
		data, err := os.ReadFile(filepath.Join(dir, n))
		if os.IsNotExist(err) {
			b.WriteString("(absent)\n")
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteString("\n(no newline at end of file)\n")
		}
	}
	return strings.ReplaceAll(b.String(), dir, "$DIR")
}

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./examples -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (go test ./examples -update rewrites it):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// size cases every script runs on: 1, 3 and 12 pets, as the first, a middle
// and the last pet. At 12, ordinal order differs from string order.
type sizeCase struct{ n, self int }

var sizeCases = []sizeCase{{1, 0}, {3, 0}, {3, 2}, {12, 0}, {12, 1}, {12, 11}}

func (c sizeCase) String() string { return fmt.Sprintf("peers-%d-pet-%d", c.n, c.self) }

// ---------------------------------------------------------------- nginx-master

const nginxScript = "nginx-master/on-start.sh"

// nginxEnv runs the nginx-master script with its outputs under dir.
func nginxEnv(dir string, extra ...string) []string {
	return append([]string{
		"NGINX_CONF=" + filepath.Join(dir, "conf", "nginx.conf"),
		"HTML_ROOT=" + filepath.Join(dir, "html"),
		"RESOLV_CONF=" + filepath.Join("testdata", "resolv.conf"),
	}, extra...)
}

func TestNginxMasterOnStart(t *testing.T) {
	for _, sh := range shells(t) {
		for _, c := range sizeCases {
			t.Run(sh.name+"/"+c.String(), func(t *testing.T) {
				peers := peersOf("web", "nginx", c.n)
				self := pet{"web", "nginx", c.self}
				orders := map[string][]string{"ordinal": peers, "lexicographic": lexicographic(peers)}
				var outputs []string
				for _, order := range []string{"ordinal", "lexicographic"} {
					dir := t.TempDir()
					r := run(t, sh, nginxScript, stdinOf(orders[order]), append(peerEnv(self, peers), nginxEnv(dir)...))
					if r.err != nil {
						t.Fatalf("%s order: %v\n%s", order, r.err, r.stderr)
					}
					out := dumpFiles(t, dir, "conf/nginx.conf", "html/index.html")
					outputs = append(outputs, out)
					role := "proxy"
					if c.self == 0 {
						role = "master"
					}
					if !strings.Contains(out, "# role: "+role+" (master: "+peers[0]+")") {
						t.Errorf("%s order: want role %s with master %s:\n%s", order, role, peers[0], out)
					}
				}
				if outputs[0] != outputs[1] {
					t.Errorf("output depends on the order of the peers:\n%s\n---\n%s", outputs[0], outputs[1])
				}
				golden(t, "nginx-master/"+c.String()+".golden", outputs[0])
			})
		}
	}
}

func TestNginxMasterOnStartEdges(t *testing.T) {
	peers := peersOf("web", "nginx", 3)
	tests := []struct {
		name    string
		stdin   string
		env     []string
		wantErr string
		want    []string // substrings of nginx.conf
	}{
		{name: "no trailing newline", stdin: strings.Join(peers, "\n"), want: []string{"# peers: 3", "http://" + peers[0] + ":80"}},
		{name: "trailing dots", stdin: strings.Join(peers, ".\n") + ".\n", want: []string{"# peers: 3", "http://" + peers[0] + ":80;"}},
		{name: "empty stdin", stdin: "", wantErr: "no peers on stdin"},
		{name: "name without ordinal", stdin: "web.nginx.default.svc.cluster.local\n", wantErr: "has no ordinal suffix"},
		{name: "resolver from env", stdin: stdinOf(peers), env: []string{"RESOLVER=127.0.0.1:5353"}, want: []string{"resolver 127.0.0.1:5353 valid=10s;"}},
		{name: "resolver from resolv.conf", stdin: stdinOf(peers), want: []string{"resolver 10.96.0.10 valid=10s;"}},
		{name: "IPv6 nameserver", stdin: stdinOf(peers), env: []string{"RESOLV_CONF=testdata/resolv-ipv6.conf"}, want: []string{"resolver [fd00:10:96::a] valid=10s;"}},
		{name: "no nameserver", stdin: stdinOf(peers), env: []string{"RESOLV_CONF=/nonexistent"}, wantErr: "no nameserver"},
		{name: "parameters", stdin: stdinOf(peers), env: []string{"LISTEN=127.0.0.1:8081", "MASTER_PORT=8080", "TEMP_DIR=/t", "NGINX_USER=nginx", "WORKER_PROCESSES=1"},
			want: []string{"listen 127.0.0.1:8081;", peers[0] + ":8080;", "proxy_temp_path /t/proxy;", "user nginx;", "worker_processes 1;"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := append(append(peerEnv(pet{"web", "nginx", 1}, peers), nginxEnv(dir)...), tc.env...)
			r := run(t, shell{name: "shebang"}, nginxScript, tc.stdin, env)
			if tc.wantErr != "" {
				if r.err == nil || !strings.Contains(r.stderr, tc.wantErr) {
					t.Fatalf("want failure with %q, got err=%v stderr=%q", tc.wantErr, r.err, r.stderr)
				}
				if _, err := os.Stat(filepath.Join(dir, "conf", "nginx.conf")); err == nil {
					t.Errorf("a failed run left nginx.conf behind")
				}
				return
			}
			if r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.stderr)
			}
			conf, err := os.ReadFile(filepath.Join(dir, "conf", "nginx.conf"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(conf), w) {
					t.Errorf("nginx.conf lacks %q:\n%s", w, conf)
				}
			}
		})
	}
}

func TestNginxMasterKeepsExistingIndex(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "html")
	if err := os.MkdirAll(html, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(html, "index.html"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	peers := peersOf("web", "nginx", 1)
	r := run(t, shell{name: "shebang"}, nginxScript, stdinOf(peers), append(peerEnv(pet{"web", "nginx", 0}, peers), nginxEnv(dir)...))
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(html, "index.html")); string(got) != "mine\n" {
		t.Errorf("index.html overwritten: %q", got)
	}
}

// ------------------------------------------------------------------- ZooKeeper

const (
	zkOnStart  = "zookeeper/on-start.sh"
	zkOnChange = "zookeeper/on-change.sh"
)

var serverLine = regexp.MustCompile(`^server\.(\d+)=([^:]+):2888:3888:participant;0\.0\.0\.0:2181$`)

func TestZooKeeperOnStart(t *testing.T) {
	for _, sh := range shells(t) {
		for _, c := range sizeCases {
			t.Run(sh.name+"/"+c.String(), func(t *testing.T) {
				peers := peersOf("zk", "zk", c.n)
				self := pet{"zk", "zk", c.self}
				var outputs []string
				for _, in := range [][]string{peers, lexicographic(peers)} {
					dir := t.TempDir()
					env := append(peerEnv(self, peers), "ZK_CONF_DIR="+dir+"/conf", "ZK_DATA_DIR="+dir+"/data")
					r := run(t, sh, zkOnStart, stdinOf(in), env)
					if r.err != nil {
						t.Fatalf("%v\n%s", r.err, r.stderr)
					}
					checkZooKeeperFiles(t, dir, self, in)
					if fi, err := os.Stat(filepath.Join(dir, "data", "log")); err != nil || !fi.IsDir() {
						t.Errorf("dataLogDir not created: %v", err)
					}
					outputs = append(outputs, dumpFiles(t, dir, "data/myid", "conf/zoo.cfg", "conf/zoo.cfg.dynamic"))
				}
				// Ordinal-ordered input is what peer-finder gives; its output is
				// the golden one, with servers in ordinal order.
				golden(t, "zookeeper/on-start-"+c.String()+".golden", outputs[0])
			})
		}
	}
}

// checkZooKeeperFiles checks what on-start wrote against the peers, apart
// from the golden comparison: myid from the pet's own ordinal, one server
// line per peer in input order with the id from that peer's own ordinal.
func checkZooKeeperFiles(t *testing.T, dir string, self pet, in []string) {
	t.Helper()
	myid, err := os.ReadFile(filepath.Join(dir, "data", "myid"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(myid), fmt.Sprintf("%d\n", self.ordinal+1); got != want {
		t.Errorf("myid = %q, want %q", got, want)
	}
	dyn, err := os.ReadFile(filepath.Join(dir, "conf", "zoo.cfg.dynamic"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(dyn), "\n"), "\n")
	if len(lines) != len(in) {
		t.Fatalf("%d server lines for %d peers:\n%s", len(lines), len(in), dyn)
	}
	for i, l := range lines {
		m := serverLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("bad server line %q", l)
		}
		_, ord, ok := ordinal.Parse(strings.SplitN(m[2], ".", 2)[0])
		if !ok || m[2] != in[i] || m[1] != strconv.Itoa(ord+1) {
			t.Errorf("line %d = %q, want server.<ordinal+1>=%s", i, l, in[i])
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "conf", "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"dynamicConfigFile=" + dir + "/conf/zoo.cfg.dynamic", "reconfigEnabled=true", "standaloneEnabled=false", "dataDir=" + dir + "/data\n"} {
		if !strings.Contains(string(cfg), w) {
			t.Errorf("zoo.cfg lacks %q", w)
		}
	}
}

func TestZooKeeperOnStartListen(t *testing.T) {
	peers := peersOf("zk", "zk", 3)
	dir := t.TempDir()
	env := append(peerEnv(pet{"zk", "zk", 1}, peers), "ZK_CONF_DIR="+dir+"/conf", "ZK_DATA_DIR="+dir+"/data",
		"CLIENT_LISTEN=peer", "QUORUM_LISTEN_ALL=false", "CLIENT_PORT=12181")
	r := run(t, shell{name: "shebang"}, zkOnStart, stdinOf(peers), env)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	dyn, _ := os.ReadFile(filepath.Join(dir, "conf", "zoo.cfg.dynamic"))
	cfg, _ := os.ReadFile(filepath.Join(dir, "conf", "zoo.cfg"))
	for i, p := range peers {
		want := fmt.Sprintf("server.%d=%s:2888:3888:participant;%s:12181\n", i+1, p, p)
		if !strings.Contains(string(dyn), want) {
			t.Errorf("zoo.cfg.dynamic lacks %q:\n%s", want, dyn)
		}
	}
	if !strings.Contains(string(cfg), "quorumListenOnAllIPs=false\n") {
		t.Errorf("zoo.cfg:\n%s", cfg)
	}
}

func TestZooKeeperOnStartErrors(t *testing.T) {
	peers := peersOf("zk", "zk", 3)
	tests := []struct {
		name, stdin, ordinal, wantErr string
	}{
		{"self not among peers", stdinOf(peers[:2]), "2", "not among the peers"},
		{"empty stdin", "", "0", "no peers on stdin"},
		{"bad ordinal", stdinOf(peers), "x", "is not a number"},
		{"peer without ordinal", "zk.zk.default.svc.cluster.local\n", "0", "no ordinal suffix"},
		{"bad CLIENT_LISTEN", stdinOf(peers), "0 CLIENT_LISTEN=everywhere", "want all or peer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ord, extra, _ := strings.Cut(tc.ordinal, " ")
			env := []string{"ORDINAL=" + ord, "ZK_CONF_DIR=" + dir + "/conf", "ZK_DATA_DIR=" + dir + "/data"}
			if extra != "" {
				env = append(env, extra)
			}
			r := run(t, shell{name: "shebang"}, zkOnStart, tc.stdin, env)
			if r.err == nil || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("want failure with %q, got err=%v stderr=%q", tc.wantErr, r.err, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "myid")); err == nil {
				t.Errorf("a failed run wrote myid")
			}
		})
	}
}

func ensembleOf(peers []string) string {
	var b strings.Builder
	for _, p := range peers {
		_, ord, _ := ordinal.Parse(strings.SplitN(p, ".", 2)[0])
		fmt.Fprintf(&b, "server.%d=%s:2888:3888:participant;0.0.0.0:2181\n", ord+1, p)
	}
	return b.String()
}

func TestZooKeeperOnChange(t *testing.T) {
	all := peersOf("zk", "zk", 12)
	tests := []struct {
		name     string
		self     int
		peers    []string
		ensemble []string // current servers
		mode     string
		wantErr  string
		want     []string // servers afterwards; nil: unchanged
	}{
		{name: "one pet alone", peers: all[:1], ensemble: all[:1]},
		{name: "scale 1 to 3", peers: all[:3], ensemble: all[:1], want: all[:3]},
		{name: "scale 3 to 12", peers: all, ensemble: all[:3], want: all},
		{name: "scale 12 to 3", peers: all[:3], ensemble: all, want: all[:3]},
		{name: "3 already in", peers: all[:3], ensemble: all[:3]},
		{name: "12 already in", peers: all, ensemble: all},
		{name: "not the lowest pet", self: 2, peers: all[:3], ensemble: all[:1]},
		{name: "lowest pet is 1 while 0 is away", self: 1, peers: all[1:4], ensemble: all[:3], want: all[1:4]},
		{name: "server down", peers: all[:3], ensemble: all[:1], mode: "down", wantErr: "could not read the ensemble"},
		{name: "reconfig not applied", peers: all[:3], ensemble: all[:1], mode: "ignore", wantErr: "still not in the ensemble"},
	}
	for _, tc := range tests {
		for _, sh := range shells(t) {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				cli := filepath.Join(dir, "zkCli.sh")
				state := filepath.Join(dir, "ensemble")
				logf := filepath.Join(dir, "calls")
				// testdata/fake-zkCli.sh stands in for zkCli.sh (the e2e
				// tests use it too).
				fake, err := os.ReadFile(filepath.Join("testdata", "fake-zkCli.sh"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cli, fake, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(state, []byte(ensembleOf(tc.ensemble)), 0o644); err != nil {
					t.Fatal(err)
				}
				env := append(peerEnv(pet{"zk", "zk", tc.self}, tc.peers),
					"ZKCLI="+cli, "FAKE_ZK_STATE="+state, "FAKE_ZK_LOG="+logf, "FAKE_ZK_MODE="+tc.mode)
				r := run(t, sh, zkOnChange, stdinOf(tc.peers), env)
				if tc.wantErr != "" {
					if r.err == nil || !strings.Contains(r.stderr, tc.wantErr) {
						t.Fatalf("want failure with %q, got err=%v stderr=%q", tc.wantErr, r.err, r.stderr)
					}
					return
				}
				if r.err != nil {
					t.Fatalf("%v\n%s", r.err, r.stderr)
				}
				got, err := os.ReadFile(state)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want == nil {
					want = tc.ensemble
				}
				if sortedLines(string(got)) != sortedLines(ensembleOf(want)) {
					t.Errorf("ensemble afterwards:\n%s\nwant:\n%s", got, ensembleOf(want))
				}
				calls, _ := os.ReadFile(logf)
				if tc.want == nil && strings.Contains(string(calls), "reconfig") {
					t.Errorf("reconfig run though nothing changed:\n%s", calls)
				}
				if tc.self != lowestOrdinal(tc.peers) && len(calls) > 0 {
					t.Errorf("a pet that is not the lowest ran zkCli.sh:\n%s", calls)
				}
				out := "==> zkCli.sh calls <==\n" + strings.ReplaceAll(string(calls), dir, "$DIR") +
					"==> stderr <==\n" + strings.ReplaceAll(stripZkOutput(r.stderr), dir, "$DIR")
				golden(t, "zookeeper/on-change-"+strings.ReplaceAll(tc.name, " ", "-")+".golden", out)
			})
		}
	}
}

// stripZkOutput keeps the script's own lines of stderr (zkCli.sh's output
// of reconfig goes there too).
func stripZkOutput(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "on-change: ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func lowestOrdinal(peers []string) int {
	low := -1
	for _, p := range peers {
		_, o, _ := ordinal.Parse(strings.SplitN(p, ".", 2)[0])
		if low < 0 || o < low {
			low = o
		}
	}
	return low
}

// ---------------------------------------------------------------------- Consul

const consulScript = "consul/on-start.sh"

func TestConsulOnStart(t *testing.T) {
	for _, sh := range shells(t) {
		for _, c := range sizeCases {
			t.Run(sh.name+"/"+c.String(), func(t *testing.T) {
				peers := peersOf("consul", "consul", c.n)
				dir := t.TempDir()
				file := filepath.Join(dir, "config", "kennel-peers.json")
				env := append(peerEnv(pet{"consul", "consul", c.self}, peers), "CONSUL_PEERS_CONFIG="+file)
				r := run(t, sh, consulScript, stdinOf(peers), env)
				if r.err != nil {
					t.Fatalf("%v\n%s", r.err, r.stderr)
				}
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				var cfg struct {
					BootstrapExpect int      `json:"bootstrap_expect"`
					RetryJoin       []string `json:"retry_join"`
				}
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&cfg); err != nil {
					t.Fatalf("not valid JSON: %v\n%s", err, data)
				}
				if cfg.BootstrapExpect != c.n {
					t.Errorf("bootstrap_expect = %d, want %d", cfg.BootstrapExpect, c.n)
				}
				if strings.Join(cfg.RetryJoin, " ") != strings.Join(peers, " ") {
					t.Errorf("retry_join = %v, want %v", cfg.RetryJoin, peers)
				}
				golden(t, "consul/"+c.String()+".golden", dumpFiles(t, dir, "config/kennel-peers.json"))
			})
		}
	}
}

func TestConsulOnStartErrors(t *testing.T) {
	for _, tc := range []struct{ name, stdin, wantErr string }{
		{"empty stdin", "", "no peers on stdin"},
		{"not a DNS name", "consul-0\"}.consul\n", "is not a DNS name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "kennel-peers.json")
			r := run(t, shell{name: "shebang"}, consulScript, tc.stdin, []string{"CONSUL_PEERS_CONFIG=" + file})
			if r.err == nil || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("want failure with %q, got err=%v stderr=%q", tc.wantErr, r.err, r.stderr)
			}
			if _, err := os.Stat(file); err == nil {
				t.Errorf("a failed run wrote %s", file)
			}
		})
	}
}
