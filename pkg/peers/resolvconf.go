package peers

import (
	"bufio"
	"io"
	"net"
	"strings"
)

// DefaultDomain is the cluster domain used when none is given and none can be
// derived from the resolver configuration.
const DefaultDomain = "cluster.local"

// ResolvConf is the part of a resolv.conf(5) file that peer-finder uses.
type ResolvConf struct {
	// Nameservers are "host:port" addresses, in file order (port 53).
	Nameservers []string
	// Search is the last "search" (or "domain") line's list, lower-cased,
	// without trailing dots.
	Search []string
}

// ParseResolvConf reads a resolv.conf(5) file. Unknown lines are ignored; it
// never fails on content, only on read errors.
func ParseResolvConf(r io.Reader) (ResolvConf, error) {
	var rc ResolvConf
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				continue
			}
			host := f[1]
			// Strip an IPv6 zone only if the rest is a valid address.
			if ip := net.ParseIP(strings.SplitN(host, "%", 2)[0]); ip == nil {
				continue
			}
			rc.Nameservers = append(rc.Nameservers, net.JoinHostPort(host, "53"))
		case "search", "domain":
			// The last search/domain line wins, as in the C resolver.
			rc.Search = rc.Search[:0:0]
			for _, d := range f[1:] {
				d = normalizeName(d)
				if d != "" {
					rc.Search = append(rc.Search, d)
				}
			}
		}
	}
	return rc, sc.Err()
}

// DeriveDomain finds the cluster domain in a pod's search list. Kubernetes
// writes "<namespace>.svc.<domain> svc.<domain> <domain>" (plus any node
// search domains); the domain is whatever follows the first "svc" label, so
// hyphenated and multi-label domains ("iron-cluster.local", "k8s.example.com")
// come through whole. It prefers the "svc.<domain>" entry, then
// "<namespace>.svc.<domain>" for the given namespace, then any
// "<label>.svc.<domain>". It returns "" when no entry has that shape.
func DeriveDomain(search []string, namespace string) string {
	namespace = normalizeName(namespace)
	var nsMatch, anyMatch string
	for _, s := range search {
		s = normalizeName(s)
		labels := strings.Split(s, ".")
		if len(labels) >= 2 && labels[0] == "svc" && validDomain(labels[1:]) {
			return strings.Join(labels[1:], ".")
		}
		if len(labels) >= 3 && labels[1] == "svc" && labels[0] != "" && validDomain(labels[2:]) {
			d := strings.Join(labels[2:], ".")
			if namespace != "" && labels[0] == namespace && nsMatch == "" {
				nsMatch = d
			}
			if anyMatch == "" {
				anyMatch = d
			}
		}
	}
	if nsMatch != "" {
		return nsMatch
	}
	return anyMatch
}

func validDomain(labels []string) bool {
	if len(labels) == 0 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// normalizeName lower-cases a DNS name and removes one trailing dot.
func normalizeName(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	return strings.ToLower(s)
}
