package bench

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	} {
		got, ok := Median(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Median(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Errorf("Median sorted its input: %v", in)
	}
}

func TestMedianRow(t *testing.T) {
	r := MedianRow("x", []float64{1, 2, 3}, []float64{4, 4}, Number)
	want := Row{Metric: "x", Kennel: "2", Upstream: "4", Ratio: "0.50x", Note: "median of 3 / 2"}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	r = MedianRow("x", nil, []float64{1}, Number)
	if r.Kennel != "n/a" || r.Ratio != "n/a" {
		t.Errorf("missing side: %+v", r)
	}
	for _, ab := range [][2]float64{{1, 0}, {1, -1}, {-1, 1}} {
		if got := Ratio(ab[0], ab[1], true, true); got != "n/a" {
			t.Errorf("Ratio(%v, %v) = %q, want n/a", ab[0], ab[1], got)
		}
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[float64]string{
		0.0004567: "457µs", 0.4567891: "456.8ms", 2.34567: "2.35s", 12.345: "12.3s",
	} {
		if got := Seconds(in); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRequestTotals(t *testing.T) {
	metrics := `# HELP apiserver_request_total x
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 99
apiserver_request_total{code="201",component="apiserver",dry_run="All",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kennel.dev",resource="petsets",scope="resource",subresource="status",verb="PUT",version="v1"} 3
apiserver_request_duration_seconds_bucket{verb="POST",le="1"} 8
`
	got := parseRequestTotals([]byte(metrics))
	want := map[string]float64{"POST pods": 9, "PATCH pods/status": 5, "PUT petsets/status": 3}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if n := controllerWrites(got); n != 12 {
		t.Errorf("controllerWrites = %v, want 12 (pods POST, petsets/status)", n)
	}
}

func TestAnalyzeStdin(t *testing.T) {
	want := []string{"web-0.x", "web-1.x", "web-2.x", "web-10.x"}
	for _, tc := range []struct {
		name, in string
		check    func(stdinFacts) bool
	}{
		{"ordinal with newline", "web-0.x\nweb-1.x\nweb-2.x\nweb-10.x\n", func(f stdinFacts) bool {
			return f.ordinal && !f.lexical && f.trailingNL && f.readLoop == 4 && f.received == 4 && f.missing == 0
		}},
		{"lexical without newline", "web-0.x\nweb-1.x\nweb-10.x\nweb-2.x", func(f stdinFacts) bool {
			return !f.ordinal && f.lexical && !f.trailingNL && f.readLoop == 3 && f.received == 4
		}},
		{"missing and extra", "web-0.x\nweb-9.x\n", func(f stdinFacts) bool {
			return !f.ordinal && f.missing == 3 && f.extra == 1 && f.received == 2
		}},
		{"empty", "", func(f stdinFacts) bool { return f.received == 0 && f.missing == 4 && !f.lexical }},
	} {
		if f := analyzeStdin(tc.in, want); !tc.check(f) {
			t.Errorf("%s: %+v", tc.name, f)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	WriteMarkdown(&b, []Section{{Title: "T", Rows: []Row{{Metric: "a|b", Kennel: "1", Upstream: "2", Ratio: "0.50x"}}, Notes: []string{"line\n  two"}}})
	out := b.String()
	for _, want := range []string{"### T\n", "| a\\|b | 1 | 2 | 0.50x |  |\n", "- line two\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestStepRecorderSteps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	done := make(chan struct{})
	close(done)
	r := &stepRecorder{
		created: map[string]time.Time{"s-0": at(0), "s-1": at(120), "s-2": at(300)},
		ready:   map[string]time.Time{"s-0": at(100), "s-1": at(250)}, // s-2 never Ready
		stop:    func() {}, done: done,
	}
	react, toReady, ready := r.steps("s", 3, at(-50))
	if want := []float64{0.15, 0.3}; !near(ready, want) {
		t.Errorf("ready = %v, want %v", ready, want)
	}
	if want := []float64{0.02, 0.05}; !near(react, want) {
		t.Errorf("react = %v, want %v", react, want)
	}
	if want := []float64{0.1, 0.13}; !near(toReady, want) {
		t.Errorf("toReady = %v, want %v", toReady, want)
	}
}

func TestStepRecorderFinishedAt(t *testing.T) {
	defer func(lag time.Duration) { watchLag = lag }(watchLag)
	watchLag = 0 // nothing more will come
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	done := make(chan struct{})
	close(done)
	r := &stepRecorder{
		ready: map[string]time.Time{"s-0": at(-500), "s-1": at(250), "s-2": at(180)},
		gone:  map[string]time.Time{"s-2": at(400), "s-1": at(700)},
		stop:  func() {}, done: done,
	}
	for _, tc := range []struct {
		from, to int
		want     time.Time
		ok       bool
	}{
		{0, 3, at(250), true},      // the last of 0..2 Ready
		{1, 2, at(250), true},      // a pet Ready before the scale counts too
		{0, 4, time.Time{}, false}, // s-3 never seen Ready
		{3, 1, at(700), true},      // the last of 1..2 gone
		{3, 0, time.Time{}, false}, // s-0 never seen gone
	} {
		got, ok := r.finishedAt("s", tc.from, tc.to)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%d→%d: finishedAt = %v, %v; want %v, %v", tc.from, tc.to, got, ok, tc.want, tc.ok)
		}
	}
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-9 || d < -1e-9 {
			return false
		}
	}
	return true
}

func TestCountAudit(t *testing.T) {
	lines := strings.Join([]string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"delete","user":{"username":"system:admin"},"userAgent":"kennel-controller/v0.0.0 (linux/amd64) kubernetes/$Format","objectRef":{"resource":"pods","namespace":"b","name":"s0-1","apiVersion":"v1"},"responseStatus":{"code":200}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"delete","user":{"username":"kwok"},"userAgent":"kwok/v0.7.0","objectRef":{"resource":"pods","namespace":"b","name":"s0-1","apiVersion":"v1"},"responseStatus":{"code":404}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"delete","user":{"username":"system:serviceaccount:kube-system:statefulset-controller"},"userAgent":"kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:statefulset-controller","objectRef":{"resource":"pods","namespace":"b","name":"s0-2","apiVersion":"v1"},"responseStatus":{"code":200}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"create","user":{"username":"system:kube-scheduler"},"userAgent":"kube-scheduler/v1.37.2","objectRef":{"resource":"pods","subresource":"binding","namespace":"b","name":"s0-2","apiVersion":"v1"},"responseStatus":{"code":201}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseStarted","verb":"delete","user":{"username":"kwok"},"userAgent":"kwok/v0.7.0","objectRef":{"resource":"pods","namespace":"b","name":"s0-3","apiVersion":"v1"}}`,
	}, "\n") + "\n"
	got, err := countAudit([]byte(lines))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"DELETE pods by kennel-controller 200":      1,
		"DELETE pods by kwok 404":                   1,
		"DELETE pods by statefulset-controller 200": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v (bindings and unfinished requests left out)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestSetControllerWrites(t *testing.T) {
	writes := map[string]float64{"DELETE pods": 290, "PUT petsets/status": 40, "PUT endpoints": 45}
	for _, tc := range []struct {
		name string
		pods map[string]float64
		want float64
	}{
		{"no audit log: every pod delete", nil, 330},
		{"audit log: the controller's own", map[string]float64{
			"DELETE pods by kennel-controller 200": 100, "DELETE pods by kwok 200": 100, "DELETE pods by kwok 404": 90,
		}, 140},
	} {
		if got := setControllerWrites(sample{writes: writes, pods: tc.pods}, kennelClient); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestControllerScenarios(t *testing.T) {
	for _, tc := range []struct {
		claims string
		want   []string // names, in order
		err    bool
	}{
		{"", []string{"OrderedReady scale 0→10, until all Ready", "OrderedReady scale 10→0, until all gone",
			"Parallel scale 0→100, until all Ready", "Parallel scale 100→0, until all gone"}, false},
		{"without", []string{"OrderedReady scale 0→10, until all Ready", "OrderedReady scale 10→0, until all gone",
			"Parallel scale 0→100 without claims, until all Ready", "Parallel scale 100→0 without claims, until all gone"}, false},
		{"both", []string{"OrderedReady scale 0→10, until all Ready", "OrderedReady scale 10→0, until all gone",
			"Parallel scale 0→100, until all Ready", "Parallel scale 100→0, until all gone",
			"Parallel scale 0→100 without claims, until all Ready", "Parallel scale 100→0 without claims, until all gone"}, false},
		{"some", nil, true},
	} {
		got, err := controllerScenarios(ControllerConfig{OrderedSizes: []int{0, 10}, Parallel: []int{100}, ParallelClaims: tc.claims})
		if (err != nil) != tc.err {
			t.Fatalf("%q: error %v, want error %v", tc.claims, err, tc.err)
		}
		var names []string
		for _, sc := range got {
			names = append(names, sc.name)
			if strings.Contains(sc.name, "without claims") != sc.shape.noClaims {
				t.Errorf("%q: %s has noClaims %v", tc.claims, sc.name, sc.shape.noClaims)
			}
		}
		if strings.Join(names, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: scenarios %q, want %q", tc.claims, names, tc.want)
		}
	}
	got, err := controllerScenarios(ControllerConfig{Parallel: []int{100, 0, 1000}, ParallelClaims: "with"})
	var names []string
	for _, sc := range got {
		names = append(names, fmt.Sprintf("%s (%d→%d)", sc.name, sc.from, sc.to))
	}
	want := "Parallel scale 0→100, until all Ready (0→100)|Parallel scale 100→0, until all gone (100→0)|" +
		"Parallel scale 0→1000, until all Ready (0→1000)|Parallel scale 1000→0, until all gone (1000→0)"
	if err != nil || strings.Join(names, "|") != want {
		t.Errorf("two Parallel sizes: %q, %v; want %q", names, err, want)
	}
	ss := statefulSet("s", setShape{noClaims: true})
	if len(ss.Spec.VolumeClaimTemplates) != 0 || len(ss.Spec.Template.Spec.Containers[0].VolumeMounts) != 0 {
		t.Errorf("a set without claims has claim templates or volume mounts: %+v", ss.Spec)
	}
}

func TestParseManySets(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []manySpec
		err  bool
	}{
		{nil, nil, false},
		{[]string{""}, nil, false},
		{[]string{"200x5", "1000x1"}, []manySpec{{200, 5}, {1000, 1}}, false},
		{[]string{"200x5x"}, nil, true},
		{[]string{"200"}, nil, true},
		{[]string{"0x5"}, nil, true},
		{[]string{"200x0"}, nil, true},
		{[]string{"200x5", "ten"}, nil, true},
	} {
		got, err := parseManySets(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseManySets(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
