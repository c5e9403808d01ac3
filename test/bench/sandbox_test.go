package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func buildFor(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestSandboxRunsPeerFinder runs kennel's peer-finder in a sandbox exactly
// as the benchmark does (resolv.conf, hostname and DNS on 127.0.0.1:53
// inside new namespaces) and checks what its script receives, how the
// membership follows SetPeers, and that SIGTERM ends it.
func TestSandboxRunsPeerFinder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and creates network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	sb := buildFor(t, "github.com/kennel-dev/kennel/test/bench/cmd/bench-sandbox")
	pf := buildFor(t, "github.com/kennel-dev/kennel/cmd/peer-finder")
	c := PeerFinderConfig{Sandbox: sb, Dir: t.TempDir(), Logf: t.Logf}

	f, err := c.correctness(Binary{Name: "kennel", Path: pf}, 12)
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("namespaces not permitted here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !f.ordinal || !f.trailingNL || f.received != 12 || f.readLoop != 12 {
		t.Errorf("kennel's peer-finder in the sandbox: %+v", f)
	}

	r, err := c.startFinder(Binary{Name: "kennel", Path: pf}, "test", 1,
		recordStart+"cat > \"$D/stdin.tmp\" && mv \"$D/stdin.tmp\" \"$D/stdin\"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if _, err := r.waitStarts(0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sb.SetPeers(3); err != nil {
		t.Fatal(err)
	}
	if _, err := r.waitStarts(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	// The script records its start before it reads stdin: wait for the
	// list it read to land.
	want := "web-0.web.default.svc.cluster.local\nweb-1.web.default.svc.cluster.local\nweb-2.web.default.svc.cluster.local\n"
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, _ = os.ReadFile(filepath.Join(r.dir, "stdin")); string(got) == want {
			break
		}
	}
	if string(got) != want {
		t.Errorf("after SetPeers(3) the script read %q, want %q", got, want)
	}
	udp, tcp, err := r.sb.Queries()
	if err != nil || udp+tcp == 0 {
		t.Errorf("Queries = %d, %d, %v; want some", udp, tcp, err)
	}
	if _, status, err := r.sb.Term(); err != nil || status != "0" {
		t.Errorf("Term: status %q, %v; want 0", status, err)
	}
}

// TestSandboxRefusesHostNamespace runs bench-sandbox without new
// namespaces: it must refuse before touching anything.
func TestSandboxRefusesHostNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	sb := buildFor(t, "github.com/kennel-dev/kennel/test/bench/cmd/bench-sandbox")
	out, err := exec.Command(sb, "--log="+filepath.Join(t.TempDir(), "log"), "--", "/bin/true").CombinedOutput()
	hasOther := false
	ifs, _ := os.ReadDir("/sys/class/net")
	for _, i := range ifs {
		hasOther = hasOther || i.Name() != "lo"
	}
	if !hasOther {
		t.Skip("this namespace has only loopback; the check has nothing to refuse")
	}
	if err == nil || !strings.Contains(string(out), "refusing") {
		t.Errorf("bench-sandbox in the host namespace: err %v, output %s", err, out)
	}
}
