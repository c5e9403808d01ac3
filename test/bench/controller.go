package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	"github.com/kennel-dev/kennel/test/plane"
)

// ControllerConfig configures the controller comparison.
type ControllerConfig struct {
	// Controller is kennel's controller binary.
	Controller string
	// PlaneBin is the directory of the plane's binaries.
	PlaneBin string
	// CRD is the PetSet CRD manifest.
	CRD string
	// Rounds is how many times each scenario alternates between the two.
	Rounds int
	Nodes  int
	// OrderedSizes are the OrderedReady scale-ups (0→N) to run.
	OrderedSizes []int
	// Parallel are the Parallel scale-up sizes (0→N); none skips them.
	Parallel []int
	// ParallelClaims says whether the Parallel sets have a claim template:
	// "with" (default), "without", or "both" (each scenario twice).
	ParallelClaims string
	// CachedPods are the stages of the memory scenario (memory.go); none
	// skips it. BaselineController, if set, is measured beside kennel's.
	CachedPods         []int
	BaselineController string
	// ManySets, each "SETSxPETS" (e.g. "200x5"), run the many-sets
	// scenario (manysets.go) once per entry; none skips it.
	ManySets []string
	// UpstreamApart runs the StatefulSet controller in a
	// kube-controller-manager of its own (plane.Options.StatefulSetApart), so
	// its CPU and memory are measured, not estimated.
	UpstreamApart bool
	// Audit logs the pod creates and deletes (audit.go) and reports them
	// by client and response code.
	Audit bool
	// ChartDir receives an SVG chart of pets Ready over time per scale-up
	// scenario (chart.go); empty: none.
	ChartDir string
	Dir      string
	Logf     func(format string, args ...any)
}

// The client rate limits of kennel's controller are set to the plane's
// kube-controller-manager's, so neither side is throttled more.
const (
	apiQPS   = "100"
	apiBurst = "200"
)

// scenario is one timed change of one set.
type scenario struct {
	name     string
	shape    setShape
	from, to int
	timeout  time.Duration
}

// setShape is what a side's set looks like: its pod management policy,
// and whether it has the benchmark's claim template.
type setShape struct {
	policy   appsv1.PodManagementPolicyType
	noClaims bool
}

// sample is what one run of one scenario on one side measured.
type sample struct {
	elapsed time.Duration
	writes  map[string]float64 // API write requests by "VERB resource[/sub]"
	cpu     cpuTimes
	// steps are, in an OrderedReady scale-up, the times from pet i Ready
	// to pet i+1 created.
	steps []float64
	// toReady are the times from pet created to pet Ready (same runs).
	toReady []float64
	// ready are, in a scale-up, the times after the scale began at which
	// each pet was first seen Ready (the charts).
	ready []float64
	// pods are the pod creates and deletes by client and response code
	// (ControllerConfig.Audit only).
	pods map[string]float64
	err  error
}

type side interface {
	name() string
	create(ctx context.Context, ns, name string, shape setShape) error
	scale(ctx context.Context, ns, name string, n int) error
}

