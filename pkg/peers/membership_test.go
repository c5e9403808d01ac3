package peers

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/kennel-dev/kennel/pkg/ordinal"
)

func TestBuildMembershipFQDN(t *testing.T) {
	targets := []Target{
		{Name: "web-10.web.default.svc.cluster.local."},
		{Name: "WEB-2.web.default.svc.cluster.local"},
		{Name: "web-2.web.default.svc.cluster.local."},
		{Name: "web-0.web.default.svc.cluster.local"},
	}
	self := Identity{FQDN: SelfFQDN("Web-2", "web", "default", "cluster.local.")}
	m := BuildMembership(targets, AddressFQDN, self)
	want := "web-0.web.default.svc.cluster.local web-2.web.default.svc.cluster.local web-10.web.default.svc.cluster.local"
	if got := strings.Join(m.Peers, " "); got != want {
		t.Fatalf("peers = %s\nwant    %s", got, want)
	}
	if m.Self != "web-2.web.default.svc.cluster.local" {
		t.Fatalf("self = %q", m.Self)
	}
	if m := BuildMembership(targets, AddressFQDN, Identity{FQDN: "web-3.web.default.svc.cluster.local"}); m.HasSelf() {
		t.Fatalf("web-3 found itself in %v", m.Peers)
	}
}

func TestBuildMembershipIP(t *testing.T) {
	targets := []Target{
		{Name: "web-1.web.ns.svc.cluster.local", Addrs: []string{"10.0.0.11"}},
		{Name: "web-0.web.ns.svc.cluster.local", Addrs: []string{"10.0.0.10", "fd00::10"}},
		{Name: "web-2.web.ns.svc.cluster.local"}, // no address yet: left out
		{Name: "web-3.web.ns.svc.cluster.local", Addrs: []string{"fd00::13"}},
	}
	m := BuildMembership(targets, AddressIP, Identity{FQDN: "web-9.x", IPs: []string{"FD00::13"}})
	if got := strings.Join(m.Peers, " "); got != "10.0.0.10 10.0.0.11 fd00::13" {
		t.Fatalf("peers = %s", got)
	}
	if m.Self != "fd00::13" {
		t.Fatalf("self = %q", m.Self)
	}
	// Matching by name also works in IP mode.
	m = BuildMembership(targets, AddressIP, Identity{FQDN: "web-0.web.ns.svc.cluster.local"})
	if m.Self != "10.0.0.10" {
		t.Fatalf("self = %q", m.Self)
	}
}

func TestDescribeChange(t *testing.T) {
	prev := []string{"a-0", "a-1", "a-2"}
	next := []string{"a-0", "a-1", "a-3", "a-4"}
	if got, want := DescribeChange(prev, next), "peers changed: 3 → 4 (+a-3, +a-4, -a-2)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	var many []string
	for i := 0; i < 25; i++ {
		many = append(many, ordinal.PetName("a", i))
	}
	got := DescribeChange(nil, many)
	if !strings.HasPrefix(got, "peers changed: 0 → 25 (+a-0, ") || !strings.HasSuffix(got, "… 15 more)") {
		t.Fatalf("got %q", got)
	}
}

func TestSelfFQDN(t *testing.T) {
	if got := SelfFQDN("zk-0.zk-hs.default.svc.cluster.local", "ZK-HS", "default", "cluster.local."); got != "zk-0.zk-hs.default.svc.cluster.local" {
		t.Fatalf("got %q", got)
	}
}

// FuzzSRVAnswer feeds arbitrary wire messages through answer handling: it
// must never panic, and what comes out must be normalized, unique and in
// ordinal order.
func FuzzSRVAnswer(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion(svcName+".", dns.TypeSRV)
	for _, n := range []string{"web-10", "WEB-2", "web-2", "x"} {
		m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: svcName + ".", Rrtype: dns.TypeSRV, Class: dns.ClassINET}, Target: n + "." + svcName + "."})
	}
	m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: "web-2." + svcName + ".", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{10, 0, 0, 2}})
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, wire []byte) {
		msg := new(dns.Msg)
		if err := msg.Unpack(wire); err != nil {
			return
		}
		_ = checkAnswer(svcName+".", dns.TypeSRV, msg)
		targets := srvTargets(msg)
		seen := map[string]bool{}
		for _, tg := range targets {
			if tg.Name == "" || tg.Name != strings.ToLower(tg.Name) || strings.HasSuffix(tg.Name, ".") && tg.Name != "." {
				t.Fatalf("target %q not normalized", tg.Name)
			}
			if seen[tg.Name] {
				t.Fatalf("duplicate target %q", tg.Name)
			}
			seen[tg.Name] = true
		}
		for _, typ := range []AddressType{AddressFQDN, AddressIP} {
			mem := BuildMembership(targets, typ, Identity{FQDN: "web-2." + svcName, IPs: []string{"10.0.0.2"}})
			uniq := map[string]bool{}
			for _, p := range mem.Peers {
				if uniq[p] {
					t.Fatalf("duplicate peer %q", p)
				}
				uniq[p] = true
			}
			if mem.Self != "" && !uniq[mem.Self] {
				t.Fatalf("self %q not among peers", mem.Self)
			}
			if typ == AddressFQDN {
				for i := 1; i < len(mem.Peers); i++ {
					if ordinal.Compare(mem.Peers[i-1], mem.Peers[i]) > 0 {
						t.Fatalf("peers out of order: %q before %q", mem.Peers[i-1], mem.Peers[i])
					}
				}
			}
		}
	})
}
