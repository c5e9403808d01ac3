package plane

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestWritePKI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := writePKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	ca, err := os.ReadFile(p.caCert)
	if err != nil {
		t.Fatal(err)
	}
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("CA is not PEM")
	}

	// The serving certificate verifies for 127.0.0.1 and the in-cluster names.
	pair, err := tls.LoadX509KeyPair(p.apiserverCert, p.apiserverKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc", serviceIP} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving cert for %s: %v", host, err)
		}
	}

	tests := []struct {
		user    string
		wantOrg string
	}{
		{userAdmin, "system:masters"},
		{userController, ""},
		{userScheduler, ""},
		{userKwok, "system:masters"},
		{userCoreDNS, "system:masters"},
		{userKubelet, "system:nodes"},
		{userKubeProxy, ""},
	}
	for _, tt := range tests {
		c, ok := p.clients[tt.user]
		if !ok {
			t.Errorf("no client certificate for %s", tt.user)
			continue
		}
		pair, err := tls.X509KeyPair(c.cert, c.key)
		if err != nil {
			t.Fatalf("%s: %v", tt.user, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Subject.CommonName != tt.user {
			t.Errorf("CN %q, want %q", leaf.Subject.CommonName, tt.user)
		}
		gotOrg := strings.Join(leaf.Subject.Organization, ",")
		if gotOrg != tt.wantOrg {
			t.Errorf("%s: organization %q, want %q", tt.user, gotOrg, tt.wantOrg)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s client cert: %v", tt.user, err)
		}
	}

	// The service-account key pair matches.
	priv, err := os.ReadFile(p.saKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(p.saPub)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(priv)
	pb, _ := pem.Decode(pub)
	if kb == nil || pb == nil {
		t.Fatal("service-account keys are not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKIXPublicKey(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("service-account key %T is not a signer", key)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(pk) {
		t.Error("service-account public key does not match the private key")
	}
	for _, f := range []string{p.saKey, p.apiserverKey} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", filepath.Base(f), st.Mode().Perm())
		}
	}
}

func TestFreePortsDistinctAndFree(t *testing.T) {
	t.Parallel()
	pt, err := freePorts()
	if err != nil {
		t.Fatal(err)
	}
	all := []int{pt.etcdClient, pt.etcdPeer, pt.apiserver, pt.controllerManager, pt.statefulSet, pt.scheduler, pt.dns, pt.dnsHealth, pt.dnsReady}
	seen := map[int]bool{}
	for _, p := range all {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: not distinct and positive", all)
		}
		seen[p] = true
	}
	// All were released: the DNS port can be bound for TCP and UDP.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pt.dns)))
	if err != nil {
		t.Fatalf("dns port not free for TCP: %v", err)
	}
	l.Close()
	u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pt.dns)))
	if err != nil {
		t.Fatalf("dns port not free for UDP: %v", err)
	}
	u.Close()
}

// The embedded stages are valid YAML documents of kind Stage with the
// names the docs and tests rely on.
func TestStagesParse(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"stages/node.yaml": {"node-initialize", "node-heartbeat"},
		"stages/pod.yaml":  {"pod-create", "pod-start", "pod-ready", "pod-unready", "pod-fail", "pod-delete"},
	}
	for file, names := range want {
		data, err := stages.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var obj struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					ResourceRef struct {
						Kind string `json:"kind"`
					} `json:"resourceRef"`
					Next map[string]any `json:"next"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if obj.APIVersion != "kwok.x-k8s.io/v1alpha1" || obj.Kind != "Stage" || len(obj.Spec.Next) == 0 {
				t.Errorf("%s: document %q is not a kwok Stage with a next step", file, obj.Metadata.Name)
			}
			got = append(got, obj.Metadata.Name)
		}
		if strings.Join(got, ",") != strings.Join(names, ",") {
			t.Errorf("%s: stages %v, want %v", file, got, names)
		}
	}
}

func TestTailFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 100 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want string
	}{
		{1, "line 99"},
		{3, "line 97\nline 98\nline 99"},
	}
	for _, tt := range tests {
		if got := tailFile(path, tt.n); got != tt.want {
			t.Errorf("tail %d = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 3); !strings.HasPrefix(got, "(no log") {
		t.Errorf("tail of missing file = %q", got)
	}
}
