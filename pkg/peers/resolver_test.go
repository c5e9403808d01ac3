package peers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
)

const svcName = "web.default.svc.cluster.local"

func startDNS(t testing.TB) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func podNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("web-%d.%s", i, svcName)
	}
	return out
}

func targetNames(ts []Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func TestResolverSRV(t *testing.T) {
	s := startDNS(t)
	r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: time.Second}
	ctx := context.Background()

	// NXDOMAIN: no peers, not an error.
	res, err := r.LookupSRV(ctx, svcName, false)
	if err != nil || !res.NXDomain || len(res.Targets) != 0 {
		t.Fatalf("NXDOMAIN: got %+v, %v", res, err)
	}

	// Mixed case and trailing dots are normalized; duplicates dropped.
	s.SetSRV(svcName, "WEB-1.web.default.svc.cluster.local.", "web-0.web.default.svc.cluster.local", "web-1.web.default.svc.cluster.local")
	res, err = r.LookupSRV(ctx, svcName, false)
	if err != nil || res.NXDomain {
		t.Fatalf("got %+v, %v", res, err)
	}
	got := targetNames(res.Targets)
	if strings.Join(got, ",") != "web-1."+svcName+",web-0."+svcName {
		t.Fatalf("targets = %v", got)
	}

	// The name exists with no records: no peers, not NXDOMAIN.
	s.SetSRV(svcName)
	res, err = r.LookupSRV(ctx, svcName, false)
	if err != nil || res.NXDomain || len(res.Targets) != 0 {
		t.Fatalf("NODATA: got %+v, %v", res, err)
	}
}

// Query IDs do not come from miekg/dns's generator (crypto/rand), whose
// code a poll would otherwise bring back into memory every second.
func TestResolverQueryIDs(t *testing.T) {
	calls := 0
	orig := dns.Id
	dns.Id = func() uint16 { calls++; return orig() }
	t.Cleanup(func() { dns.Id = orig })
	s := startDNS(t)
	s.SetSRV(svcName, podNames(3)...)
	r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: time.Second}
	for i := 0; i < 5; i++ {
		if res, err := r.LookupSRV(context.Background(), svcName, false); err != nil || len(res.Targets) != 3 {
			t.Fatalf("got %+v, %v", res, err)
		}
	}
	if calls != 0 {
		t.Fatalf("dns.Id called %d times", calls)
	}
}

func TestResolverLargeAnswersUseTCP(t *testing.T) {
	for _, n := range []int{5, 500, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := startDNS(t)
			s.SetSRV(svcName, podNames(n)...)
			r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: 2 * time.Second}
			res, err := r.LookupSRV(context.Background(), svcName, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Targets) != n {
				t.Fatalf("got %d targets, want %d", len(res.Targets), n)
			}
			udp, tcp := s.Queries()
			if udp != 1 {
				t.Errorf("udp queries = %d, want 1", udp)
			}
			wantTCP := int64(0)
			if n >= 500 {
				wantTCP = 1
			}
			if tcp != wantTCP {
				t.Errorf("tcp queries = %d, want %d", tcp, wantTCP)
			}
		})
	}
}

func TestResolverTinyUDPLimit(t *testing.T) {
	// A server that never sends more than 512 bytes over UDP still yields
	// the whole set through TCP.
	s := startDNS(t)
	s.SetUDPLimit(512)
	s.SetSRV(svcName, podNames(40)...)
	r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: time.Second}
	res, err := r.LookupSRV(context.Background(), svcName, false)
	if err != nil || len(res.Targets) != 40 {
		t.Fatalf("got %d targets, %v", len(res.Targets), err)
	}
}

func TestResolverFailures(t *testing.T) {
	for _, tc := range []struct {
		mode dnstest.Mode
		want string
	}{
		{dnstest.ServFail, "SERVFAIL"},
		{dnstest.Refused, "REFUSED"},
		{dnstest.Silent, "timed out"},
		{dnstest.WrongID, "timed out"}, // UDP replies with a foreign ID are ignored as spoofed
		{dnstest.Malformed, "udp"},
		{dnstest.WrongQuestion, "different question"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			s := startDNS(t)
			s.SetSRV(svcName, podNames(3)...)
			s.SetMode(tc.mode)
			r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: 200 * time.Millisecond}
			res, err := r.LookupSRV(context.Background(), svcName, false)
			if err == nil {
				t.Fatalf("want error, got %+v", res)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if tc.mode == dnstest.ServFail {
				var re *RcodeError
				if !errors.As(err, &re) || re.Rcode != dns.RcodeServerFailure {
					t.Fatalf("want RcodeError SERVFAIL, got %#v", err)
				}
			}
		})
	}
}

func TestResolverTriesServersInOrder(t *testing.T) {
	bad := startDNS(t)
	bad.SetMode(dnstest.ServFail)
	silent := startDNS(t)
	silent.SetMode(dnstest.Silent)
	good := startDNS(t)
	good.SetSRV(svcName, podNames(2)...)
	r := &DNSResolver{Nameservers: []string{bad.Addr, silent.Addr, good.Addr}, Timeout: 200 * time.Millisecond}
	res, err := r.LookupSRV(context.Background(), svcName, false)
	if err != nil || len(res.Targets) != 2 || res.Server != good.Addr {
		t.Fatalf("got %+v, %v", res, err)
	}
	// NXDOMAIN is an answer: later servers are not asked.
	nx := startDNS(t)
	r = &DNSResolver{Nameservers: []string{nx.Addr, good.Addr}, Timeout: 200 * time.Millisecond}
	res, err = r.LookupSRV(context.Background(), svcName, false)
	if err != nil || !res.NXDomain {
		t.Fatalf("got %+v, %v", res, err)
	}
	if u, tc := good.Queries(); u+tc != 1 {
		t.Fatalf("good server got %d queries after the NXDOMAIN lookup, want 1 (from the first lookup)", u+tc)
	}
}

func TestResolverAddresses(t *testing.T) {
	s := startDNS(t)
	names := podNames(3)
	s.SetSRV(svcName, names...)
	s.SetAddrs(names[0], "10.0.0.10", "fd00::10")
	s.SetAddrs(names[1], "10.0.0.11")
	s.SetAddrs(names[2], "fd00::12")
	r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: time.Second}
	for _, extra := range []bool{true, false} {
		s.SetAdditional(extra)
		res, err := r.LookupSRV(context.Background(), svcName, true)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tg := range res.Targets {
			got = append(got, strings.Join(tg.Addrs, "+"))
		}
		if want := "10.0.0.10+fd00::10,10.0.0.11,fd00::12"; strings.Join(got, ",") != want {
			t.Fatalf("additional=%v: addrs %v, want %s", extra, got, want)
		}
	}
	// Without the additional section, addresses come from A/AAAA queries.
	udp, _ := s.Queries()
	if udp < 2+6 {
		t.Fatalf("expected A/AAAA queries, saw %d UDP queries", udp)
	}
}

// Cancelling the context ends a lookup at once with context.Canceled, not
// with the query timeout's error once the timeout has passed.
func TestResolverCancelled(t *testing.T) {
	const timeout = 30 * time.Second
	s := startDNS(t)
	s.SetMode(dnstest.Silent)
	r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: timeout}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := r.LookupSRV(ctx, svcName, false)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("LookupSRV after cancel: %v, want context.Canceled", err)
	}
	// A bound far below the query timeout: the lookup ended because of the
	// cancellation, not because the timeout passed.
	if elapsed > timeout/6 {
		t.Fatalf("LookupSRV returned %v after the cancel (query timeout %v)", elapsed, timeout)
	}
}
