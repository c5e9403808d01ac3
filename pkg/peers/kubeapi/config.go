package kubeapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Config is how to reach and authenticate to an API server.
type Config struct {
	// Host is the server's base URL, e.g. https://10.96.0.1:443.
	Host string
	// TLS is the configuration of https connections (CA, client
	// certificate).
	TLS *tls.Config
	// Token returns the bearer token of each request; nil or "" for none.
	Token func() (string, error)
	// UserAgent is sent with each request.
	UserAgent string
	// Origin says where the configuration came from, for messages.
	Origin string
}

// ServiceAccountDir is where the kubelet mounts a pod's service account.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNotInCluster means the in-cluster configuration is not available.
var ErrNotInCluster = errors.New("not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")

// InCluster builds the configuration of a pod: the API server from
// KUBERNETES_SERVICE_HOST/PORT, the service account's CA and token from
// dir (ServiceAccountDir in a pod). The token file is re-read every minute,
// as the kubelet rotates it.
func InCluster(getenv func(string) string, dir string) (*Config, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, ErrNotInCluster
	}
	tokenFile := filepath.Join(dir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("no service account token: %w (automountServiceAccountToken: false?)", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("service account CA: %w", err)
	}
	tlsCfg, err := tlsConfig(ca, nil, nil, false, "")
	if err != nil {
		return nil, err
	}
	return &Config{
		Host:   "https://" + net.JoinHostPort(host, port),
		TLS:    tlsCfg,
		Token:  fileToken(tokenFile, time.Minute),
		Origin: "in-cluster service account",
	}, nil
}

// fileToken reads a token file, again at most every refresh.
func fileToken(path string, refresh time.Duration) func() (string, error) {
	var (
		mu   sync.Mutex
		tok  string
		read time.Time
	)
	return func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if tok != "" && time.Since(read) < refresh {
			return tok, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if tok != "" {
				return tok, nil // keep the last one
			}
			return "", fmt.Errorf("reading token: %w", err)
		}
		tok, read = strings.TrimSpace(string(b)), time.Now()
		return tok, nil
	}
}

func tlsConfig(caPEM, certPEM, keyPEM []byte, insecure bool, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure, ServerName: serverName} //nolint:gosec // only when the kubeconfig says so
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("no certificate found in the certificate authority data")
		}
		c.RootCAs = pool
	}
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
