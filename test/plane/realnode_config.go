package plane

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cniConfig is the bridge network of the real node: a private subnet with
// the host as gateway, routes only to the pod and Service ranges (no
// default route) and no masquerade, so pods reach each other, the node and
// the plane, and nothing else.
func cniConfig(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "kennel",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": %q,
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": %q}]
    }
  }]
}
`, realBridge, ipamDir, RealNodePodCIDR, RealNodeGateway, serviceCIDR)
}

// containerdConfig keeps every path of containerd under the node's
// directory where containerd allows it. restrict_oom_score_adj: these
// machines lack CAP_SYS_RESOURCE, and without it every sandbox fails with
// runc's "can't get final child's PID from pipe: EOF". No systemd here:
// cgroupfs.
func containerdConfig(n *realNode) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, n.path("containerd", "root"), n.path("containerd", "state"), n.socket(), n.path("containerd", "opt"),
		PauseImage, n.path("containerd", "runc"), cniBinDir, n.path("cni", "net.d"))
}

// kubeletConfig authenticates and authorizes every request through the API
// server (no anonymous access), serves with a certificate from the plane's
// CA on the bridge gateway only, and uses the plane's CoreDNS through the
// gateway.
func kubeletConfig(p *Plane, resolv string) string {
	n := p.node
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
    cacheTTL: 10s
  x509:
    clientCAFile: %[4]q
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 10s
    cacheUnauthorizedTTL: 5s
tlsCertFile: %[5]q
tlsPrivateKeyFile: %[6]q
containerRuntimeEndpoint: unix://%[7]s
imageServiceEndpoint: unix://%[7]s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [%[1]s]
clusterDomain: %[8]s
resolvConf: %[9]q
podLogsDir: %[10]q
volumePluginDir: %[11]q
maxPods: 40
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
evictionPressureTransitionPeriod: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
rotateCertificates: false
serverTLSBootstrap: false
`, RealNodeGateway, p.ports.kubelet, p.ports.kubeletHealthz, p.pki.caCert, p.pki.kubeletCert, p.pki.kubeletKey,
		n.socket(), ClusterDomain, resolv, n.path("pod-logs"), n.path("plugins"))
}

// kubeProxyConfig: iptables mode for the real node's pods. Node ports only
// on the gateway (never loopback, which would set route_localnet
// host-wide); conntrack limits left as the host has them.
func kubeProxyConfig(p *Plane) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %q
hostnameOverride: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
mode: iptables
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
iptables:
  syncPeriod: 10s
  minSyncPeriod: 0s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, p.path("kube-proxy.kubeconfig"), RealNodeName, p.ports.proxyHealthz, p.ports.proxyMetrics, RealNodePodCIDR, RealNodeGateway)
}

// layoutArchive writes a tar of the OCI image layout in dir, with its
// index.json naming the (first) image ref so that `ctr images import` names
// it so, into a temporary file under tmpDir, and returns its path.
func layoutArchive(dir, ref, tmpDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return "", err
	}
	var index map[string]json.RawMessage
	if err := json.Unmarshal(data, &index); err != nil {
		return "", fmt.Errorf("index.json: %w", err)
	}
	var manifests []map[string]any
	if err := json.Unmarshal(index["manifests"], &manifests); err != nil || len(manifests) == 0 {
		return "", errors.New("index.json lists no image")
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	manifests[0]["annotations"] = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": tag,
	}
	raw, err := json.Marshal(manifests[:1])
	if err != nil {
		return "", err
	}
	index["manifests"] = raw
	if data, err = json.Marshal(index); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(tmpDir, "import-*.tar")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := tarLayout(f, dir, data); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// tarLayout writes the regular files of the layout in dir to w, with index
// replacing index.json.
func tarLayout(w io.Writer, dir string, index []byte) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel == "index.json" {
			return writeTarFile(tw, rel, index)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return writeTarFile(tw, rel, data)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(name), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
