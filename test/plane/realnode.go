package plane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The real node: one kubelet with containerd and runc, pods on a bridge
// network that exists only on this machine (no default route, no
// masquerade), kube-proxy for ClusterIP Services. Pods reach CoreDNS and the
// API server through DNAT rules from the bridge to 127.0.0.1.
const (
	// RealNodeName is the real node's Node name.
	RealNodeName = "kennel-real-node"
	// RealNodeLabel is set to "true" on the real node.
	RealNodeLabel = "kennel.dev/real-node"
	// RealNodeGateway is the bridge's address on the host: the pods'
	// gateway, their DNS server and the node's InternalIP.
	RealNodeGateway = "10.233.0.1"
	// RealNodePodCIDR is the pod subnet of the real node.
	RealNodePodCIDR = "10.233.0.0/24"
	// PauseImage is the sandbox image containerd uses; it must be imported
	// (RealNodeOptions.PauseImage), nothing is pulled.
	PauseImage = "kennel.local/pause:1"

	realBridge = "kennelbr0"
	cniBinDir  = "/usr/lib/cni"
)

// RealNodeBinaries are the node binaries looked up in RealNodeOptions.BinDir.
var RealNodeBinaries = []string{"kubelet", "kube-proxy"}

// hostTools are the host programs a real node needs (Debian packages
// containerd, runc, containernetworking-plugins, iptables, iproute2).
var hostTools = []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "iptables-save",
	"iptables-restore", "ip6tables-save", "ip6tables-restore", "ip", "mount"}

// RealNodeOptions configure the real node of a plane.
type RealNodeOptions struct {
	// BinDir holds kubelet and kube-proxy (hack/node-binaries.sh prints
	// it). Empty: the KENNEL_NODE_BIN environment variable.
	BinDir string
	// PauseImage is the OCI image layout directory of the sandbox image,
	// imported as PauseImage.
	PauseImage string
	// Images are more OCI image layouts imported before the node is
	// Ready, by the reference they are imported as.
	Images map[string]string
	// LockWait is how long to wait for another real node on this machine
	// to stop (default: do not wait; fail with an error naming it).
	LockWait time.Duration
}

// realNode is the state of a running real node.
type realNode struct {
	opts RealNodeOptions
	dir  string // <plane>/node
	host *hostGuard

	containerd, kubelet, proxy *process
}

// CheckRealNode reports why this machine cannot run a real node, or nil:
// Linux, root, the host tools, cgroup v1 memory and pids controllers, the
// CNI plugins, and kubelet and kube-proxy in binDir.
func CheckRealNode(binDir string) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("a real node needs Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("a real node needs root (containerd, mounts, iptables, cgroups)")
	}
	var missing []string
	for _, t := range hostTools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, plugin))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a real node needs %s (hack/ensure-test-deps.sh installs them)", strings.Join(missing, ", "))
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, "cgroup.procs")); err != nil {
			return fmt.Errorf("a real node needs the cgroup v1 %s controller at /sys/fs/cgroup/%s: %v", c, c, err)
		}
	}
	if binDir == "" {
		return errors.New("no real-node binaries: KENNEL_NODE_BIN is not set; run `export KENNEL_NODE_BIN=$(hack/node-binaries.sh)`")
	}
	for _, b := range RealNodeBinaries {
		if st, err := os.Stat(filepath.Join(binDir, b)); err != nil || st.IsDir() {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("real-node binaries missing in %s: %s (build them with hack/node-binaries.sh)", binDir, strings.Join(missing, ", "))
	}
	return nil
}

// apiserverRealNodeArgs let the API server reach the kubelet with its own
// client certificate and verify the kubelet's serving certificate.
func (p *Plane) apiserverRealNodeArgs() []string {
	return []string{
		"--kubelet-client-certificate=" + p.pki.kubeletClient,
		"--kubelet-client-key=" + p.pki.kubeletClientK,
		"--kubelet-certificate-authority=" + p.pki.caCert,
		"--kubelet-preferred-address-types=InternalIP",
	}
}

