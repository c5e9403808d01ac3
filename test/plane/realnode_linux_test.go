package plane

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNormalizeIPTables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"nothing", "", ""},
		{"empty tables dropped", "# Generated\n*filter\n:INPUT ACCEPT [1:2]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", ""},
		{"policy kept", "*filter\n:INPUT DROP [5:6]\nCOMMIT\n", "*filter\n:INPUT DROP\nCOMMIT"},
		{"user chain kept", "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\nCOMMIT\n", "*nat\n:PREROUTING ACCEPT\n:KUBE-SERVICES -\nCOMMIT"},
		{"rules kept, counters dropped", "*nat\n:PREROUTING ACCEPT [9:9]\n-A PREROUTING -j X\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
			"*nat\n:PREROUTING ACCEPT\n-A PREROUTING -j X\nCOMMIT"},
	}
	for _, tt := range tests {
		if got := normalizeIPTables(tt.in); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTables(t *testing.T) {
	t.Parallel()
	got := tables("*nat\n:A - [0:0]\nCOMMIT\n*filter\nCOMMIT\n")
	if len(got) != 2 || !got["nat"] || !got["filter"] {
		t.Errorf("tables: %v", got)
	}
}

// The CNI configuration is JSON with no default route and no masquerade.
func TestCNIConfig(t *testing.T) {
	t.Parallel()
	var conf struct {
		Plugins []struct {
			Type   string `json:"type"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				DataDir string `json:"dataDir"`
				Routes  []struct {
					Dst string `json:"dst"`
				} `json:"routes"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(cniConfig("/x/ipam")), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) != 1 || conf.Plugins[0].Type != "bridge" || conf.Plugins[0].IPMasq {
		t.Fatalf("plugins: %+v", conf.Plugins)
	}
	for _, r := range conf.Plugins[0].IPAM.Routes {
		if r.Dst == "0.0.0.0/0" {
			t.Error("pods get a default route")
		}
	}
	if conf.Plugins[0].IPAM.DataDir != "/x/ipam" {
		t.Errorf("IPAM state in %q, want the node's directory", conf.Plugins[0].IPAM.DataDir)
	}
}

// layoutArchive names the layout's image for ctr import and carries every
// blob.
func TestLayoutArchive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	index := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":1,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`
	files := map[string]string{"index.json": index, "oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "blobs/sha256/aa": "blob"}
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	archive, err := layoutArchive(dir, "kennel.local/thing:1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	if got["blobs/sha256/aa"] != "blob" || got["oci-layout"] == "" {
		t.Errorf("archive lacks blobs: %v", got)
	}
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(got["index.json"]), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != "sha256:aa" ||
		idx.Manifests[0].Annotations["io.containerd.image.name"] != "kennel.local/thing:1" ||
		idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1" {
		t.Errorf("index.json: %s", got["index.json"])
	}
}

// realNodeOrSkip returns the real-node options for a test, or skips (fails
// under KENNEL_E2E_REQUIRED=1) with the reason this machine cannot run one.
func realNodeOrSkip(t *testing.T) *RealNodeOptions {
	t.Helper()
	bin := os.Getenv("KENNEL_NODE_BIN")
	err := CheckRealNode(bin)
	images := os.Getenv("KENNEL_REALNODE_IMAGES")
	if err == nil && images == "" {
		err = errorString("KENNEL_REALNODE_IMAGES is not set; run `export KENNEL_REALNODE_IMAGES=$(hack/realnode-images.sh)`")
	}
	if err != nil {
		if os.Getenv("KENNEL_E2E_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return &RealNodeOptions{BinDir: bin, PauseImage: filepath.Join(images, "pause"), LockWait: 20 * time.Minute}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// A second real node on the same machine is refused with a clear error
// while the first holds the lock.
func TestRealNodeLock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("takes the machine's real-node lock: needs root")
	}
	if err := CheckRealNode(os.Getenv("KENNEL_NODE_BIN")); err != nil && !strings.Contains(err.Error(), "binaries") && !strings.Contains(err.Error(), "KENNEL_NODE_BIN") {
		t.Skip(err)
	}
	g, err := acquireHost(t.TempDir(), t.Logf)
	if err != nil && strings.Contains(err.Error(), "another real node runs on this machine") {
		// A real node of another run (a lane, cluster-up) holds the lock:
		// this refusal is the behaviour under test.
		t.Logf("refused while another run's node holds the lock: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.restore(); err != nil {
			t.Error(err)
		}
	}()
	_, err = acquireHost(t.TempDir(), t.Logf)
	if err == nil || !strings.Contains(err.Error(), "another real node runs on this machine") {
		t.Fatalf("second acquire: %v, want the one-per-machine error", err)
	}
}

// A plane with a real node runs a pod for real, and after Stop the host is
// as it was before Start: iptables, links, ip_forward, mounts, cgroups,
// containerd's and CNI's paths, processes.
func TestRealNodeLeavesHostClean(t *testing.T) {
	bin := binDir(t)
	rn := realNodeOrSkip(t)
	before := HostSnapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := Start(ctx, Options{BinDir: bin, Nodes: 1, Logf: t.Logf, RealNode: rn, ReadyTimeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	if err := runPausePod(ctx, p); err != nil {
		t.Error(err)
	}
	during := HostSnapshot()
	if during["links"] == before["links"] || !strings.Contains(during["iptables"], natChain) {
		t.Errorf("the running node changed nothing visible (links %q, iptables has %s: %v): the snapshot would not see a leak",
			during["links"], natChain, strings.Contains(during["iptables"], natChain))
	}
	p.Stop()
	stopped = true
	after := HostSnapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("host %s differs after Stop:\nbefore: %s\nafter:  %s", k, v, after[k])
		}
	}
}

// runPausePod runs a pod of the pause image on the real node until Ready.
func runPausePod(ctx context.Context, p *Plane) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{
			NodeName:   RealNodeName,
			Containers: []corev1.Container{{Name: "c", Image: PauseImage, ImagePullPolicy: corev1.PullNever}},
		},
	}
	if _, err := p.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	for {
		got, err := p.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && PodReady(got) {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("pod %s on the real node not Ready: %w", pod.Name, err)
		}
	}
}
