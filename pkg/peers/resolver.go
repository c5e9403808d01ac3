package peers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
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
	// The ID comes from the runtime's generator (ChaCha8, seeded from the
	// system), like the IDs of Go's own resolver; dns.Msg.SetQuestion
	// would read crypto/rand and bring its code back into every poll.
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Id: uint16(rand.Uint32()), Opcode: dns.OpcodeQuery, RecursionDesired: true},
		Question: []dns.Question{{Name: fqdn, Qtype: qtype, Qclass: dns.ClassINET}},
	}
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

// exchangeNet sends one query over one transport and waits for the reply
// until timeout. Over UDP, replies with another ID are ignored as spoofed
// or late; over TCP they are an error. The messages are miekg/dns's; the
// transport is this package's, so that a poll reuses one receive buffer
// instead of allocating 64 KiB per reply.
func (r *DNSResolver) exchangeNet(ctx context.Context, network, server string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	q, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing the query: %w", err)
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(qctx, network, server)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	defer conn.Close()
	// Closing the connection interrupts a pending read when ctx is cancelled.
	stop := context.AfterFunc(qctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var resp *dns.Msg
	if network == "tcp" {
		resp, err = roundTripTCP(conn, m.Id, q)
	} else {
		resp, err = roundTripUDP(conn, m.Id, q)
	}
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

// udpBufs holds receive buffers of EDNSBufSize bytes. A sidecar polls once
// a second: a new 64 KiB buffer per reply would be most of what it
// allocates, and once the garbage collector has run, every reuse of that
// memory is zeroed, which makes several MiB of the heap resident.
var udpBufs = sync.Pool{New: func() any { b := make([]byte, EDNSBufSize); return &b }}

func roundTripUDP(conn net.Conn, id uint16, q []byte) (*dns.Msg, error) {
	if _, err := conn.Write(q); err != nil {
		return nil, err
	}
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if n < 2 || binary.BigEndian.Uint16(buf) != id {
			continue
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(buf[:n]); err != nil {
			if resp.Truncated {
				// A truncated reply may be cut mid-record; only its
				// header matters, the query is repeated over TCP.
				return resp, nil
			}
			return nil, fmt.Errorf("malformed reply: %w", err)
		}
		return resp, nil
	}
}

func roundTripTCP(conn net.Conn, id uint16, q []byte) (*dns.Msg, error) {
	msg := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(msg, uint16(len(q)))
	copy(msg[2:], q)
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(buf); err != nil {
		return nil, fmt.Errorf("malformed reply: %w", err)
	}
	if resp.Id != id {
		return nil, fmt.Errorf("reply ID %d does not match the query's %d", resp.Id, id)
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
