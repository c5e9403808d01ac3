package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
)

var (
	peerFinderOnce sync.Once
	peerFinderBin  string
	peerFinderErr  error
	peerFinderDir  string
)

// buildPeerFinder builds cmd/peer-finder once per test binary.
func buildPeerFinder(t *testing.T) string {
	t.Helper()
	peerFinderOnce.Do(func() {
		peerFinderDir, peerFinderErr = os.MkdirTemp("", "kennel-examples-")
		if peerFinderErr != nil {
			return
		}
		peerFinderBin = filepath.Join(peerFinderDir, "peer-finder")
		cmd := exec.Command("go", "build", "-o", peerFinderBin, "github.com/kennel-dev/kennel/cmd/peer-finder")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			peerFinderErr = err
			peerFinderBin = string(out)
		}
	})
	if peerFinderErr != nil {
		t.Fatalf("go build ./cmd/peer-finder: %v\n%s", peerFinderErr, peerFinderBin)
	}
	return peerFinderBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if peerFinderDir != "" {
		os.RemoveAll(peerFinderDir)
	}
	os.Exit(code)
}

// TestScriptsThroughPeerFinder runs each example's on-start script the way
// the pod does, through the real peer-finder in init mode, against a DNS
// server on 127.0.0.1 that publishes the pets' SRV records in shuffled
// order, and checks that the result is the one the golden files hold for the
// same pet among the same peers.
func TestScriptsThroughPeerFinder(t *testing.T) {
	bin := buildPeerFinder(t)
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)

	tests := []struct {
		name, set, service, script string
		c                          sizeCase
		env                        func(dir string) []string
		files                      []string
		golden                     string
	}{
		{
			name: "nginx-master", set: "web", service: "nginx", script: nginxScript, c: sizeCase{12, 1},
			env:   func(dir string) []string { return nginxEnv(dir) },
			files: []string{"conf/nginx.conf", "html/index.html"}, golden: "nginx-master/peers-12-pet-1.golden",
		},
		{
			name: "nginx-master pet 0", set: "web", service: "nginx", script: nginxScript, c: sizeCase{3, 0},
			env:   func(dir string) []string { return nginxEnv(dir) },
			files: []string{"conf/nginx.conf", "html/index.html"}, golden: "nginx-master/peers-3-pet-0.golden",
		},
		{
			name: "zookeeper", set: "zk", service: "zk", script: zkOnStart, c: sizeCase{12, 11},
			env: func(dir string) []string {
				return []string{"ZK_CONF_DIR=" + dir + "/conf", "ZK_DATA_DIR=" + dir + "/data"}
			},
			files: []string{"data/myid", "conf/zoo.cfg", "conf/zoo.cfg.dynamic"}, golden: "zookeeper/on-start-peers-12-pet-11.golden",
		},
		{
			name: "consul", set: "consul", service: "consul", script: consulScript, c: sizeCase{3, 2},
			env:   func(dir string) []string { return []string{"CONSUL_PEERS_CONFIG=" + dir + "/config/kennel-peers.json"} },
			files: []string{"config/kennel-peers.json"}, golden: "consul/peers-3-pet-2.golden",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peers := peersOf(tc.set, tc.service, tc.c.n)
			shuffled := append([]string(nil), peers...)
			rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			dns.SetSRV(tc.service+".default.svc.cluster.local", shuffled...)
			for i, p := range peers {
				dns.SetAddrs(p, fmt.Sprintf("10.244.0.%d", i+1))
			}
			script, err := filepath.Abs(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			self := pet{tc.set, tc.service, tc.c.self}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin,
				"--on-start="+script,
				"--service="+tc.service,
				"--ns=default",
				"--domain=cluster.local",
				"--hostname="+self.name(),
				"--dns-server="+dns.Addr,
				"--poll-interval=100ms",
				"--timeout=30s",
			)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env(dir)...)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("peer-finder: %v\n%s", err, stderr.String())
			}
			got := dumpFiles(t, dir, tc.files...)
			want, err := os.ReadFile(filepath.Join("testdata", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("through peer-finder, the script wrote something else than %s:\n--- want\n%s\n--- got\n%s\n--- peer-finder:\n%s",
					tc.golden, want, got, stderr.String())
			}
			if !strings.Contains(stderr.String(), "on-start: ") {
				t.Errorf("the script's stderr did not reach peer-finder's:\n%s", stderr.String())
			}
		})
	}
}
