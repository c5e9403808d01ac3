package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Target is one SRV target of the peer Service.
type Target struct {
	// Name is the target host name, lower-cased, without a trailing dot.
	Name string
	Port uint16
	// Addrs are the target's addresses: from the answer's additional section
	// when present, otherwise from A/AAAA queries when addresses were asked for.
	Addrs []string
}

// SRVResult is the outcome of a successful SRV lookup.
type SRVResult struct {
	Targets []Target
	// NXDomain is true when the name does not exist (no peers yet).
	NXDomain bool
	// Server is the nameserver that answered.
	Server string
}

// Resolver looks up the peer Service. Implementations must tell "the name
// does not exist" (a result with NXDomain set and no error) apart from
// failures (an error).
type Resolver interface {
	LookupSRV(ctx context.Context, name string, wantAddrs bool) (SRVResult, error)
	// Servers names the nameservers queried, for diagnostics.
	Servers() []string
}

// EDNSBufSize is the UDP payload size advertised in queries. Servers answer
// with as much as they are willing to send over UDP, and set TC when the
// answer does not fit; the query is then repeated over TCP.
const EDNSBufSize = 65535

// DNSResolver queries nameservers directly with SRV, A and AAAA questions.
type DNSResolver struct {
	// Nameservers are "host:port" addresses, tried in order.
	Nameservers []string
	// Timeout bounds each single query (one server, one transport).
	Timeout time.Duration
}

// Servers implements Resolver.
func (r *DNSResolver) Servers() []string { return append([]string(nil), r.Nameservers...) }

// RcodeError is a DNS answer with a failure response code.
type RcodeError struct {
	Server string
	Name   string
	Rcode  int
}

func (e *RcodeError) Error() string {
	return fmt.Sprintf("%s from %s for %s", dns.RcodeToString[e.Rcode], e.Server, e.Name)
}

// LookupSRV implements Resolver.
func (r *DNSResolver) LookupSRV(ctx context.Context, name string, wantAddrs bool) (SRVResult, error) {
	resp, server, err := r.query(ctx, name, dns.TypeSRV)
	if err != nil {
		return SRVResult{}, err
	}
	res := SRVResult{Server: server}
	if resp.Rcode == dns.RcodeNameError {
		res.NXDomain = true
		return res, nil
	}
	res.Targets = srvTargets(resp)
	if wantAddrs {
		for i := range res.Targets {
			if len(res.Targets[i].Addrs) > 0 {
				continue
			}
			addrs, err := r.lookupAddrs(ctx, res.Targets[i].Name)
			if err != nil {
				return SRVResult{}, err
			}
			res.Targets[i].Addrs = addrs
		}
	}
	return res, nil
}

// srvTargets extracts SRV targets from an answer, with the addresses the
// additional section carries for them. Records for other names and types are
// ignored. Targets are lower-cased, without trailing dot, deduplicated.
func srvTargets(resp *dns.Msg) []Target {
	addrs := map[string][]string{}
	for _, rr := range resp.Extra {
		switch v := rr.(type) {
		case *dns.A:
			n := normalizeName(v.Hdr.Name)
			addrs[n] = append(addrs[n], v.A.String())
		case *dns.AAAA:
			n := normalizeName(v.Hdr.Name)
			addrs[n] = append(addrs[n], v.AAAA.String())
		}
	}
	seen := map[string]bool{}
	var out []Target
	for _, rr := range resp.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			continue
		}
		n := normalizeName(srv.Target)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, Target{Name: n, Port: srv.Port, Addrs: sortAddrs(addrs[n])})
	}
	return out
}

func (r *DNSResolver) lookupAddrs(ctx context.Context, host string) ([]string, error) {
	var out []string
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, _, err := r.query(ctx, host, t)
		if err != nil {
			return nil, err
		}
		if resp.Rcode == dns.RcodeNameError {
			return nil, nil
		}
		for _, rr := range resp.Answer {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, v.A.String())
			case *dns.AAAA:
				out = append(out, v.AAAA.String())
			}
		}
	}
	return sortAddrs(out), nil
}

// sortAddrs orders addresses IPv4 first, then by text, without duplicates.
func sortAddrs(a []string) []string {
	if len(a) == 0 {
		return nil
	}
	sort.Slice(a, func(i, j int) bool {
		i4, j4 := !strings.Contains(a[i], ":"), !strings.Contains(a[j], ":")
		if i4 != j4 {
			return i4
		}
		return a[i] < a[j]
	})
	out := a[:1]
	for _, s := range a[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// query asks each nameserver in turn until one gives a usable answer:
// NOERROR or NXDOMAIN. Truncated UDP answers are repeated over TCP. The last
// error is returned when every server fails.
func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	if len(r.Nameservers) == 0 {
		return nil, "", errors.New("no nameservers configured")
	}
	fqdn := dns.Fqdn(name)
	var errs []error
	for _, server := range r.Nameservers {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		resp, err := r.exchange(ctx, server, fqdn, qtype)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			if err := checkAnswer(fqdn, qtype, resp); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", server, err))
				continue
			}
			return resp, server, nil
		default:
			errs = append(errs, &RcodeError{Server: server, Name: name, Rcode: resp.Rcode})
		}
	}
	return nil, "", errors.Join(errs...)
}

func (r *DNSResolver) exchange(ctx context.Context, server, fqdn string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	m.SetEdns0(EDNSBufSize, false)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	resp, err := r.exchangeNet(ctx, "udp", server, m, timeout)
	if err == nil && resp.Truncated {
		resp, err = r.exchangeNet(ctx, "tcp", server, m, timeout)
		if err == nil && resp.Truncated {
			return nil, errors.New("answer truncated even over TCP")
		}
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (r *DNSResolver) exchangeNet(ctx context.Context, network, server string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: network, Timeout: timeout, UDPSize: EDNSBufSize}
	conn, err := c.DialContext(qctx, server)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	defer conn.Close()
	// Closing the connection interrupts a pending read when ctx is cancelled.
	stop := context.AfterFunc(qctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(qctx, m, conn)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if qctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, fmt.Errorf("%s query timed out after %v", network, timeout)
		}
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	return resp, nil
}

// checkAnswer rejects answers that do not belong to the question.
func checkAnswer(fqdn string, qtype uint16, resp *dns.Msg) error {
	if !resp.Response {
		return errors.New("reply is not a response")
	}
	if len(resp.Question) != 1 {
		return fmt.Errorf("reply has %d questions", len(resp.Question))
	}
	rq := resp.Question[0]
	if !strings.EqualFold(rq.Name, fqdn) || rq.Qtype != qtype || rq.Qclass != dns.ClassINET {
		return fmt.Errorf("reply is for a different question (%s %s)", rq.Name, dns.TypeToString[rq.Qtype])
	}
	return nil
}