func (p *Plane) realNodeSteps() []step {
	return []step{
		{"real node host", p.prepareRealNodeHost},
		{"containerd", p.startContainerd},
		{"kubelet", p.startKubelet},
		{"kube-proxy", p.startKubeProxy},
	}
}

// prepareRealNodeHost takes the machine's real-node lock, undoes what a
// real node that did not stop left behind, records the host state to
// restore, and sets up the bridge and the DNAT rules.
func (p *Plane) prepareRealNodeHost(ctx context.Context) error {
	o := *p.opts.RealNode
	if o.BinDir == "" {
		o.BinDir = os.Getenv("KENNEL_NODE_BIN")
	}
	if err := CheckRealNode(o.BinDir); err != nil {
		return err
	}
	n := &realNode{opts: o, dir: p.path("node")}
	for _, sub := range []string{"containerd", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "plugins"} {
		if err := os.MkdirAll(filepath.Join(n.dir, sub), 0o755); err != nil {
			return err
		}
	}
	g, err := acquireHostWait(ctx, n.dir, o.LockWait, p.opts.Logf)
	if err != nil {
		return err
	}
	n.host = g
	p.node = n
	return g.setupNetwork(ctx, hostNetwork{
		bridge:    realBridge,
		gateway:   RealNodeGateway,
		prefixLen: 24,
		dnat: []dnat{
			{proto: "udp", dst: RealNodeGateway, port: 53, to: p.DNSAddr()},
			{proto: "tcp", dst: RealNodeGateway, port: 53, to: p.DNSAddr()},
			{proto: "tcp", dst: serviceIP, port: 443, to: fmt.Sprintf("127.0.0.1:%d", p.ports.apiserver)},
		},
	})
}

func (n *realNode) path(elem ...string) string {
	return filepath.Join(append([]string{n.dir}, elem...)...)
}

func (n *realNode) socket() string { return n.path("containerd", "containerd.sock") }

// startContainerd writes containerd's and CNI's configuration, starts
// containerd and imports the images.
func (p *Plane) startContainerd(ctx context.Context) error {
	n := p.node
	if err := os.WriteFile(n.path("cni", "net.d", "10-kennel.conflist"), []byte(cniConfig(n.path("cni", "ipam"))), 0o644); err != nil {
		return err
	}
	conf := n.path("containerd", "config.toml")
	if err := os.WriteFile(conf, []byte(containerdConfig(n)), 0o644); err != nil {
		return err
	}
	proc, err := p.launchPath("containerd", "containerd", []string{"--config", conf})
	if err != nil {
		return err
	}
	n.containerd = proc
	for {
		if done, err := proc.exited(); done {
			return p.componentError(proc, err)
		}
		if err := n.ctr(ctx, "version"); err == nil {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return p.componentError(proc, fmt.Errorf("waiting for containerd's socket: %w", err))
		}
	}
	p.opts.Logf("plane: containerd ready")
	if n.opts.PauseImage == "" {
		return errors.New("RealNodeOptions.PauseImage is empty: the sandbox image must be imported (nothing is pulled)")
	}
	start := time.Now()
	if err := p.ImportImage(ctx, n.opts.PauseImage, PauseImage); err != nil {
		return err
	}
	for ref, dir := range n.opts.Images {
		if err := p.ImportImage(ctx, dir, ref); err != nil {
			return err
		}
	}
	p.opts.Logf("plane: %d images imported in %s", 1+len(n.opts.Images), time.Since(start).Round(time.Millisecond))
	return nil
}

