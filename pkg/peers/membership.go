package peers

import (
	"fmt"
	"strings"

	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// AddressType selects what peer-finder reports for each peer.
type AddressType string

const (
	// AddressFQDN reports each peer's DNS name (the SRV target).
	AddressFQDN AddressType = "fqdn"
	// AddressIP reports each peer's IP address.
	AddressIP AddressType = "ip"
)

// ParseAddressType accepts "fqdn" or "ip" (any case).
func ParseAddressType(s string) (AddressType, error) {
	switch strings.ToLower(s) {
	case "fqdn", "dns", "":
		return AddressFQDN, nil
	case "ip":
		return AddressIP, nil
	}
	return "", fmt.Errorf("address type must be fqdn or ip, got %q", s)
}

// Identity is what this pod is called in DNS.
type Identity struct {
	// FQDN is <hostname>.<service>.<namespace>.svc.<domain>, normalized.
	FQDN string
	// IPs are the pod's addresses, used with AddressIP.
	IPs []string
}

// Membership is one observation of the peer set.
type Membership struct {
	// Peers are the reported values (FQDNs or IPs), in ordinal order of their
	// SRV targets, without duplicates.
	Peers []string
	// Self is this pod's entry in Peers, "" when it is not there.
	Self string
}

// HasSelf reports whether this pod is a member.
func (m Membership) HasSelf() bool { return m.Self != "" }

// BuildMembership turns SRV targets into the reported peer list: targets are
// normalized, deduplicated and sorted by ordinal (web-2 before web-10). With
// AddressIP each target contributes its first address (IPv4 preferred) and
// targets without an address are left out.
func BuildMembership(targets []Target, typ AddressType, self Identity) Membership {
	byName := make(map[string]Target, len(targets))
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		n := normalizeName(t.Name)
		if n == "" {
			continue
		}
		if prev, ok := byName[n]; ok {
			prev.Addrs = sortAddrs(append(append([]string(nil), prev.Addrs...), t.Addrs...))
			byName[n] = prev
			continue
		}
		t.Name = n
		byName[n] = t
		names = append(names, n)
	}
	ordinal.Sort(names)
	selfFQDN := normalizeName(self.FQDN)
	var m Membership
	seen := make(map[string]bool, len(names))
	m.Peers = make([]string, 0, len(names))
	for _, n := range names {
		t := byName[n]
		isSelf := n == selfFQDN
		var v string
		switch typ {
		case AddressIP:
			if len(t.Addrs) == 0 {
				continue
			}
			v = t.Addrs[0]
			for _, a := range t.Addrs {
				if containsFold(self.IPs, a) {
					isSelf = true
				}
			}
		default:
			v = n
		}
		if seen[v] {
			continue
		}
		seen[v] = true
		m.Peers = append(m.Peers, v)
		if isSelf && m.Self == "" {
			m.Self = v
		}
	}
	return m
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Equal reports whether two peer lists are identical.
func Equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Diff returns the entries of next missing from prev (added) and of prev
// missing from next (removed), each in the order of its list.
func Diff(prev, next []string) (added, removed []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	p, n := in(prev), in(next)
	for _, s := range next {
		if !p[s] {
			added = append(added, s)
		}
	}
	for _, s := range prev {
		if !n[s] {
			removed = append(removed, s)
		}
	}
	return added, removed
}

// maxListed bounds how many names a single log line spells out.
const maxListed = 10

// DescribeChange renders "peers changed: 3 → 4 (+web-3…, -…)".
func DescribeChange(prev, next []string) string {
	added, removed := Diff(prev, next)
	var parts []string
	for _, s := range added {
		parts = append(parts, "+"+s)
	}
	for _, s := range removed {
		parts = append(parts, "-"+s)
	}
	if len(parts) > maxListed {
		parts = append(parts[:maxListed:maxListed], fmt.Sprintf("… %d more", len(parts)-maxListed))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("peers changed: %d → %d (order)", len(prev), len(next))
	}
	return fmt.Sprintf("peers changed: %d → %d (%s)", len(prev), len(next), strings.Join(parts, ", "))
}

// firstFew renders up to n entries of list, noting how many are left out.
func firstFew(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s, … (%d more)", strings.Join(list[:n], ", "), len(list)-n)
}

// SelfFQDN builds <hostname>.<service>.<namespace>.svc.<domain>, normalized.
// A hostname that is already qualified keeps only its first label.
func SelfFQDN(hostname, service, namespace, domain string) string {
	h := normalizeName(hostname)
	if i := strings.IndexByte(h, '.'); i >= 0 {
		h = h[:i]
	}
	return h + "." + ServiceName(service, namespace, domain)
}

// ServiceName is the name queried for SRV records: <service>.<namespace>.svc.<domain>.
func ServiceName(service, namespace, domain string) string {
	return normalizeName(service) + "." + normalizeName(namespace) + ".svc." + normalizeName(domain)
}