// Controller starts a plane and kennel's controller, runs every scenario
// alternately on kennel's PetSet and the upstream StatefulSet, and returns
// the tables. An error means the suite could not run at all.
func Controller(ctx context.Context, c ControllerConfig) ([]Section, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	many, err := parseManySets(c.ManySets)
	if err != nil {
		return nil, err
	}
	// kwok's nodes take 250 pods each (test/plane/stages/node.yaml).
	for _, m := range many {
		c.Nodes = max(c.Nodes, (m.sets*m.pets+1)/200+1)
	}
	for _, n := range c.Parallel {
		c.Nodes = max(c.Nodes, n/200+1)
	}
	popts := plane.Options{BinDir: c.PlaneBin, Nodes: c.Nodes, DataDir: filepath.Join(c.Dir, "plane"), StatefulSetApart: c.UpstreamApart}
	var audit *auditTail
	if c.Audit {
		args, log, err := plane.AuditArgs(filepath.Join(c.Dir, "audit"), benchAuditPolicy)
		if err != nil {
			return nil, err
		}
		popts.ExtraArgs = map[string][]string{"kube-apiserver": args}
		audit = &auditTail{tail: plane.AuditTail{Path: log}}
		c.Logf("controller: auditing pod creates and deletes to %s", log)
	}
	c.Logf("controller: starting the plane (%d nodes)", c.Nodes)
	p, err := plane.Start(ctx, popts)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	kc, err := servePetSets(ctx, p, c.CRD)
	if err != nil {
		return nil, err
	}
	ctl, err := startController(ctx, c.Controller, p.Kubeconfig(), filepath.Join(c.Dir, "controller.log"))
	if err != nil {
		return nil, err
	}
	defer ctl.stop()
	pids := p.Pids()
	kcmPid, stsPid, apiPid := pids["kube-controller-manager"], pids[plane.StatefulSetProcess], pids["kube-apiserver"]
	if kcmPid == 0 || apiPid == 0 || c.UpstreamApart && stsPid == 0 {
		return nil, fmt.Errorf("a plane process the harness measures is missing: %v", pids)
	}
	b := &benchRun{p: p, ctl: ctl, kcmPid: kcmPid, stsPid: stsPid, apiPid: apiPid, c: c, audit: audit, sides: []side{kennelSide{p.Client(), kc}, upstreamSide{p.Client()}}}
	if slices.ContainsFunc(c.Parallel, func(n int) bool { return n > 0 }) {
		loop, err := newLoopSide(p)
		if err != nil {
			return nil, err
		}
		b.sides = append(b.sides, loop)
	}
	scenarios, err := controllerScenarios(c)
	if err != nil {
		return nil, err
	}
	if err := b.warmUp(ctx); err != nil {
		return nil, err
	}
	results, err := b.rounds(ctx, scenarios)
	if err != nil {
		return nil, err
	}
	b.charts(scenarios, results)
	rss, hwm, _ := memoryKiB(ctl.cmd.Process.Pid)
	upRSS, _, _ := memoryKiB(cmp.Or(stsPid, kcmPid))
	sections := append(controllerSections(scenarios, results, rss, hwm, upRSS, c), limitSection(scenarios, results))
	for _, m := range many {
		sections = append(sections, b.manySets(ctx, m.sets, m.pets))
	}
	if slices.ContainsFunc(c.CachedPods, func(n int) bool { return n > 0 }) {
		sections = append(sections, cachedPodsMemory(ctx, p, c))
	}
	return sections, nil
}

// charts writes the scale-ups' charts of pets Ready over time
// (ControllerConfig.ChartDir); a failure is logged, not fatal.
func (b *benchRun) charts(scenarios []scenario, results []map[string][]sample) {
	var names []string
	for _, s := range b.sides {
		names = append(names, s.name())
	}
	if charts, err := writeReadyCharts(b.c.ChartDir, scenarios, results, names); err != nil {
		b.c.Logf("controller: charts: %v", err)
	} else if len(charts) > 0 {
		b.c.Logf("controller: charts in %s", b.c.ChartDir)
	}
}

