// Package plane starts and stops a local Kubernetes control plane on
// 127.0.0.1 for kennel's tests, benchmarks and demo: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok (simulated nodes and pod
// lifecycles) and CoreDNS (cluster DNS for cluster.local).
//
// Every component is a child process in its own process group, logging to
// a file in the plane's data directory. Several planes can run side by side:
// each has its own directory and free ports.
package plane

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Addresses used inside the simulated cluster. They are data in API
// objects only: nothing ever connects to them.
const (
	serviceCIDR = "10.0.0.0/24"
	serviceIP   = "10.0.0.1"
	// ClusterDomain is the DNS domain CoreDNS serves.
	ClusterDomain = "cluster.local"
	// StorageClassName is the default StorageClass (hostpath provisioner).
	StorageClassName = "standard"
	// NodeAnnotation marks the nodes kwok simulates.
	NodeAnnotation = "kwok.x-k8s.io/node"
)

// Pod annotations understood by the simulated pod lifecycle (see
// stages/pod.yaml).
const (
	// AnnotationHoldReady set to "true" keeps a running pod NotReady, and
	// makes a Ready pod NotReady. Removing it lets the pod become Ready.
	AnnotationHoldReady = "kennel.dev/hold-ready"
	// AnnotationFail set to "true" makes the pod's containers exit 1
	// (phase Failed).
	AnnotationFail = "kennel.dev/fail"
	// AnnotationDeleteDelay delays the removal of a terminating pod, as a
	// Go duration ("5s"); default: removed at once.
	AnnotationDeleteDelay = "kennel.dev/delete-delay"
)

//go:embed stages/*.yaml
var stages embed.FS

// Binaries are the executables a plane needs, looked up in Options.BinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "coredns", "kubectl"}

// Options configure Start.
type Options struct {
	// BinDir holds the binaries (hack/plane-binaries.sh prints it). Empty:
	// the KENNEL_PLANE_BIN environment variable.
	BinDir string
	// DataDir holds certificates, etcd data, configs and logs. Empty: a new
	// temporary directory, removed by Stop unless KeepData is set.
	DataDir string
	// KeepData keeps a temporary DataDir after Stop.
	KeepData bool
	// Nodes is the number of simulated nodes (default 3).
	Nodes int
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
	// ReadyTimeout bounds the whole start (default 2 minutes).
	ReadyTimeout time.Duration
	// RealNode, if set, adds a real node (kubelet, containerd, bridge CNI,
	// kube-proxy) beside the simulated ones. Linux and root only; one per
	// machine at a time.
	RealNode *RealNodeOptions
	// ExtraArgs are appended to a component's arguments, by component name
	// ("kube-apiserver": audit logging flags, for instance).
	ExtraArgs map[string][]string
	// StatefulSetApart runs the StatefulSet controller in a
	// kube-controller-manager of its own (named StatefulSetProcess in Pids
	// and LogPath) and every other controller in the plane's, so the
	// StatefulSet controller's CPU and memory can be read alone.
	StatefulSetApart bool
}

// StatefulSetProcess names the kube-controller-manager that runs only the
// StatefulSet controller (Options.StatefulSetApart).
const StatefulSetProcess = "statefulset-controller"

// Plane is a running control plane.
type Plane struct {
	opts    Options
	dir     string
	tempDir bool
	pki     *pki
	ports   ports

	kubeconfig string
	rest       *rest.Config
	client     kubernetes.Interface

	// components launched by one step and waited for by a later one
	cm, sched, kwok, dns *process
	sts                  *process  // nil without Options.StatefulSetApart
	node                 *realNode // nil without Options.RealNode

	mu       sync.Mutex
	procs    []*process // in start order
	stopOnce sync.Once
}

type ports struct {
	etcdClient, etcdPeer int
	apiserver            int
	controllerManager    int
	statefulSet          int // Options.StatefulSetApart's controller manager
	scheduler            int
	dns                  int
	dnsHealth, dnsReady  int
	// the real node's (picked always, used only with Options.RealNode)
	kubelet, kubeletHealthz, proxyHealthz, proxyMetrics int
}

// BinDirFromEnv returns the binary directory from KENNEL_PLANE_BIN, and
// whether every binary is there.
func BinDirFromEnv() (string, error) {
	dir := os.Getenv("KENNEL_PLANE_BIN")
	if dir == "" {
		return "", errors.New("KENNEL_PLANE_BIN is not set; run `export KENNEL_PLANE_BIN=$(hack/plane-binaries.sh)`")
	}
	return dir, CheckBinaries(dir)
}