// ctr runs containerd's client against the node's containerd in the
// Kubernetes namespace.
func (n *realNode) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.socket(), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ImportImage imports the OCI image layout in dir into the real node's
// containerd as ref (its only image for the host's platform), so that pods
// with imagePullPolicy Never or IfNotPresent run it without a registry.
func (p *Plane) ImportImage(ctx context.Context, dir, ref string) error {
	if p.node == nil || p.node.containerd == nil {
		return errors.New("ImportImage: the plane has no real node")
	}
	archive, err := layoutArchive(dir, ref, p.node.path("containerd"))
	if err != nil {
		return fmt.Errorf("image %s from %s: %w", ref, dir, err)
	}
	defer os.Remove(archive)
	return p.node.ctr(ctx, "images", "import", archive)
}

// startKubelet writes the kubelet's configuration and starts it, and waits
// until the node is Ready.
func (p *Plane) startKubelet(ctx context.Context) error {
	n := p.node
	conf := n.path("kubelet-config.yaml")
	resolv := n.path("resolv.conf")
	// Pods with dnsPolicy Default get no host resolvers: nothing outside
	// this machine is reachable anyway.
	if err := os.WriteFile(resolv, []byte("options ndots:1\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(conf, []byte(kubeletConfig(p, resolv)), 0o644); err != nil {
		return err
	}
	proc, err := p.launchPath("kubelet", filepath.Join(n.opts.BinDir, "kubelet"), []string{
		"--config=" + conf,
		"--kubeconfig=" + p.path("kubelet.kubeconfig"),
		"--root-dir=" + n.path("kubelet"),
		"--cert-dir=" + n.path("kubelet", "pki"),
		"--hostname-override=" + RealNodeName,
		"--node-ip=" + RealNodeGateway,
		"--node-labels=" + RealNodeLabel + "=true",
		"--v=1",
	})
	if err != nil {
		return err
	}
	n.kubelet = proc
	for {
		if done, err := proc.exited(); done {
			return p.componentError(proc, err)
		}
		node, err := p.client.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err == nil && nodeReady(node) {
			p.opts.Logf("plane: real node %s Ready", RealNodeName)
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return p.componentError(proc, fmt.Errorf("waiting for node %s to be Ready: %w", RealNodeName, err))
		}
	}
}

func (p *Plane) startKubeProxy(ctx context.Context) error {
	n := p.node
	conf := n.path("kube-proxy-config.yaml")
	if err := os.WriteFile(conf, []byte(kubeProxyConfig(p)), 0o644); err != nil {
		return err
	}
	proc, err := p.launchPath("kube-proxy", filepath.Join(n.opts.BinDir, "kube-proxy"), []string{"--config=" + conf, "--v=1"})
	if err != nil {
		return err
	}
	n.proxy = proc
	return p.waitHTTP(ctx, proc, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.ports.proxyHealthz), nil)
}

// stopRealNode stops the node's components and containers and restores
// the host.
func (p *Plane) stopRealNode() {
	n := p.node
	if n == nil {
		return
	}
	for _, proc := range []*process{n.proxy, n.kubelet} {
		if proc != nil {
			proc.stop(5 * time.Second)
		}
	}
	if n.host != nil {
		n.host.killContainers()
	}
	if n.containerd != nil {
		n.containerd.stop(5 * time.Second)
	}
	if n.host != nil {
		if err := n.host.restore(); err != nil {
			p.opts.Logf("plane: restoring the host after the real node: %v", err)
		}
	}
	p.node = nil
}

// RealNodePods lists the pods bound to the real node.
func (p *Plane) RealNodePods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := p.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + RealNodeName})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// HasRealNode reports whether the plane runs a real node.
func (p *Plane) HasRealNode() bool { return p.node != nil }

// launchPath starts a component from an explicit path.
func (p *Plane) launchPath(name, bin string, args []string) (*process, error) {
	p.opts.Logf("plane: starting %s", name)
	proc, err := startProcess(name, bin, args, p.path("logs", name+".log"))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.procs = append(p.procs, proc)
	p.mu.Unlock()
	return proc, nil
}