// servePetSets applies the CRD and waits until the PetSet API is served.
func servePetSets(ctx context.Context, p *plane.Plane, crd string) (versioned.Interface, error) {
	if out, err := kubectl(p, "apply", "--server-side", "-f", crd); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	kc, err := versioned.NewForConfig(p.RESTConfig())
	if err != nil {
		return nil, err
	}
	// The PetSet API is served once the CRD is Established.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := kc.KennelV1().PetSets(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		if err == nil {
			return kc, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("PetSet API not served 1m after applying the CRD: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// controllerScenarios are the timed scenarios, each scale-up followed by
// the scale-down of the same set.
func controllerScenarios(c ControllerConfig) ([]scenario, error) {
	var scenarios []scenario
	ordered := setShape{policy: appsv1.OrderedReadyPodManagement}
	for _, n := range c.OrderedSizes {
		if n <= 0 {
			continue
		}
		scenarios = append(scenarios,
			scenario{name: fmt.Sprintf("OrderedReady scale 0→%d, until all Ready", n), shape: ordered, from: 0, to: n, timeout: time.Duration(n)*15*time.Second + time.Minute},
			scenario{name: fmt.Sprintf("OrderedReady scale %d→0, until all gone", n), shape: ordered, from: n, to: 0, timeout: time.Duration(n)*15*time.Second + time.Minute})
	}
	var variants []bool // noClaims
	switch c.ParallelClaims {
	case "", "with":
		variants = []bool{false}
	case "without":
		variants = []bool{true}
	case "both":
		variants = []bool{false, true}
	default:
		return nil, fmt.Errorf("parallel claims %q: want with, without or both", c.ParallelClaims)
	}
	for _, n := range c.Parallel {
		if n <= 0 {
			continue
		}
		// 1000 pets take about 3 minutes on 2 cores; allow five times the pace.
		timeout := max(5*time.Minute, time.Duration(n)*time.Second)
		for _, noClaims := range variants {
			shape, what := setShape{policy: appsv1.ParallelPodManagement, noClaims: noClaims}, ""
			if noClaims {
				what = " without claims"
			}
			scenarios = append(scenarios,
				scenario{name: fmt.Sprintf("Parallel scale 0→%d%s, until all Ready", n, what), shape: shape, from: 0, to: n, timeout: timeout},
				scenario{name: fmt.Sprintf("Parallel scale %d→0%s, until all gone", n, what), shape: shape, from: n, to: 0, timeout: timeout})
		}
	}
	return scenarios, nil
}

// benchRun is one controller comparison on one plane.
type benchRun struct {
	p      *plane.Plane
	ctl    *controllerProc
	kcmPid int
	stsPid int // the StatefulSet controller's own process; 0 unless c.UpstreamApart
	apiPid int
	c      ControllerConfig
	sides  []side
	audit  *auditTail // nil unless c.Audit
}

// warmUp, not measured: each side scales a small set up and down once, so
// first-use costs (kube-controller-manager's service-account tokens, API
// server caches, kwok's node state) land in no measured round.
func (b *benchRun) warmUp(ctx context.Context) error {
	ordered := setShape{policy: appsv1.OrderedReadyPodManagement}
	warm := []scenario{
		{name: "warm-up", shape: ordered, from: 0, to: 2, timeout: 2 * time.Minute},
		{name: "warm-up", shape: ordered, from: 2, to: 0, timeout: 2 * time.Minute},
	}
	for _, s := range b.sides {
		ns := "bench-warmup-" + s.name()
		if err := createNamespace(ctx, b.p.Client(), ns); err != nil {
			return err
		}
		if err := s.create(ctx, ns, "w", ordered); err != nil {
			return fmt.Errorf("%s: warm-up: %w", s.name(), err)
		}
		for _, sc := range warm {
			if r := b.run(ctx, s, ns, "w", sc); r.err != nil {
				return fmt.Errorf("%s: warm-up scale to %d: %w", s.name(), sc.to, r.err)
			}
		}
		if err := deleteNamespace(ctx, b.p.Client(), ns); err != nil {
			b.c.Logf("controller: %v", err)
		}
	}
	b.c.Logf("controller: warm-up done")
	return nil
}

// rounds runs every scenario on every side, alternating sides, each side
// in a fresh namespace per round. It returns results[scenario][side name].
func (b *benchRun) rounds(ctx context.Context, scenarios []scenario) ([]map[string][]sample, error) {
	results := make([]map[string][]sample, len(scenarios))
	for i := range results {
		results[i] = map[string][]sample{}
	}
	seq := 0
	for round := 1; round <= b.c.Rounds; round++ {
		for _, s := range b.sides {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			seq++
			ns := fmt.Sprintf("bench-%d-%s", seq, s.name())
			if err := createNamespace(ctx, b.p.Client(), ns); err != nil {
				return nil, err
			}
			if err := b.roundOn(ctx, s, ns, round, scenarios, results); err != nil {
				return nil, err
			}
			if err := deleteNamespace(ctx, b.p.Client(), ns); err != nil {
				b.c.Logf("controller: %v", err)
			}
		}
	}
	return results, nil
}

// roundOn runs the scenarios once on one side: each scale-up and the
// scale-down that follows it share a set.
func (b *benchRun) roundOn(ctx context.Context, s side, ns string, round int, scenarios []scenario, results []map[string][]sample) error {
	for i := 0; i < len(scenarios); i += 2 {
		up, down := scenarios[i], scenarios[i+1]
		if _, loop := s.(loopSide); loop && up.shape.policy != appsv1.ParallelPodManagement {
			continue // the client loop is the limit of Parallel scales only
		}
		set := fmt.Sprintf("s%d", i/2)
		if err := s.create(ctx, ns, set, up.shape); err != nil {
			return fmt.Errorf("%s: create %s/%s: %w", s.name(), ns, set, err)
		}
		time.Sleep(time.Second) // let the controllers see the empty set
		r := b.run(ctx, s, ns, set, up)
		results[i][s.name()] = append(results[i][s.name()], r)
		b.c.Logf("controller %s round %d: %s: %s %v", s.name(), round, up.name, r.elapsed.Round(time.Millisecond), r.err)
		if r.err != nil {
			return nil // the scale-down of a set that did not come up means nothing
		}
		r = b.run(ctx, s, ns, set, down)
		results[i+1][s.name()] = append(results[i+1][s.name()], r)
		b.c.Logf("controller %s round %d: %s: %s %v", s.name(), round, down.name, r.elapsed.Round(time.Millisecond), r.err)
	}
	return nil
}

// run times one scenario on one side.
func (b *benchRun) run(ctx context.Context, s side, ns, set string, sc scenario) sample {
	p, ctl := b.p, b.ctl
	before, err := requestCounts(ctx, p)
	if err != nil {
		return sample{err: err}
	}
	if b.audit != nil {
		if _, err := b.audit.counts(); err != nil { // skip what came before
			return sample{err: err}
		}
	}
	rec, err := recordSteps(ctx, p.Client(), ns, set)
	if err != nil {
		return sample{err: err}
	}
	cpu0 := b.cpuNow()
	t0 := time.Now()
	var r sample
	if err := s.scale(ctx, ns, set, sc.to); err != nil {
		r.err = err
	} else {
		r.err = waitPets(ctx, p.Client(), ns, set, sc.to, sc.timeout)
	}
	r.elapsed = time.Since(t0)
	r.cpu = b.cpuNow().since(cpu0)
	// The time is the watch's, when it showed every pet: the polling
	// above only confirms the end, 100 ms at a time.
	if at, ok := rec.finishedAt(set, sc.from, sc.to); ok && r.err == nil && at.After(t0) {
		r.elapsed = at.Sub(t0)
	} else if r.err == nil {
		b.c.Logf("controller %s: %s: the watch did not show every pet; the time is the poll's", s.name(), sc.name)
	}
	if sc.to > sc.from {
		r.steps, r.toReady, r.ready = rec.steps(set, sc.to, t0)
		if sc.shape.policy != appsv1.OrderedReadyPodManagement {
			r.steps, r.toReady = nil, nil // steps mean something only in order
		}
	}
	after, err := requestCounts(ctx, p)
	if err != nil && r.err == nil {
		r.err = err
	}
	r.writes = map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			r.writes[k] = d
		}
	}
	if b.audit != nil {
		if r.pods, err = b.audit.counts(); err != nil && r.err == nil {
			r.err = err
		}
		b.c.Logf("controller %s: %s: pod creates and deletes: %s", s.name(), sc.name, auditBreakdown(r.pods))
	}
	if ctl.exited() {
		r.err = errors.Join(r.err, fmt.Errorf("kennel's controller exited; log tail:\n%s", tail(ctl.log(), 20)))
	}
	if r.err != nil {
		var buf bytes.Buffer
		plane.DumpObjects(ctx, &buf, p.Client(), ns)
		r.err = fmt.Errorf("%w\n%s", r.err, tail(buf.String(), 40))
	}
	return r
}

