// Package dnstest is an in-process DNS server for tests: SRV, A and AAAA
// records that tests change while clients query, over UDP and TCP on
// 127.0.0.1, with switchable failure modes.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Mode selects how the server answers.
type Mode int

const (
	// Normal answers from the records (NXDOMAIN for unknown names).
	Normal Mode = iota
	// ServFail answers SERVFAIL.
	ServFail
	// Refused answers REFUSED.
	Refused
	// Silent never answers.
	Silent
	// WrongID answers with a message ID different from the query's.
	WrongID
	// Malformed answers with bytes that are not a DNS message.
	Malformed
	// WrongQuestion answers NOERROR for a different question.
	WrongQuestion
)

// Server is a DNS server on 127.0.0.1 (UDP and TCP on the same port).
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string

	mu       sync.Mutex
	srv      map[string][]*dns.SRV // by lower-case FQDN
	addrs    map[string][]string
	mode     Mode
	noExtra  bool
	udpLimit int

	udp, tcp *dns.Server
	// Queries counts every query received, UDP and TCP separately.
	udpQueries, tcpQueries atomic.Int64
}

// Start starts a server on an ephemeral port of 127.0.0.1.
func Start() (*Server, error) {
	s := &Server{srv: map[string][]*dns.SRV{}, addrs: map[string][]string{}, udpLimit: 4096}
	// Bind UDP first, then TCP on the same port; retry if taken.
	var lastErr error
	for try := 0; try < 20; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		h := dns.HandlerFunc(s.handle)
		s.udp = &dns.Server{PacketConn: pc, Handler: h}
		s.tcp = &dns.Server{Listener: l, Handler: h}
		udpUp, tcpUp := make(chan struct{}), make(chan struct{})
		s.udp.NotifyStartedFunc = func() { close(udpUp) }
		s.tcp.NotifyStartedFunc = func() { close(tcpUp) }
		go func() { _ = s.udp.ActivateAndServe() }()
		go func() { _ = s.tcp.ActivateAndServe() }()
		<-udpUp
		<-tcpUp
		return s, nil
	}
	return nil, lastErr
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// SetMode switches the answering behaviour.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetUDPLimit caps UDP answers at n bytes (default 4096), whatever the
// client advertises; larger answers are truncated with TC set.
func (s *Server) SetUDPLimit(n int) {
	s.mu.Lock()
	s.udpLimit = n
	s.mu.Unlock()
}

// SetAdditional controls whether SRV answers carry the targets' A/AAAA
// records in the additional section (default true).
func (s *Server) SetAdditional(on bool) {
	s.mu.Lock()
	s.noExtra = !on
	s.mu.Unlock()
}

// SetSRV replaces the SRV records of name with one record per target (port
// 80). No targets: the name exists with no records (NODATA). Use DeleteSRV
// for NXDOMAIN.
func (s *Server) SetSRV(name string, targets ...string) {
	key := strings.ToLower(dns.Fqdn(name))
	rrs := make([]*dns.SRV, 0, len(targets))
	for _, t := range targets {
		rrs = append(rrs, &dns.SRV{
			Hdr:      dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 5},
			Priority: 0, Weight: 10, Port: 80, Target: dns.Fqdn(t),
		})
	}
	s.mu.Lock()
	s.srv[key] = rrs
	s.mu.Unlock()
}

// DeleteSRV removes name (NXDOMAIN).
func (s *Server) DeleteSRV(name string) {
	s.mu.Lock()
	delete(s.srv, strings.ToLower(dns.Fqdn(name)))
	s.mu.Unlock()
}

// SetAddrs sets the A/AAAA records of host.
func (s *Server) SetAddrs(host string, addrs ...string) {
	s.mu.Lock()
	s.addrs[strings.ToLower(dns.Fqdn(host))] = addrs
	s.mu.Unlock()
}

// Queries returns how many queries arrived over UDP and TCP.
func (s *Server) Queries() (udp, tcp int64) { return s.udpQueries.Load(), s.tcpQueries.Load() }

func (s *Server) handle(w dns.ResponseWriter, req *dns.Msg) {
	isUDP := false
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		isUDP = true
		s.udpQueries.Add(1)
	} else {
		s.tcpQueries.Add(1)
	}
	s.mu.Lock()
	mode, noExtra, limit := s.mode, s.noExtra, s.udpLimit
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch mode {
	case Silent:
		return
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	case Refused:
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	case Malformed:
		_, _ = w.Write([]byte{0x12, 0x34, 0x81, 0x80, 0xff, 0xff, 0x00})
		return
	case WrongID:
		m.Id = req.Id + 1
		_ = w.WriteMsg(m)
		return
	case WrongQuestion:
		if len(m.Question) == 1 {
			m.Question[0].Name = "other.example."
		}
		_ = w.WriteMsg(m)
		return
	}
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	srvs, haveSRV := s.srv[name]
	addrs, haveAddrs := s.addrs[name]
	switch q.Qtype {
	case dns.TypeSRV:
		for _, rr := range srvs {
			m.Answer = append(m.Answer, dns.Copy(rr))
			if noExtra {
				continue
			}
			for _, a := range s.addrs[strings.ToLower(rr.Target)] {
				if rr := addrRR(rr.Target, a); rr != nil {
					m.Extra = append(m.Extra, rr)
				}
			}
		}
	case dns.TypeA, dns.TypeAAAA:
		for _, a := range addrs {
			rr := addrRR(q.Name, a)
			if rr != nil && rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	s.mu.Unlock()
	if !haveSRV && !haveAddrs {
		m.Rcode = dns.RcodeNameError
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	if isUDP {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		if size > limit {
			size = limit
		}
		m.Compress = true
		m.Truncate(size)
	} else {
		m.Compress = true
	}
	_ = w.WriteMsg(m)
}

func addrRR(name, a string) dns.RR {
	ip := net.ParseIP(a)
	if ip == nil {
		return nil
	}
	hdr := dns.RR_Header{Name: dns.Fqdn(name), Class: dns.ClassINET, Ttl: 5}
	if ip4 := ip.To4(); ip4 != nil {
		hdr.Rrtype = dns.TypeA
		return &dns.A{Hdr: hdr, A: ip4}
	}
	hdr.Rrtype = dns.TypeAAAA
	return &dns.AAAA{Hdr: hdr, AAAA: ip}
}
