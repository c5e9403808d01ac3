package bench

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kennel-dev/kennel/test/plane"
)

// The many-sets scenario (each entry of ManySets, "200x5"): that many sets
// of that many pets each, with claims, created at once in one namespace (a
// headless Service, the set with 0 replicas, then the scale, eight sets at
// a time);
// timed until every pet is Ready. Right after the burst's last set is
// created, a small set (1 pet) is created too: its time to Ready shows
// whether a set waits behind the burst in the controller's queue.

// manySpec is one entry of ControllerConfig.ManySets.
type manySpec struct{ sets, pets int }

// parseManySets parses "SETSxPETS" entries; empty entries are skipped.
func parseManySets(specs []string) ([]manySpec, error) {
	var out []manySpec
	for _, spec := range specs {
		if spec == "" {
			continue
		}
		var m manySpec
		var rest string
		n, _ := fmt.Sscanf(spec, "%dx%d%s", &m.sets, &m.pets, &rest)
		if n != 2 || m.sets < 1 || m.pets < 1 {
			return nil, fmt.Errorf("many sets %q: want SETSxPETS, e.g. 200x5", spec)
		}
		out = append(out, m)
	}
	return out, nil
}

// manySample is one run of the many-sets scenario on one side.
type manySample struct {
	elapsed, probe time.Duration
	cpu            cpuTimes
	err            error
}

// manySets runs the scenario c.ManySets times rounds, alternating sides.
func (b *benchRun) manySets(ctx context.Context, sets, pets int) Section {
	title := fmt.Sprintf("%d sets × %d pets created at once (claims, OrderedReady), until all Ready", sets, pets)
	results := map[string][]manySample{}
	for round := 1; round <= b.c.Rounds; round++ {
		for _, s := range b.sides {
			if _, loop := s.(loopSide); loop {
				continue
			}
			ns := fmt.Sprintf("bench-many-%d-%s", round, s.name())
			if err := createNamespace(ctx, b.p.Client(), ns); err != nil {
				results[s.name()] = append(results[s.name()], manySample{err: err})
				continue
			}
			r := b.manyOnce(ctx, s, ns, sets, pets)
			b.c.Logf("controller %s round %d: %s: %s (probe %s) %v", s.name(), round, title, r.elapsed.Round(time.Millisecond), r.probe.Round(time.Millisecond), r.err)
			results[s.name()] = append(results[s.name()], r)
			// Each set's teardown is its own sync: a thousand sets take minutes.
			if err := deleteNamespaceWithin(ctx, b.p.Client(), ns, max(3*time.Minute, time.Duration(sets)*600*time.Millisecond)); err != nil {
				b.c.Logf("controller: %v", err)
			}
		}
	}
	return manySection(title, results, b.c.UpstreamApart)
}

// manyOnce creates the burst and the probe set on one side and waits.
func (b *benchRun) manyOnce(ctx context.Context, s side, ns string, sets, pets int) manySample {
	var r manySample
	cpu0 := b.cpuNow()
	t0 := time.Now()
	if err := createSets(ctx, s, ns, sets, pets); err != nil {
		r.err = err
		return r
	}
	tp := time.Now()
	if err := s.create(ctx, ns, "probe", setShape{policy: appsv1.OrderedReadyPodManagement}); err != nil {
		r.err = err
		return r
	}
	if err := s.scale(ctx, ns, "probe", 1); err != nil {
		r.err = err
		return r
	}
	timeout := 15 * time.Minute
	if r.err = waitPets(ctx, b.p.Client(), ns, "probe", 1, timeout); r.err != nil {
		return r
	}
	r.probe = time.Since(tp)
	r.err = waitAllReady(ctx, b.p.Client(), ns, sets*pets+1, timeout)
	r.elapsed = time.Since(t0)
	r.cpu = b.cpuNow().since(cpu0)
	return r
}

// createSets creates sets m000… with pets each, eight at a time.
func createSets(ctx context.Context, s side, ns string, sets, pets int) error {
	var todo []func() error
	for i := range sets {
		name := fmt.Sprintf("m%03d", i)
		todo = append(todo, func() error {
			if err := s.create(ctx, ns, name, setShape{policy: appsv1.OrderedReadyPodManagement}); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := s.scale(ctx, ns, name, pets); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	return inParallel(8, todo)
}

// waitAllReady waits until the namespace holds n pods, all Ready.
func waitAllReady(ctx context.Context, c kubernetes.Interface, ns string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err == nil {
			ready := 0
			for i := range pods.Items {
				if pods.Items[i].DeletionTimestamp == nil && plane.PodReady(&pods.Items[i]) {
					ready++
				}
			}
			if ready == n {
				return nil
			}
			last = fmt.Sprintf("%d pods, %d Ready, want %d", len(pods.Items), ready, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done within %s: %s", timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// manySection is the scenario's table.
func manySection(title string, results map[string][]manySample, apart bool) Section {
	sec := Section{Title: "controller: many sets at once"}
	pick := func(side string, f func(manySample) float64) []float64 {
		var out []float64
		for _, r := range results[side] {
			if r.err == nil {
				out = append(out, f(r))
			}
		}
		return out
	}
	row := func(metric string, f func(manySample) float64, format func(float64) string) Row {
		return MedianRow(metric, pick("kennel", f), pick("upstream", f), format)
	}
	cpuOf := func(side string) []cpuTimes {
		var out []cpuTimes
		for _, r := range results[side] {
			if r.err == nil {
				out = append(out, r.cpu)
			}
		}
		return out
	}
	cpuK, cpuU := cpuOf("kennel"), cpuOf("upstream")
	cpuMetric := "controller CPU seconds (upstream: estimate)"
	if apart {
		cpuMetric = "controller CPU seconds"
	}
	sec.Rows = []Row{
		row(title, func(r manySample) float64 { return r.elapsed.Seconds() }, Seconds),
		row("a 1-pet set created right after the burst: its time to Ready", func(r manySample) float64 { return r.probe.Seconds() }, Seconds),
		MedianRow(cpuMetric, kennelCPU(cpuK), upstreamCPU(cpuK, cpuU, apart), Seconds),
		MedianRow("kube-controller-manager CPU seconds (raw)", kcmCPU(cpuK), kcmCPU(cpuU), Seconds),
		MedianRow("kube-apiserver CPU seconds", apiCPU(cpuK), apiCPU(cpuU), Seconds),
	}
	for side, rs := range results {
		for i, r := range rs {
			if r.err != nil {
				sec.Failures++
				sec.Notes = append(sec.Notes, fmt.Sprintf("FAILED: %s round %d: %v", side, i+1, r.err))
			}
		}
	}
	sec.Notes = append(sec.Notes,
		"Times run from the first create to the namespace holding every pet Ready (polled every 500 ms); the probe set's from its create to its pet Ready.",
		"Controller CPU: kennel's process; upstream's as in the CPU table. "+upstreamCPUNote(apart), apiCPUNote)
	return sec
}