// waitPets waits until the set has exactly n pods, all Ready and none
// terminating (n == 0: no pods at all).
func waitPets(ctx context.Context, c kubernetes.Interface, ns, set string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + set})
		if err == nil {
			ready, terminating := 0, 0
			for i := range pods.Items {
				if pods.Items[i].DeletionTimestamp != nil {
					terminating++
				} else if plane.PodReady(&pods.Items[i]) {
					ready++
				}
			}
			if len(pods.Items) == n && ready == n {
				return nil
			}
			last = fmt.Sprintf("%d pods, %d Ready, %d terminating, want %d Ready", len(pods.Items), ready, terminating, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done within %s: %s", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requestCounts reads apiserver_request_total from the API server's
// /metrics and sums the write requests (POST, PUT, PATCH, DELETE, APPLY)
// by "VERB resource[/subresource]".
func requestCounts(ctx context.Context, p *plane.Plane) (map[string]float64, error) {
	b, err := p.Client().CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read API server metrics: %w", err)
	}
	return parseRequestTotals(b), nil
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true, "DELETECOLLECTION": true}

func parseRequestTotals(b []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '}')
		if i < 0 {
			continue
		}
		labels := parseLabels(rest[:i])
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+1:]), 64)
		if err != nil || !writeVerbs[labels["verb"]] || labels["dry_run"] != "" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		out[key] += v
	}
	return out
}