// CheckBinaries reports which binaries are missing from dir.
func CheckBinaries(dir string) error {
	var missing []string
	for _, b := range Binaries {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("plane binaries missing in %s: %s (build them with hack/plane-binaries.sh)", dir, strings.Join(missing, ", "))
	}
	return nil
}

// Start starts a plane and waits until it is ready: API server ready, all
// nodes Ready, the default ServiceAccount present and CoreDNS serving. On
// failure every started process is stopped and the error carries the tail
// of the failing component's log.
func Start(ctx context.Context, opts Options) (*Plane, error) {
	if opts.BinDir == "" {
		opts.BinDir = os.Getenv("KENNEL_PLANE_BIN")
	}
	if opts.BinDir == "" {
		return nil, errors.New("plane: no BinDir and KENNEL_PLANE_BIN is not set; run hack/plane-binaries.sh")
	}
	if err := CheckBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	p := &Plane{opts: opts, dir: opts.DataDir}
	if p.dir == "" {
		d, err := os.MkdirTemp("", "kennel-plane-")
		if err != nil {
			return nil, err
		}
		p.dir, p.tempDir = d, true
	}
	abs, err := filepath.Abs(p.dir)
	if err != nil {
		return nil, err
	}
	p.dir = abs
	for _, sub := range []string{"logs", "etcd", "kwok", "coredns", "flex", "certs"} {
		if err := os.MkdirAll(filepath.Join(p.dir, sub), 0o755); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := p.start(ctx)
		if err == nil {
			break
		}
		p.stopAll()
		// Ports are free when picked but are only taken when the components
		// bind them; another process (another plane) may take one meanwhile.
		if attempt < 3 && ctx.Err() == nil && strings.Contains(err.Error(), "address already in use") {
			p.opts.Logf("plane: a port was taken before a component could bind it; retrying with new ports")
			if err := p.reset(); err != nil {
				p.cleanup()
				return nil, err
			}
			continue
		}
		p.cleanup()
		if errors.Is(ctx.Err(), context.Canceled) {
			p.opts.Logf("plane: start canceled after %s; stopped", time.Since(start).Round(time.Millisecond))
			return nil, fmt.Errorf("plane start canceled: %w", ctx.Err())
		}
		p.opts.Logf("plane: start failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return nil, err
	}
	p.opts.Logf("plane: ready in %s (data %s)", time.Since(start).Round(time.Millisecond), p.dir)
	return p, nil
}

// reset forgets stopped components and clears etcd's data and the logs
// before another start attempt.
func (p *Plane) reset() error {
	p.mu.Lock()
	p.procs = nil
	p.mu.Unlock()
	for _, sub := range []string{"etcd", "logs"} {
		if err := os.RemoveAll(p.path(sub)); err != nil {
			return err
		}
		if err := os.MkdirAll(p.path(sub), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plane) bin(name string) string { return filepath.Join(p.opts.BinDir, name) }
func (p *Plane) path(elem ...string) string {
	return filepath.Join(append([]string{p.dir}, elem...)...)
}

// step is one action of a plane's start, in the manner of kind's cluster
// creation actions: steps run in order and the first error ends the start.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// steps lists the start of a plane. Components that need only the API
// server are launched together and waited for afterwards.
func (p *Plane) steps() []step {
	s := []step{
		{"certificates", p.writeCertificates},
		{"etcd", p.startEtcd},
		{"kube-apiserver", p.startAPIServer},
		{"kube-controller-manager", p.startControllerManager},
		{"kube-scheduler", p.startScheduler},
		{"kwok", p.startKwok},
		{"coredns", p.startCoreDNS},
		{"nodes", p.createNodes},
		{"storage class", p.createStorageClass},
		{"components ready", p.waitComponents},
	}
	if p.opts.RealNode != nil {
		s = append(s, p.realNodeSteps()...)
	}
	return s
}

func (p *Plane) start(ctx context.Context) error {
	for _, st := range p.steps() {
		if err := st.run(ctx); err != nil {
			if strings.HasPrefix(err.Error(), st.name) {
				return err
			}
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return nil
}

func (p *Plane) writeCertificates(context.Context) error {
	var err error
	if p.ports, err = pickPorts(); err != nil {
		return err
	}
	if p.pki, err = writePKI(p.path("pki"), time.Now()); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	return p.writeKubeconfigs()
}

func (p *Plane) etcdURL() string { return fmt.Sprintf("http://127.0.0.1:%d", p.ports.etcdClient) }

func (p *Plane) startEtcd(ctx context.Context) error {
	etcdURL := p.etcdURL()
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", p.ports.etcdPeer)
	etcd, err := p.launch("etcd", []string{
		"--name=plane",
		"--data-dir=" + p.path("etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=plane=" + peerURL,
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=2147483648",
		"--log-level=warn",
	})
	if err != nil {
		return err
	}
	return p.waitHTTP(ctx, etcd, etcdURL+"/health", nil)
}

func (p *Plane) startAPIServer(ctx context.Context) error {
	args := []string{
		"--etcd-servers=" + p.etcdURL(),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.ports.apiserver),
		"--cert-dir=" + p.path("certs", "apiserver"),
		"--tls-cert-file=" + p.pki.apiserverCert,
		"--tls-private-key-file=" + p.pki.apiserverKey,
		"--client-ca-file=" + p.pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc." + ClusterDomain,
		"--service-account-key-file=" + p.pki.saPub,
		"--service-account-signing-key-file=" + p.pki.saKey,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		// The API server's own address is 127.0.0.1, which Endpoints reject.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--requestheader-client-ca-file=" + p.pki.frontProxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.pki.frontProxyCert,
		"--proxy-client-key-file=" + p.pki.frontProxyKey,
		"--profiling=false",
		"--event-ttl=1h",
	}
	if p.opts.RealNode != nil {
		args = append(args, p.apiserverRealNodeArgs()...)
	}
	api, err := p.launch("kube-apiserver", args)
	if err != nil {
		return err
	}
	adminTLS, err := rest.TLSConfigFor(p.rest)
	if err != nil {
		return err
	}
	if err := p.waitHTTP(ctx, api, p.apiURL()+"/readyz", adminTLS); err != nil {
		return err
	}
	p.client, err = kubernetes.NewForConfig(p.rest)
	return err
}

// startControllerManager launches kube-controller-manager and, with
// Options.StatefulSetApart, a second one that runs only the StatefulSet
// controller.
func (p *Plane) startControllerManager(context.Context) error {
	const sts = "statefulset-controller" // the controller's name in --controllers
	args := p.controllerManagerArgs("controller-manager", p.ports.controllerManager)
	if p.opts.StatefulSetApart {
		args = append(args, "--controllers=*,-"+sts)
	}
	var err error
	if p.cm, err = p.launch("kube-controller-manager", args); err != nil || !p.opts.StatefulSetApart {
		return err
	}
	args = append(p.controllerManagerArgs(StatefulSetProcess, p.ports.statefulSet), "--controllers="+sts)
	p.sts, err = p.launchBinary(StatefulSetProcess, "kube-controller-manager", args)
	return err
}

// controllerManagerArgs are a kube-controller-manager's flags; certDir
// names its serving certificates' directory.
func (p *Plane) controllerManagerArgs(certDir string, port int) []string {
	return []string{
		"--kubeconfig=" + p.path("controller-manager.kubeconfig"),
		"--authentication-kubeconfig=" + p.path("controller-manager.kubeconfig"),
		"--authorization-kubeconfig=" + p.path("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + p.path("certs", certDir),
		"--leader-elect=false",
		"--service-account-private-key-file=" + p.pki.saKey,
		"--root-ca-file=" + p.pki.caCert,
		"--use-service-account-credentials=true",
		"--enable-hostpath-provisioner=true",
		"--pvclaimbinder-sync-period=1s",
		"--flex-volume-plugin-dir=" + p.path("flex"),
		"--kube-api-qps=100",
		"--kube-api-burst=200",
		"--profiling=false",
	}
}

func (p *Plane) startScheduler(context.Context) error {
	var err error
	p.sched, err = p.launch("kube-scheduler", []string{
		"--kubeconfig=" + p.path("scheduler.kubeconfig"),
		"--authentication-kubeconfig=" + p.path("scheduler.kubeconfig"),
		"--authorization-kubeconfig=" + p.path("scheduler.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.ports.scheduler),
		"--cert-dir=" + p.path("certs", "scheduler"),
		"--leader-elect=false",
		"--profiling=false",
	})
	return err
}

func (p *Plane) startKwok(context.Context) error {
	kwokConfig, err := p.writeKwokConfig()
	if err != nil {
		return err
	}
	p.kwok, err = p.launch("kwok", []string{
		"--kubeconfig=" + p.path("kwok.kubeconfig"),
		"--config=" + kwokConfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + NodeAnnotation + "=fake",
		"--node-ip=127.0.0.1",
		"--node-lease-duration-seconds=40",
	})
	return err
}

func (p *Plane) startCoreDNS(context.Context) error {
	corefile, err := p.writeCorefile()
	if err != nil {
		return err
	}
	p.dns, err = p.launch("coredns", []string{"-conf", corefile})
	return err
}

// waitComponents waits for the components launched without waiting: the
// controller manager and scheduler healthy, CoreDNS ready, the simulated
// nodes Ready and the default ServiceAccount created.
func (p *Plane) waitComponents(ctx context.Context) error {
	if err := p.waitHTTP(ctx, p.cm, fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.controllerManager), insecureTLS()); err != nil {
		return err
	}
	if err := p.waitHTTP(ctx, p.sched, fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.scheduler), insecureTLS()); err != nil {
		return err
	}
	if p.sts != nil {
		if err := p.waitHTTP(ctx, p.sts, fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.statefulSet), insecureTLS()); err != nil {
			return err
		}
	}
	if err := p.waitHTTP(ctx, p.dns, fmt.Sprintf("http://127.0.0.1:%d/ready", p.ports.dnsReady), nil); err != nil {
		return err
	}
	if err := p.waitNodesReady(ctx, p.kwok); err != nil {
		return err
	}
	return p.waitDefaultServiceAccount(ctx, p.cm)
}

// launch starts one component and records it for Stop.
func (p *Plane) launch(name string, args []string) (*process, error) {
	return p.launchBinary(name, name, args)
}

// launchBinary starts a component named name from the binary bin.
func (p *Plane) launchBinary(name, bin string, args []string) (*process, error) {
	p.opts.Logf("plane: starting %s", name)
	args = append(args, p.opts.ExtraArgs[name]...)
	proc, err := startProcess(name, p.bin(bin), args, p.path("logs", name+".log"))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.procs = append(p.procs, proc)
	p.mu.Unlock()
	return proc, nil
}

func (p *Plane) apiURL() string { return fmt.Sprintf("https://127.0.0.1:%d", p.ports.apiserver) }

// insecureTLS is for the health endpoints of the controller manager and
// the scheduler, which serve self-signed certificates on 127.0.0.1.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // loopback health check
}

// waitHTTP polls url until it answers 200, the process exits, or ctx ends.
func (p *Plane) waitHTTP(ctx context.Context, proc *process, url string, tlsConfig *tls.Config) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	var last string
	for {
		if done, err := proc.exited(); done {
			return p.componentError(proc, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.opts.Logf("plane: %s ready", proc.name)
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return p.componentError(proc, fmt.Errorf("waiting for %s: %w (last: %s)", url, err, last))
		}
	}
}

func (p *Plane) componentError(proc *process, err error) error {
	return fmt.Errorf("%s: %w\n--- last lines of %s ---\n%s", proc.name, err, proc.logPath, proc.tail(40))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pickPorts chooses a start attempt's ports (replaced in tests).
var pickPorts = freePorts

// freePorts picks distinct free ports on 127.0.0.1 (the DNS port free for
// both TCP and UDP). Listeners stay open until all are chosen.
func freePorts() (ports, error) {
	var ls []io.Closer
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	pick := func(udp bool) (int, error) {
		for range 50 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port := l.Addr().(*net.TCPAddr).Port
			if udp {
				u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					l.Close()
					continue
				}
				ls = append(ls, u)
			}
			ls = append(ls, l)
			return port, nil
		}
		return 0, errors.New("no free port on 127.0.0.1")
	}
	var pt ports
	var err error
	for _, f := range []struct {
		dst *int
		udp bool
	}{
		{&pt.etcdClient, false}, {&pt.etcdPeer, false}, {&pt.apiserver, false},
		{&pt.controllerManager, false}, {&pt.statefulSet, false}, {&pt.scheduler, false},
		{&pt.dns, true}, {&pt.dnsHealth, false}, {&pt.dnsReady, false},
		{&pt.kubelet, false}, {&pt.kubeletHealthz, false}, {&pt.proxyHealthz, false}, {&pt.proxyMetrics, false},
	} {
		if *f.dst, err = pick(f.udp); err != nil {
			return pt, err
		}
	}
	return pt, nil
}

// writeKubeconfigs writes the admin kubeconfig and one per component, each
// with its own client certificate, and builds the admin REST config.
func (p *Plane) writeKubeconfigs() error {
	ca, err := os.ReadFile(p.pki.caCert)
	if err != nil {
		return err
	}
	for file, user := range map[string]string{
		"kubeconfig":                    userAdmin,
		"controller-manager.kubeconfig": userController,
		"scheduler.kubeconfig":          userScheduler,
		"kwok.kubeconfig":               userKwok,
		"coredns.kubeconfig":            userCoreDNS,
		"kubelet.kubeconfig":            userKubelet,
		"kube-proxy.kubeconfig":         userKubeProxy,
	} {
		c := p.pki.clients[user]
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["kennel-plane"] = &clientcmdapi.Cluster{Server: p.apiURL(), CertificateAuthorityData: ca}
		cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: c.cert, ClientKeyData: c.key}
		cfg.Contexts["kennel-plane"] = &clientcmdapi.Context{Cluster: "kennel-plane", AuthInfo: user, Namespace: "default"}
		cfg.CurrentContext = "kennel-plane"
		if err := clientcmd.WriteToFile(*cfg, p.path(file)); err != nil {
			return err
		}
	}
	p.kubeconfig = p.path("kubeconfig")
	admin := p.pki.clients[userAdmin]
	p.rest = &rest.Config{
		Host:            p.apiURL(),
		TLSClientConfig: rest.TLSClientConfig{CAData: ca, CertData: admin.cert, KeyData: admin.key},
		QPS:             100,
		Burst:           200,
	}
	return nil
}

// writeKwokConfig writes kwok's configuration: the embedded stages.
func (p *Plane) writeKwokConfig() (string, error) {
	// Options come from flags: kwok defaults its options only when the
	// configuration has no KwokConfiguration document.
	var b strings.Builder
	for i, name := range []string{"stages/node.yaml", "stages/pod.yaml"} {
		data, err := stages.ReadFile(name)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	path := p.path("kwok", "kwok.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeCorefile writes CoreDNS's configuration: the kubernetes plugin for
// the cluster domain, no cache, a TTL of 1 second, on 127.0.0.1 only.
func (p *Plane) writeCorefile() (string, error) {
	corefile := fmt.Sprintf(`%[1]s:%[2]d {
    bind 127.0.0.1
    errors
    log
    health 127.0.0.1:%[3]d
    ready 127.0.0.1:%[4]d
    kubernetes %[1]s {
        kubeconfig %[5]s
        ttl 1
    }
}
`, ClusterDomain, p.ports.dns, p.ports.dnsHealth, p.ports.dnsReady, p.path("coredns.kubeconfig"))
	path := p.path("coredns", "Corefile")
	return path, os.WriteFile(path, []byte(corefile), 0o644)
}

// NodeName returns the name of simulated node i.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

func (p *Plane) createNodes(ctx context.Context) error {
	for i := range p.opts.Nodes {
		if err := p.createNode(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// createNode creates simulated node i (pod CIDR 10.244.<i>.0/24) unless it
// exists.
func (p *Plane) createNode(ctx context.Context, i int) error {
	if i < 0 || i > 255 {
		return fmt.Errorf("node index %d out of range [0, 255]", i)
	}
	cidr := fmt.Sprintf("10.244.%d.0/24", i)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName(i),
			Annotations: map[string]string{NodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName(i),
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
	}
	if _, err := p.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", node.Name, err)
	}
	return nil
}

// AddNode adds simulated node i (named NodeName(i), like the plane's own
// nodes 0..Nodes-1) if it does not exist, and waits until it is Ready.
func (p *Plane) AddNode(ctx context.Context, i int) error {
	if err := p.createNode(ctx, i); err != nil {
		return err
	}
	for {
		n, err := p.client.CoreV1().Nodes().Get(ctx, NodeName(i), metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for node %s to be Ready: %w", NodeName(i), err)
		}
	}
}

func (p *Plane) createStorageClass(ctx context.Context) error {
	bindImmediate := storagev1.VolumeBindingImmediate
	expand := true
	del := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:          "kubernetes.io/host-path",
		ReclaimPolicy:        &del,
		VolumeBindingMode:    &bindImmediate,
		AllowVolumeExpansion: &expand,
	}
	_, err := p.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class: %w", err)
	}
	return nil
}

func (p *Plane) waitNodesReady(ctx context.Context, kwok *process) error {
	for {
		if done, err := kwok.exited(); done {
			return p.componentError(kwok, err)
		}
		nodes, err := p.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			for _, n := range nodes.Items {
				if nodeReady(&n) {
					ready++
				}
			}
			if ready >= p.opts.Nodes {
				p.opts.Logf("plane: %d nodes Ready", ready)
				return nil
			}
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return p.componentError(kwok, fmt.Errorf("waiting for %d Ready nodes (%d ready): %w", p.opts.Nodes, ready, err))
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (p *Plane) waitDefaultServiceAccount(ctx context.Context, cm *process) error {
	for {
		if done, err := cm.exited(); done {
			return p.componentError(cm, err)
		}
		_, err := p.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return p.componentError(cm, fmt.Errorf("waiting for the default ServiceAccount: %w", err))
		}
	}
}

// Kubeconfig returns the path of the admin kubeconfig.
func (p *Plane) Kubeconfig() string { return p.kubeconfig }

// RESTConfig returns a copy of the admin REST config.
func (p *Plane) RESTConfig() *rest.Config { return rest.CopyConfig(p.rest) }

// Client returns an admin clientset.
func (p *Plane) Client() kubernetes.Interface { return p.client }

// DNSAddr returns host:port of CoreDNS (UDP and TCP).
func (p *Plane) DNSAddr() string { return fmt.Sprintf("127.0.0.1:%d", p.ports.dns) }

// APIServerURL returns the API server's URL.
func (p *Plane) APIServerURL() string { return p.apiURL() }

// Dir returns the plane's data directory.
func (p *Plane) Dir() string { return p.dir }

// BinDir returns the directory of the plane's binaries (kubectl among them).
func (p *Plane) BinDir() string { return p.opts.BinDir }

// LogPath returns the log file of a component ("kube-apiserver", ...).
func (p *Plane) LogPath(component string) string { return p.path("logs", component+".log") }

// Pids returns the process ids of the running components by name.
func (p *Plane) Pids() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, proc := range p.procs {
		if done, _ := proc.exited(); !done {
			out[proc.name] = proc.cmd.Process.Pid
		}
	}
	return out
}

// Err reports the first component that has exited, if any.
func (p *Plane) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, proc := range p.procs {
		if done, err := proc.exited(); done {
			return p.componentError(proc, err)
		}
	}
	return nil
}

// Stop stops every component (SIGTERM, then SIGKILL after a few seconds)
// and removes a temporary data directory. It is safe to call more than once.
func (p *Plane) Stop() {
	p.stopOnce.Do(func() {
		start := time.Now()
		volumes := p.hostPathVolumes()
		p.stopAll()
		for _, dir := range volumes {
			if err := os.RemoveAll(dir); err != nil {
				p.opts.Logf("plane: remove volume %s: %v", dir, err)
			}
		}
		p.cleanup()
		p.opts.Logf("plane: stopped in %s", time.Since(start).Round(time.Millisecond))
	})
}

// HostPathDir is where the controller manager's hostpath provisioner creates
// volume directories (fixed in Kubernetes).
const HostPathDir = "/tmp/hostpath_pv"

// hostPathVolumes lists the directories of the plane's provisioned volumes,
// which Stop removes: the plane is gone, so nothing can use them again.
func (p *Plane) hostPathVolumes() []string {
	if p.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pvs, err := p.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		p.opts.Logf("plane: list volumes to remove: %v", err)
		return nil
	}
	var dirs []string
	for _, pv := range pvs.Items {
		if hp := pv.Spec.HostPath; hp != nil && filepath.Dir(filepath.Clean(hp.Path)) == HostPathDir {
			dirs = append(dirs, filepath.Clean(hp.Path))
		}
	}
	return dirs
}

// stopAll stops the components in reverse order of dependency: everything
// but etcd at once, then etcd.
func (p *Plane) stopAll() {
	// The real node first: its kubelet needs the API server to the end, and
	// the host is restored only once its containers are gone.
	p.stopRealNode()
	p.mu.Lock()
	procs := append([]*process(nil), p.procs...)
	p.mu.Unlock()
	var wg sync.WaitGroup
	var etcd *process
	for _, proc := range procs {
		if proc.name == "etcd" {
			etcd = proc
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			proc.stop(5 * time.Second)
		}()
	}
	wg.Wait()
	if etcd != nil {
		etcd.stop(5 * time.Second)
	}
}

func (p *Plane) cleanup() {
	if p.tempDir && !p.opts.KeepData {
		if err := os.RemoveAll(p.dir); err != nil {
			p.opts.Logf("plane: remove %s: %v", p.dir, err)
		}
	}
}
