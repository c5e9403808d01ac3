package peers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/internal/testenv"
	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi/apitest"
)

var (
	sl   = apitest.Slice
	ep   = apitest.Endpoint
	zone = "web.default.svc.cluster.local"
)

func TestSliceTargets(t *testing.T) {
	unknown := kubeapi.Endpoint{Addresses: []string{"10.0.0.9"}, Hostname: ptr("web-9")}
	for _, tc := range []struct {
		name   string
		slices []kubeapi.EndpointSlice
		want   []string // name=addrs
	}{
		{"one slice", []kubeapi.EndpointSlice{sl("default", "web", "a", "IPv4",
			ep("web-1", true, true, "10.0.0.1"), ep("web-0", true, true, "10.0.0.0"))},
			[]string{"web-0=10.0.0.0", "web-1=10.0.0.1"}},
		{"split over slices", []kubeapi.EndpointSlice{
			sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0")),
			sl("default", "web", "b", "IPv4", ep("web-10", true, true, "10.0.0.10"), ep("web-2", true, true, "10.0.0.2"))},
			[]string{"web-0=10.0.0.0", "web-10=10.0.0.10", "web-2=10.0.0.2"}},
		{"same endpoint in two slices (moved between slices, dual-stack)", []kubeapi.EndpointSlice{
			sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0")),
			sl("default", "web", "b", "IPv4", ep("web-0", true, true, "10.0.0.0")),
			sl("default", "web", "c", "IPv6", ep("web-0", true, true, "fd00::"))},
			[]string{"web-0=10.0.0.0,fd00::"}},
		{"not ready without publishNotReadyAddresses: left out", []kubeapi.EndpointSlice{sl("default", "web", "a", "IPv4",
			ep("web-0", true, true, "10.0.0.0"), ep("web-1", false, false, "10.0.0.1"))},
			[]string{"web-0=10.0.0.0"}},
		{"not ready with publishNotReadyAddresses (ready set, not serving): kept", []kubeapi.EndpointSlice{sl("default", "web", "a", "IPv4",
			ep("web-0", true, true, "10.0.0.0"), ep("web-1", true, false, "10.0.0.1"))},
			[]string{"web-0=10.0.0.0", "web-1=10.0.0.1"}},
		{"ready unknown counts as ready", []kubeapi.EndpointSlice{sl("default", "web", "a", "IPv4", unknown)},
			[]string{"web-9=10.0.0.9"}},
		{"no hostname: named by address like CoreDNS", []kubeapi.EndpointSlice{
			sl("default", "web", "a", "IPv4", ep("", true, true, "10.0.0.7")),
			sl("default", "web", "b", "IPv6", ep("", true, true, "fd00::7"), ep("", true, true, "fd00::"))},
			[]string{"10-0-0-7=10.0.0.7", "fd00--0=fd00::", "fd00--7=fd00::7"}},
		{"FQDN slices are not published", []kubeapi.EndpointSlice{sl("default", "web", "a", "FQDN", ep("web-0", true, true, "example.com"))},
			nil},
		{"hostname case is normalized", []kubeapi.EndpointSlice{sl("default", "web", "a", "IPv4", ep("Web-0", true, true, "10.0.0.0"))},
			[]string{"web-0=10.0.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, tg := range SliceTargets(tc.slices, "web", "default", "cluster.local") {
				got = append(got, strings.TrimSuffix(tg.Name, "."+zone)+"="+strings.Join(tg.Addrs, ","))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSliceTargetsMatchDNS publishes the same pets as EndpointSlices and as
// the SRV, A and AAAA records CoreDNS serves for them, and requires the
// same script input from both sources, for both address types.
func TestSliceTargetsMatchDNS(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	var v4, v6 []kubeapi.Endpoint
	var srv []string
	for _, i := range []int{0, 1, 2, 10, 11} {
		host := fmt.Sprintf("web-%d", i)
		v4 = append(v4, ep(host, true, i != 11, fmt.Sprintf("10.0.0.%d", i)))
		v6 = append(v6, ep(host, true, true, fmt.Sprintf("fd00::%d", i)))
		name := host + "." + zone
		srv = append(srv, name)
		dns.SetAddrs(name, fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("fd00::%d", i))
	}
	// A pod selected by the Service without hostname, and one not ready.
	v4 = append(v4, ep("", true, true, "10.0.1.5"), ep("web-3", false, false, "10.0.0.3"))
	srv = append(srv, "10-0-1-5."+zone)
	dns.SetAddrs("10-0-1-5."+zone, "10.0.1.5")
	dns.SetSRV(zone, srv...)
	slices := []kubeapi.EndpointSlice{sl("default", "web", "a", "IPv4", v4[:3]...),
		sl("default", "web", "b", "IPv4", v4[3:]...), sl("default", "web", "c", "IPv6", v6...)}

	r := &DNSResolver{Nameservers: []string{dns.Addr}, Timeout: time.Second}
	self := Identity{FQDN: "web-2." + zone, IPs: []string{"10.0.0.2"}}
	for _, typ := range []AddressType{AddressFQDN, AddressIP} {
		res, err := r.LookupSRV(context.Background(), zone, typ == AddressIP)
		if err != nil {
			t.Fatal(err)
		}
		fromDNS := BuildMembership(res.Targets, typ, self)
		fromAPI := BuildMembership(SliceTargets(slices, "web", "default", "cluster.local"), typ, self)
		if string(PeerLines(fromDNS.Peers)) != string(PeerLines(fromAPI.Peers)) || fromDNS.Self != fromAPI.Self {
			t.Errorf("%s: DNS gives %q (self %q), API gives %q (self %q)", typ, PeerLines(fromDNS.Peers), fromDNS.Self, PeerLines(fromAPI.Peers), fromAPI.Self)
		}
		if len(fromAPI.Peers) != 6 {
			t.Errorf("%s: %d peers, want 6: %q", typ, len(fromAPI.Peers), fromAPI.Peers)
		}
	}
}

// sourceRun runs an APISource against a fake API server and collects what
// it reports and logs.
type sourceRun struct {
	api    *apitest.Server
	obs    chan Observation
	mu     sync.Mutex
	logs   []string
	cancel context.CancelFunc
	done   chan struct{}
}

func startSource(t *testing.T, api *apitest.Server) *sourceRun {
	t.Helper()
	r := &sourceRun{api: api, obs: make(chan Observation, 100), done: make(chan struct{})}
	src := &APISource{Client: kubeapi.NewClient(api.Config()), Service: "web", Namespace: "default", Domain: "cluster.local",
		RetryInitial: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Logf: func(format string, args ...any) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.logs = append(r.logs, fmt.Sprintf(format, args...))
		}}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		src.Watch(ctx, func(o Observation) { r.obs <- o })
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// next returns the next observation, as "name,name" (hostnames only) or
// "error: ...".
func (r *sourceRun) next(t *testing.T) string {
	t.Helper()
	select {
	case o := <-r.obs:
		if o.Err != nil {
			return "error: " + o.Err.Error()
		}
		var names []string
		for _, tg := range o.Result.Targets {
			names = append(names, strings.TrimSuffix(tg.Name, "."+zone))
		}
		return strings.Join(names, ",")
	case <-time.After(10 * time.Second):
		t.Fatal("no observation within 10s")
		return ""
	}
}

// quiet requires that nothing more is reported for a while.
func (r *sourceRun) quiet(t *testing.T) {
	t.Helper()
	select {
	case o := <-r.obs:
		t.Fatalf("unexpected observation %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
}

func (r *sourceRun) logCount(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.logs {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func TestAPISourceWatchEvents(t *testing.T) {
	api := apitest.Start()
	defer api.Close()
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0")))
	api.Apply(sl("default", "other", "x", "IPv4", ep("other-0", true, true, "10.0.9.0")))
	r := startSource(t, api)
	if got := r.next(t); got != "web-0" {
		t.Fatalf("first list: %q", got)
	}
	eventually(t, "the watch", func() bool { return api.OpenWatches() == 1 })
	steps := []struct {
		do   func()
		want string
	}{
		{func() {
			api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0"), ep("web-1", true, true, "10.0.0.1")))
		}, "web-0,web-1"},
		// A second slice: the endpoints of both count.
		{func() { api.Apply(sl("default", "web", "b", "IPv4", ep("web-2", true, true, "10.0.0.2"))) }, "web-0,web-1,web-2"},
		// web-1 becomes not ready (no publishNotReadyAddresses).
		{func() {
			api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0"), ep("web-1", false, false, "10.0.0.1")))
		}, "web-0,web-2"},
		{func() { api.Delete("default", "b") }, "web-0"},
	}
	for i, s := range steps {
		s.do()
		if got := r.next(t); got != s.want {
			t.Fatalf("step %d: got %q, want %q", i, got, s.want)
		}
	}
	// Changes that do not change the membership are not reported.
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0"), ep("web-1", false, false, "10.0.0.1")))
	api.Apply(sl("default", "other", "x", "IPv4"))
	api.Bookmark()
	r.quiet(t)
	if lists, watches := api.Requests(); lists != 1 || watches != 1 {
		t.Errorf("%d lists and %d watches, want one of each", lists, watches)
	}
}

func TestAPISourceResumesWatch(t *testing.T) {
	api := apitest.Start()
	defer api.Close()
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0")))
	r := startSource(t, api)
	if got := r.next(t); got != "web-0" {
		t.Fatalf("first list: %q", got)
	}
	eventually(t, "the watch", func() bool { return api.OpenWatches() == 1 })
	// The server ends the watch; a change made meanwhile comes with the
	// resumed watch, from the last resource version, without a new list.
	api.EndWatches()
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0"), ep("web-1", true, true, "10.0.0.1")))
	if got := r.next(t); got != "web-0,web-1" {
		t.Fatalf("after the resumed watch: %q", got)
	}
	r.quiet(t)
	if lists, watches := api.Requests(); lists != 1 || watches != 2 {
		t.Errorf("%d lists and %d watches, want 1 and 2", lists, watches)
	}
	if n := r.logCount("cannot watch"); n != 0 {
		t.Errorf("a watch ended by the server was logged as an outage %d times", n)
	}
}

func TestAPISourceOutageAndGone(t *testing.T) {
	api := apitest.Start()
	defer api.Close()
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0"), ep("web-1", true, true, "10.0.0.1")))
	r := startSource(t, api)
	if got := r.next(t); got != "web-0,web-1" {
		t.Fatalf("first list: %q", got)
	}
	eventually(t, "the watch", func() bool { return api.OpenWatches() == 1 })
	api.SetDown(true)
	if got := r.next(t); !strings.HasPrefix(got, "error: ") {
		t.Fatalf("outage: got %q, want the error", got)
	}
	// Several failed attempts, while the membership changes and the
	// history is compacted: the resumed watch gets 410 Gone.
	_, w0 := api.Requests()
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0")))
	api.Apply(sl("default", "web", "b", "IPv4", ep("web-5", true, true, "10.0.0.5")))
	api.Compact()
	time.Sleep(150 * time.Millisecond)
	api.SetDown(false)
	// The watch opens (the outage ends: the membership held is reported
	// again), then 410 Gone makes it list.
	got := r.next(t)
	if got == "web-0,web-1" {
		got = r.next(t)
	}
	if got != "web-0,web-5" {
		t.Fatalf("after the outage: %q", got)
	}
	r.quiet(t)
	lists, watches := api.Requests()
	if lists != 2 {
		t.Errorf("%d lists, want 2 (one after 410 Gone)", lists)
	}
	if watches < w0+2 {
		t.Errorf("watches %d → %d, want the 410 and a new watch", w0, watches)
	}
	if a, b := r.logCount("cannot watch"), r.logCount("the API server answers again"); a != 1 || b != 1 {
		t.Errorf("outage logged %d times, recovery %d times, want once each; logs: %q", a, b, r.logs)
	}
}

func TestAPISourceForbidden(t *testing.T) {
	api := apitest.Start()
	defer api.Close()
	api.Forbid("system:serviceaccount:prod:zk")
	r := startSource(t, api)
	o := <-r.obs
	var fe *ForbiddenError
	if !errors.As(o.Err, &fe) {
		t.Fatalf("got %+v, want a ForbiddenError", o)
	}
	testenv.WantAll(t, "message", fe.Error(), `namespace "default"`, "kind: Role", `resources: ["endpointslices"]`, `verbs: ["get", "list", "watch"]`,
		"kind: RoleBinding", "  name: zk\n  namespace: prod", "403 Forbidden")
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after 403")
	}
}

func TestAPISourceStartsWhileDown(t *testing.T) {
	api := apitest.Start()
	defer api.Close()
	api.SetDown(true)
	r := startSource(t, api)
	if got := r.next(t); !strings.HasPrefix(got, "error: ") {
		t.Fatalf("got %q, want the error", got)
	}
	time.Sleep(60 * time.Millisecond)
	api.Apply(sl("default", "web", "a", "IPv4", ep("web-0", true, true, "10.0.0.0")))
	api.SetDown(false)
	if got := r.next(t); got != "web-0" {
		t.Fatalf("got %q", got)
	}
	if a := r.logCount("cannot watch"); a != 1 {
		t.Errorf("outage logged %d times", a)
	}
}

func TestPutLatest(t *testing.T) {
	mb := make(chan Observation, 1)
	putLatest(mb, Observation{Err: errors.New("a")})
	putLatest(mb, Observation{Result: SRVResult{Server: "b"}})
	if o := <-mb; o.Result.Server != "b" {
		t.Fatalf("got %+v, want the newest", o)
	}
	putLatest(mb, Observation{Err: &ForbiddenError{Err: errors.New("no")}})
	putLatest(mb, Observation{Result: SRVResult{Server: "c"}})
	var fe *ForbiddenError
	if o := <-mb; !errors.As(o.Err, &fe) {
		t.Fatalf("got %+v, want the ForbiddenError kept", o)
	}
}
