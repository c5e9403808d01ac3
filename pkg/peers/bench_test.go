package peers

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPollCycle measures one lookup plus membership building against
// the in-process server: the work peer-finder does every poll interval.
// 500 peers exceed the server's 4096-byte UDP limit, so each cycle is a UDP
// query, a truncated answer and a TCP query.
func BenchmarkPollCycle(b *testing.B) {
	for _, n := range []int{5, 500} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			s := startDNS(b)
			s.SetSRV(svcName, podNames(n)...)
			r := &DNSResolver{Nameservers: []string{s.Addr}, Timeout: 2 * time.Second}
			self := Identity{FQDN: "web-0." + svcName}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := r.LookupSRV(ctx, svcName, false)
				if err != nil {
					b.Fatal(err)
				}
				if m := BuildMembership(res.Targets, AddressFQDN, self); len(m.Peers) != n {
					b.Fatalf("%d peers", len(m.Peers))
				}
			}
		})
	}
}

// signalRunner reports the time each run starts.
type signalRunner struct{ started chan time.Time }

func (r *signalRunner) Run(ctx context.Context, inv Invocation) error {
	select {
	case r.started <- time.Now():
	case <-ctx.Done():
	}
	return nil
}

// BenchmarkChangeDetection measures the time from a DNS change to the start
// of on-change with a 50ms poll interval (the default is 1s; the expected
// latency is about half the interval plus one lookup).
func BenchmarkChangeDetection(b *testing.B) {
	const poll = 50 * time.Millisecond
	s := startDNS(b)
	a, c := podNames(3), podNames(4)
	s.SetSRV(svcName, a...)
	run := &signalRunner{started: make(chan time.Time)}
	f := &Finder{
		Config:   Config{Service: "web", Namespace: "default", Domain: "cluster.local", Hostname: "web-0", OnChange: []string{"x"}, PollInterval: poll},
		Resolver: &DNSResolver{Nameservers: []string{s.Addr}, Timeout: time.Second},
		Runner:   run,
		Clock:    RealClock{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	<-run.started // initial membership
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := c
		if i%2 == 1 {
			next = a
		}
		// Change at a random phase of the poll cycle.
		time.Sleep(time.Duration(i*7919%50) * time.Millisecond)
		changed := time.Now()
		s.SetSRV(svcName, next...)
		started := <-run.started
		total += started.Sub(changed)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/change")
	cancel()
	<-done
}