// parseLabels parses `a="x",b="y"` (label values here hold no quotes).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		v, rest2, _ := strings.Cut(rest, `"`)
		out[strings.TrimPrefix(k, ",")] = v
		s = strings.TrimPrefix(rest2, ",")
	}
	return out
}

// controllerWrites are the requests a set controller makes: pets and
// claims created and deleted, set status written, revisions recorded.
func controllerWrites(w map[string]float64) float64 {
	var n float64
	for k, v := range w {
		verb, res, _ := strings.Cut(k, " ")
		switch {
		case res == "pods" && (verb == "POST" || verb == "DELETE" || verb == "PATCH" || verb == "PUT"),
			res == "persistentvolumeclaims" && verb == "POST",
			strings.HasPrefix(res, "statefulsets/status"), strings.HasPrefix(res, "petsets/status"),
			strings.HasPrefix(res, "controllerrevisions"):
			n += v
		}
	}
	return n
}

// setControllerWrites are the set controller's writes in a sample. With
// the audit log, its pod creates and deletes are those the client sent
// (kwok's deletes of terminating pods left out); without, every pod
// create and delete counts.
func setControllerWrites(s sample, client string) float64 {
	if s.pods == nil {
		return controllerWrites(s.writes)
	}
	w := maps.Clone(s.writes)
	delete(w, "POST pods")
	delete(w, "DELETE pods")
	n := controllerWrites(w)
	for k, v := range s.pods {
		if strings.Contains(k, " by "+client+" ") {
			n += v
		}
	}
	return n
}

// setWritesNote says what the set controller's writes count.
func setWritesNote(audit bool) string {
	pods := "Pod creates and deletes are those the set controller sent (client " + kennelClient + " or " + upstreamClient + " in the API server's audit log): kwok's deletes of terminating pods are left out."
	if !audit {
		pods = "Pod DELETEs also include kwok's deletes of terminating pods (BENCH_AUDIT=0: no audit log tells them apart); kwok sends one or two per pod, the second a 404, and how many of those land before the measurement ends varies from run to run."
	}
	return "Set controller's writes: pods created/deleted/patched/updated, claims created, set status, controller revisions. " + pods +
		" The harness's own scale PATCH and writes by the scheduler (pods/binding), kwok (pods/status, nodes, leases, pod deletes) and the PV controller are in 'all writes'."
}

