package kubeapi

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kubeconfig is the subset of a kubeconfig file that is understood:
// server, CA, client certificates and bearer tokens. Exec and
// auth-provider plugins are not.
type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                string `json:"server"`
			CertificateAuthority  string `json:"certificate-authority"`
			CertificateAuthData   []byte `json:"certificate-authority-data"`
			InsecureSkipTLSVerify bool   `json:"insecure-skip-tls-verify"`
			TLSServerName         string `json:"tls-server-name"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string         `json:"token"`
			TokenFile             string         `json:"tokenFile"`
			ClientCertificate     string         `json:"client-certificate"`
			ClientCertificateData []byte         `json:"client-certificate-data"`
			ClientKey             string         `json:"client-key"`
			ClientKeyData         []byte         `json:"client-key-data"`
			Exec                  map[string]any `json:"exec"`
			AuthProvider          map[string]any `json:"auth-provider"`
		} `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
}

// LoadKubeconfig builds a Config from the current context of a kubeconfig
// file. Relative file names in it are relative to the file's directory.
func LoadKubeconfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	if err := decodeKubeconfig(b, &kc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := kc.build(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Origin = "kubeconfig " + path
	return cfg, nil
}

func (kc *kubeconfig) build(dir string) (*Config, error) {
	if kc.CurrentContext == "" {
		return nil, fmt.Errorf("no current-context")
	}
	ci := -1
	for i, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			ci = i
		}
	}
	if ci < 0 {
		return nil, fmt.Errorf("context %q not found", kc.CurrentContext)
	}
	ctx := kc.Contexts[ci].Context
	cl := -1
	for i, c := range kc.Clusters {
		if c.Name == ctx.Cluster {
			cl = i
		}
	}
	if cl < 0 {
		return nil, fmt.Errorf("cluster %q of context %q not found", ctx.Cluster, kc.CurrentContext)
	}
	cluster := kc.Clusters[cl].Cluster
	if cluster.Server == "" {
		return nil, fmt.Errorf("cluster %q has no server", ctx.Cluster)
	}
	read := func(data []byte, file string) ([]byte, error) {
		if len(data) > 0 || file == "" {
			return data, nil
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		return os.ReadFile(file)
	}
	ca, err := read(cluster.CertificateAuthData, cluster.CertificateAuthority)
	if err != nil {
		return nil, err
	}
	cfg := &Config{Host: cluster.Server}
	var cert, key []byte
	for _, u := range kc.Users {
		if u.Name != ctx.User || ctx.User == "" {
			continue
		}
		if u.User.Exec != nil || u.User.AuthProvider != nil {
			return nil, fmt.Errorf("user %q uses an exec or auth-provider plugin, which peer-finder does not run: use a token or client certificate", u.Name)
		}
		if cert, err = read(u.User.ClientCertificateData, u.User.ClientCertificate); err != nil {
			return nil, err
		}
		if key, err = read(u.User.ClientKeyData, u.User.ClientKey); err != nil {
			return nil, err
		}
		switch {
		case u.User.Token != "":
			tok := u.User.Token
			cfg.Token = func() (string, error) { return tok, nil }
		case u.User.TokenFile != "":
			f := u.User.TokenFile
			if !filepath.IsAbs(f) {
				f = filepath.Join(dir, f)
			}
			cfg.Token = fileToken(f, time.Minute)
		}
	}
	tlsCfg, err := tlsConfig(ca, cert, key, cluster.InsecureSkipTLSVerify, cluster.TLSServerName)
	if err != nil {
		return nil, err
	}
	cfg.TLS = tlsCfg
	return cfg, nil
}

// decodeKubeconfig reads YAML (or JSON, which is YAML) into kc.
func decodeKubeconfig(b []byte, kc *kubeconfig) error {
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		return json.Unmarshal(b, kc)
	}
	v, err := parseYAML(string(b))
	if err != nil {
		return err
	}
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, kc)
}
