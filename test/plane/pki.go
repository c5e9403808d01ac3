package plane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// authority is a self-signed certificate authority that lives as long as
// one plane.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certSpec describes one leaf certificate.
type certSpec struct {
	commonName string
	orgs       []string
	dnsNames   []string
	ips        []net.IP
	server     bool
	client     bool
}

func newKey() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

func newAuthority(name string, now time.Time) (*authority, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// issue signs a new leaf certificate and returns it and its key in PEM.
func (a *authority) issue(spec certSpec, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
	}
	if spec.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", spec.commonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func (a *authority) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// pki holds the paths of every certificate and key a plane uses.
type pki struct {
	dir string

	caCert         string // cluster CA: serving certs and client certs
	frontProxyCA   string // request-header CA for aggregated authentication
	apiserverCert  string
	apiserverKey   string
	frontProxyCert string
	frontProxyKey  string
	saKey          string // service-account signing key (private)
	saPub          string // service-account verification key (public)
	kubeletCert    string // the real node kubelet's serving certificate
	kubeletKey     string
	kubeletClient  string // the API server's client certificate to kubelets
	kubeletClientK string

	// client certificates by user, as cert/key PEM (kept in memory for
	// kubeconfigs, which embed them).
	clients map[string]clientCert
}

type clientCert struct {
	cert, key []byte
}

// Client users of a plane, one per component plus the admin.
const (
	userAdmin      = "kennel-admin"
	userController = "system:kube-controller-manager"
	userScheduler  = "system:kube-scheduler"
	userKwok       = "kwok"
	userCoreDNS    = "coredns"
	userKubelet    = "system:node:" + RealNodeName
	userKubeProxy  = "system:kube-proxy"
)

// writePKI creates the authorities, certificates and service-account key
// for one plane under dir.
func writePKI(dir string, now time.Time) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{
		dir:            dir,
		caCert:         filepath.Join(dir, "ca.crt"),
		frontProxyCA:   filepath.Join(dir, "front-proxy-ca.crt"),
		apiserverCert:  filepath.Join(dir, "apiserver.crt"),
		apiserverKey:   filepath.Join(dir, "apiserver.key"),
		frontProxyCert: filepath.Join(dir, "front-proxy-client.crt"),
		frontProxyKey:  filepath.Join(dir, "front-proxy-client.key"),
		saKey:          filepath.Join(dir, "sa.key"),
		saPub:          filepath.Join(dir, "sa.pub"),
		kubeletCert:    filepath.Join(dir, "kubelet.crt"),
		kubeletKey:     filepath.Join(dir, "kubelet.key"),
		kubeletClient:  filepath.Join(dir, "apiserver-kubelet-client.crt"),
		kubeletClientK: filepath.Join(dir, "apiserver-kubelet-client.key"),
		clients:        map[string]clientCert{},
	}
	ca, err := newAuthority("kennel-plane-ca", now)
	if err != nil {
		return nil, err
	}
	fpca, err := newAuthority("kennel-plane-front-proxy-ca", now)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		p.caCert:       ca.certPEM(),
		p.frontProxyCA: fpca.certPEM(),
	}

	crt, key, err := ca.issue(certSpec{
		commonName: "kube-apiserver",
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips:    []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP(serviceIP)},
		server: true,
	}, now)
	if err != nil {
		return nil, err
	}
	files[p.apiserverCert], files[p.apiserverKey] = crt, key

	// The real node's kubelet serves on the bridge gateway; the API server
	// authenticates to it with its own client certificate (the kubelet
	// authorizes it through a SubjectAccessReview).
	crt, key, err = ca.issue(certSpec{
		commonName: RealNodeName,
		dnsNames:   []string{RealNodeName},
		ips:        []net.IP{net.ParseIP(RealNodeGateway), net.IPv4(127, 0, 0, 1)},
		server:     true,
	}, now)
	if err != nil {
		return nil, err
	}
	files[p.kubeletCert], files[p.kubeletKey] = crt, key
	crt, key, err = ca.issue(certSpec{commonName: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true}, now)
	if err != nil {
		return nil, err
	}
	files[p.kubeletClient], files[p.kubeletClientK] = crt, key

	crt, key, err = fpca.issue(certSpec{commonName: "front-proxy-client", client: true}, now)
	if err != nil {
		return nil, err
	}
	files[p.frontProxyCert], files[p.frontProxyKey] = crt, key

	users := []struct {
		name string
		orgs []string
	}{
		{userAdmin, []string{"system:masters"}},
		{userController, nil},
		{userScheduler, nil},
		{userKwok, []string{"system:masters"}},
		{userCoreDNS, []string{"system:masters"}},
		{userKubelet, []string{"system:nodes"}},
		{userKubeProxy, nil},
	}
	for _, u := range users {
		crt, key, err := ca.issue(certSpec{commonName: u.name, orgs: u.orgs, client: true}, now)
		if err != nil {
			return nil, err
		}
		p.clients[u.name] = clientCert{cert: crt, key: key}
	}

	// Service-account tokens are signed with RSA, which every consumer of
	// the token issuer's keys accepts.
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPriv, err := encodeKey(sa)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	files[p.saKey] = saPriv
	files[p.saPub] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}