func sumWrites(w map[string]float64) float64 {
	var n float64
	for _, v := range w {
		n += v
	}
	return n
}

func controllerSections(scenarios []scenario, results []map[string][]sample, rss, hwm, upRSS float64, c ControllerConfig) []Section {
	timing := Section{Title: "controller: kennel PetSet vs upstream StatefulSet controller (same plane)"}
	writes := Section{Title: "controller: API write requests per pet (apiserver_request_total deltas)"}
	cpu := Section{Title: "controller: CPU during the scenarios"}
	for i, sc := range scenarios {
		k, u := results[i]["kennel"], results[i]["upstream"]
		pets := float64(max(sc.from, sc.to))
		var tk, tu, wk, wu, ak, au []float64
		var sk, su, rk, ru []float64
		var cpuK, cpuU []cpuTimes
		for _, s := range k {
			sk = append(sk, s.steps...)
			rk = append(rk, s.toReady...)
			if s.err != nil {
				timing.Notes = append(timing.Notes, fmt.Sprintf("kennel, %s: FAILED: %s", sc.name, firstLine(s.err.Error())))
				timing.Failures++
				continue
			}
			tk = append(tk, s.elapsed.Seconds())
			wk = append(wk, setControllerWrites(s, kennelClient)/pets)
			ak = append(ak, sumWrites(s.writes)/pets)
			cpuK = append(cpuK, s.cpu)
		}
		for _, s := range u {
			su = append(su, s.steps...)
			ru = append(ru, s.toReady...)
			if s.err != nil {
				timing.Notes = append(timing.Notes, fmt.Sprintf("upstream, %s: FAILED: %s", sc.name, firstLine(s.err.Error())))
				timing.Failures++
				continue
			}
			tu = append(tu, s.elapsed.Seconds())
			wu = append(wu, setControllerWrites(s, upstreamClient)/pets)
			au = append(au, sumWrites(s.writes)/pets)
			cpuU = append(cpuU, s.cpu)
		}
		timing.Rows = append(timing.Rows, MedianRow(sc.name, tk, tu, Seconds))
		if len(sk)+len(su) > 0 {
			timing.Rows = append(timing.Rows,
				MedianRow(sc.name+": step, pet i Ready → pet i+1 created", sk, su, Seconds),
				MedianRow(sc.name+": pet created → pet Ready", rk, ru, Seconds))
		}
		writes.Rows = append(writes.Rows,
			MedianRow(sc.name+": set controller's writes", wk, wu, Number),
			MedianRow(sc.name+": all writes, every component", ak, au, Number))
		cpu.Rows = append(cpu.Rows,
			MedianRow(sc.name+": controller CPU seconds", kennelCPU(cpuK), upstreamCPU(cpuK, cpuU, c.UpstreamApart), Seconds),
			MedianRow(sc.name+": kube-controller-manager CPU seconds (raw)", kcmCPU(cpuK), kcmCPU(cpuU), Seconds),
			MedianRow(sc.name+": kube-apiserver CPU seconds", apiCPU(cpuK), apiCPU(cpuU), Seconds))
		if len(k) > 0 && len(u) > 0 && k[len(k)-1].err == nil && u[len(u)-1].err == nil {
			writes.Notes = append(writes.Notes, fmt.Sprintf("%s, last round, by verb and resource (kennel / upstream): %s",
				sc.name, writeBreakdown(k[len(k)-1].writes, u[len(u)-1].writes)))
		}
		if note := auditNote(sc.name, results[i]); note != "" {
			writes.Notes = append(writes.Notes, note)
		}
	}
	timing.Notes = append(timing.Notes,
		fmt.Sprintf("One plane (%d kwok nodes) for both; every set has one 1Gi volumeClaimTemplate (hostpath provisioner, Immediate binding; none in the scenarios 'without claims') and a headless Service; each side scales its own set in a fresh namespace, alternating kennel, upstream, kennel, upstream.", c.Nodes),
		"kwok moves a scheduled pod to Running and Ready with no simulated delay and removes a terminating pod at once (test/plane/stages/pod.yaml); both controllers see the same node and pod simulation.",
		"kennel's controller runs as its own process with --kube-api-qps="+apiQPS+" --kube-api-burst="+apiBurst+" (the plane's kube-controller-manager's limits) and --leader-elect=false; "+upstreamProcessNote(c.UpstreamApart),
		"Times run from the scale request to the pod watch's event that showed the last pet Ready (scale-ups) or gone (scale-downs), by the harness's clock; polling the pods every 100 ms (LIST requests, so not in the write counts) confirms that end state. Runs before 2026-12-05 05:30 UTC took the poll's time, up to 100 ms late.",
		"Steps (OrderedReady scale-ups only) are timed by a pod watch with the harness's clock: from the watch event showing pet i Ready to the event showing pet i+1; one sample per step over all rounds. They hold the controller's reaction (informer event, sync, claim and pod creates). 'Pet created → pet Ready' is the rest of each step: scheduling, claim binding and kwok, outside the set controller.")
	writes.Notes = append(writes.Notes,
		setWritesNote(c.Audit),
		"ControllerRevision writes (both controllers record the template's revisions) count as the set controller's.")
	rssRow := Row{Metric: "RSS after all scenarios", Kennel: MiB(rss) + " (peak " + MiB(hwm) + ")",
		Upstream: MiB(upRSS) + " (whole kube-controller-manager)", Ratio: "n/a"}
	if c.UpstreamApart {
		rssRow.Upstream, rssRow.Ratio = MiB(upRSS)+" (its own kube-controller-manager)", Ratio(rss, upRSS, rss > 0, upRSS > 0)
	}
	cpu.Rows = append(cpu.Rows, rssRow)
	cpu.Notes = append(cpu.Notes, upstreamCPUNote(c.UpstreamApart), apiCPUNote,
		"kennel's controller also runs (idle, with its informers) during the upstream runs, and the StatefulSet controller during kennel's; neither is counted there.",
		"kennel's figure is the CPU of the whole kennel controller process (informers for PetSets, pods, claims and Services included). CPU is read from /proc/PID/stat in 10 ms ticks.")
	return []Section{timing, writes, cpu}
}

