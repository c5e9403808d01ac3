package framework

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// SRV is one SRV answer: target FQDN (no trailing dot) and port.
type SRV struct {
	Target string
	Port   uint16
}

// LookupSRV asks the DNS server at addr (host:port) for the SRV records of
// name over UDP, retrying over TCP when the answer is truncated. Targets are
// returned sorted, without the trailing dot. NXDOMAIN yields no records and
// no error.
func LookupSRV(ctx context.Context, addr, name string) ([]SRV, error) {
	r, err := exchange(ctx, addr, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var out []SRV
	for _, rr := range r.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			out = append(out, SRV{Target: strings.TrimSuffix(srv.Target, "."), Port: srv.Port})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out, nil
}

// LookupA returns the IPv4 addresses of name from the DNS server at addr.
func LookupA(ctx context.Context, addr, name string) ([]net.IP, error) {
	r, err := exchange(ctx, addr, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A)
		}
	}
	return out, nil
}

func exchange(ctx context.Context, addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s at %s: %w", dns.TypeToString[qtype], name, addr, err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("query %s %s at %s: %s", dns.TypeToString[qtype], name, addr, dns.RcodeToString[r.Rcode])
	}
	return r, nil
}
