package sandbox

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startServer listens on one free port of 127.0.0.1, UDP and TCP.
func startServer(t *testing.T, o Options, n int) (*server, string) {
	t.Helper()
	s := &server{zone: o.Zone()}
	s.setPeers(o, n)
	for try := 0; try < 20; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		stop, err := s.listen(addr)
		if err != nil {
			continue // taken meanwhile
		}
		t.Cleanup(stop)
		return s, addr
	}
	t.Fatal("no free port")
	return nil, ""
}

func query(t *testing.T, net, addr, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	var r *dns.Msg
	var err error
	for i := 0; i < 50; i++ { // the server goroutines may still be starting
		if r, _, err = c.Exchange(m, addr); err == nil {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s query %s: %v", net, name, err)
	return nil
}

func TestServerAnswers(t *testing.T) {
	o := Options{Hostname: "web-0", Service: "web", Namespace: "default", Domain: "cluster.local"}
	s, addr := startServer(t, o, 3)

	r := query(t, "udp", addr, o.Zone(), dns.TypeSRV, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 3 || r.Truncated {
		t.Fatalf("3 pets over UDP: %v", r)
	}
	if got := r.Answer[2].(*dns.SRV).Target; got != "web-2.web.default.svc.cluster.local." {
		t.Errorf("third target %q", got)
	}
	if r := query(t, "udp", addr, "other.default.svc.cluster.local.", dns.TypeSRV, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("other name: rcode %d, want NXDOMAIN", r.Rcode)
	}
	if served := s.servedAt(); served == 0 {
		t.Error("servedAt = 0 after an answer")
	}

	// 1000 pets do not fit in 512 bytes (no EDNS) nor 1232: TC over UDP,
	// the whole set over TCP.
	s.setPeers(o, 1000)
	if s.servedAt() != 0 {
		t.Error("servedAt not reset by setPeers")
	}
	for _, size := range []uint16{0, 1232} {
		r := query(t, "udp", addr, o.Zone(), dns.TypeSRV, size)
		if !r.Truncated {
			t.Errorf("1000 pets over UDP (EDNS %d): not truncated, %d answers", size, len(r.Answer))
		}
	}
	r = query(t, "tcp", addr, o.Zone(), dns.TypeSRV, 0)
	if r.Truncated || len(r.Answer) != 1000 {
		t.Errorf("1000 pets over TCP: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}
	udp, tcp := s.udp.Load(), s.tcp.Load()
	if udp < 4 || tcp < 1 {
		t.Errorf("query counts udp %d tcp %d", udp, tcp)
	}
}

func TestOptionsNames(t *testing.T) {
	o := Options{Service: "web", Namespace: "ns1", Domain: "example.org"}
	for got, want := range map[string]string{
		o.Zone():       "web.ns1.svc.example.org.",
		o.Target(7):    "web-7.web.ns1.svc.example.org.",
		o.ResolvConf(): "nameserver 127.0.0.1\nsearch ns1.svc.example.org svc.example.org example.org\noptions ndots:5\n",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