func writeBreakdown(k, u map[string]float64) string {
	keys := map[string]bool{}
	for key := range k {
		keys[key] = true
	}
	for key := range u {
		keys[key] = true
	}
	sorted := make([]string, 0, len(keys))
	for key := range keys {
		sorted = append(sorted, key)
	}
	sort.Strings(sorted)
	parts := make([]string, 0, len(sorted))
	for _, key := range sorted {
		parts = append(parts, fmt.Sprintf("%s %g/%g", key, k[key], u[key]))
	}
	return strings.Join(parts, ", ")
}

func kubectl(p *plane.Plane, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(p.BinDir(), "kubectl"), append([]string{"--kubeconfig=" + p.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func createNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	// The namespace's default ServiceAccount is needed before pods can be
	// created.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: no default ServiceAccount after 1m", ns)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteNamespace deletes ns and waits until it and the volumes of its
// claims are gone, so that its clean-up does not run during the next
// measurement.
func deleteNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	return deleteNamespaceWithin(ctx, c, ns, 3*time.Minute)
}

// deleteNamespaceWithin is deleteNamespace waiting up to timeout. The
// claims go with the namespace, but the controller manager deletes their
// released volumes afterwards (of 200, 57 were left when their namespace
// was gone, for 5 s more); without this wait the next round would share
// the plane with that work, and the side measured first would be the only
// one that never does.
func deleteNamespaceWithin(ctx context.Context, c kubernetes.Interface, ns string, timeout time.Duration) error {
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s still there %s after delete", ns, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for {
		n, err := volumesOf(ctx, c, ns)
		if err == nil && n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s gone, but %d volumes of its claims still there %s after delete (%v)", ns, n, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// volumesOf counts the PersistentVolumes bound, or once bound, to claims
// in namespace ns.
func volumesOf(ctx context.Context, c kubernetes.Interface, ns string) (int, error) {
	pvs, err := c.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pvs.Items {
		if ref := pvs.Items[i].Spec.ClaimRef; ref != nil && ref.Namespace == ns {
			n++
		}
	}
	return n, nil
}

func headlessService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 map[string]string{"app": name},
			Ports:                    []corev1.ServicePort{{Name: "peer", Port: 7000, Protocol: corev1.ProtocolTCP}},
		},
	}
}

// statefulSet is the set both sides run: zero replicas, one container, one
// 1Gi claim template (none if shape.noClaims).
func statefulSet(name string, shape setShape) *appsv1.StatefulSet {
	lbls := map[string]string{"app": name}
	zero, grace := int32(0), int64(1)
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &zero,
			ServiceName:         name,
			PodManagementPolicy: shape.policy,
			Selector:            &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name:         "app",
						Image:        "registry.invalid/kennel/simulated:latest", // never pulled: nodes are simulated
						Ports:        []corev1.ContainerPort{{Name: "peer", ContainerPort: 7000}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					},
				},
			}},
		},
	}
	if shape.noClaims {
		ss.Spec.VolumeClaimTemplates = nil
		ss.Spec.Template.Spec.Containers[0].VolumeMounts = nil
	}
	return ss
}

func scalePatch(n int) []byte { return fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n) }

type upstreamSide struct{ c kubernetes.Interface }

func (upstreamSide) name() string { return "upstream" }

func (s upstreamSide) create(ctx context.Context, ns, name string, shape setShape) error {
	if _, err := s.c.CoreV1().Services(ns).Create(ctx, headlessService(name), metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := s.c.AppsV1().StatefulSets(ns).Create(ctx, statefulSet(name, shape), metav1.CreateOptions{})
	return err
}

func (s upstreamSide) scale(ctx context.Context, ns, name string, n int) error {
	_, err := s.c.AppsV1().StatefulSets(ns).Patch(ctx, name, types.MergePatchType, scalePatch(n), metav1.PatchOptions{})
	return err
}

type kennelSide struct {
	core kubernetes.Interface
	c    versioned.Interface
}

func (kennelSide) name() string { return "kennel" }

func (s kennelSide) create(ctx context.Context, ns, name string, shape setShape) error {
	if _, err := s.core.CoreV1().Services(ns).Create(ctx, headlessService(name), metav1.CreateOptions{}); err != nil {
		return err
	}
	ss := statefulSet(name, shape)
	set := &kennelv1.PetSet{
		ObjectMeta: ss.ObjectMeta,
		Spec: kennelv1.PetSetSpec{
			Replicas: ss.Spec.Replicas, Selector: ss.Spec.Selector, Template: ss.Spec.Template,
			VolumeClaimTemplates: ss.Spec.VolumeClaimTemplates, ServiceName: ss.Spec.ServiceName,
			PodManagementPolicy: ss.Spec.PodManagementPolicy,
		},
	}
	_, err := s.c.KennelV1().PetSets(ns).Create(ctx, set, metav1.CreateOptions{})
	return err
}

func (s kennelSide) scale(ctx context.Context, ns, name string, n int) error {
	_, err := s.c.KennelV1().PetSets(ns).Patch(ctx, name, types.MergePatchType, scalePatch(n), metav1.PatchOptions{})
	return err
}

// controllerProc is kennel's controller running against the plane.
type controllerProc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startController(ctx context.Context, bin, kubeconfig, logPath string) (*controllerProc, error) {
	health, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig, "--leader-elect=false",
		"--kube-api-qps="+apiQPS, "--kube-api-burst="+apiBurst,
		"--metrics-bind-address="+metrics, "--health-probe-bind-address="+health)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &controllerProc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(c.done) }()
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+health+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if c.exited() || time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("kennel's controller not ready; log tail:\n%s", tail(c.log(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *controllerProc) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *controllerProc) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

func (c *controllerProc) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
