package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kennel-dev/kennel/test/plane"
)

// The memory scenario: kennel's controller's memory as the pods it caches
// grow. Pods are created in one namespace in stages (0, then each of
// CachedPods); at each stage every measured controller binary is started
// afresh, so its informers list and cache them all, and its VmRSS is read
// once it is ready and has settled. The pods are pet-like and run on kwok
// nodes added for them (250 pods each), so they carry what a running pet
// carries: the scheduler's and kwok's status, conditions and managed
// fields. They have no claims (the provisioner would be the bottleneck).
// Binaries: kennel's, and a baseline (an earlier build,
// BENCH_BASELINE_REV) when one is given.

// memorySettle is how long a started controller runs before its RSS is read.
const memorySettle = 5 * time.Second

// cachedPodsMemory runs the memory scenario and returns its table.
func cachedPodsMemory(ctx context.Context, p *plane.Plane, c ControllerConfig) Section {
	sec := Section{Title: "controller: memory as the cached pods grow (VmRSS after the informers' initial list)",
		Columns: [2]string{"kennel", "baseline"}}
	bins := []string{c.Controller, c.BaselineController}
	if c.BaselineController == "" {
		sec.Columns[1] = "(no baseline)"
		bins = bins[:1]
	}
	const ns = "bench-memory"
	if err := createNamespace(ctx, p.Client(), ns); err != nil {
		sec.Failures++
		sec.Notes = append(sec.Notes, "FAILED: "+err.Error())
		return sec
	}
	defer func() {
		if err := deleteNamespace(ctx, p.Client(), ns); err != nil {
			c.Logf("controller: %v", err)
		}
	}()
	stages := []int{0}
	for _, n := range c.CachedPods {
		if n > 0 {
			stages = append(stages, n)
		}
	}
	if err := addNodesFor(ctx, p, c.Nodes, slices.Max(stages)); err != nil {
		sec.Failures++
		sec.Notes = append(sec.Notes, "FAILED: "+err.Error())
		return sec
	}
	rss := make([][]float64, len(bins)) // KiB per binary per stage
	created := 0
	for _, n := range stages {
		if err := createRunningPods(ctx, p.Client(), ns, created, n); err != nil {
			sec.Failures++
			sec.Notes = append(sec.Notes, fmt.Sprintf("FAILED: creating %d pods: %v", n, err))
			break
		}
		created = max(created, n)
		for i, bin := range bins {
			kib, err := settledRSS(ctx, bin, p.Kubeconfig(), filepath.Join(c.Dir, fmt.Sprintf("memory-%d-%d.log", i, n)))
			if err != nil {
				sec.Failures++
				sec.Notes = append(sec.Notes, fmt.Sprintf("FAILED: %s with %d pods: %v", bin, n, err))
				kib = -1
			}
			c.Logf("controller memory: %s with %d pods cached: %.0f KiB", filepath.Base(bin), n, kib)
			rss[i] = append(rss[i], kib)
		}
	}
	sec.Rows = memoryRows(stages, rss)
	sec.Notes = append(sec.Notes,
		"Each figure is one fresh start of the binary: VmRSS "+memorySettle.String()+" after it reports ready (informers synced), with the pods of the stage in one namespace it watches. Per pod: (RSS at the stage − RSS with none) / pods.",
		"The pods run on kwok nodes (Running, Ready, with the scheduler's and kwok's status and managed fields, as pets on a node), without claims.")
	return sec
}

// memoryRows are the RSS and per-pod rows, kennel against the baseline.
func memoryRows(stages []int, rss [][]float64) []Row {
	var rows []Row
	cellOf := func(b, i int) (string, float64, bool) {
		if b >= len(rss) || i >= len(rss[b]) || rss[b][i] < 0 {
			return "", 0, false
		}
		return MiB(rss[b][i]), rss[b][i], true
	}
	for i, n := range stages {
		k, kv, okK := cellOf(0, i)
		u, uv, okU := cellOf(1, i)
		rows = append(rows, Row{Metric: fmt.Sprintf("VmRSS with %d pods cached", n), Kennel: k, Upstream: u, Ratio: Ratio(kv, uv, okK, okU)})
		if n == 0 {
			continue
		}
		_, k0, okK0 := cellOf(0, 0)
		_, u0, okU0 := cellOf(1, 0)
		perK, perU := (kv-k0)*1024/float64(n), (uv-u0)*1024/float64(n)
		okK, okU = okK && okK0, okU && okU0
		row := Row{Metric: fmt.Sprintf("bytes per cached pod, 0→%d", n), Ratio: Ratio(perK, perU, okK, okU)}
		if okK {
			row.Kennel = fmt.Sprintf("%.0f", perK)
		}
		if okU {
			row.Upstream = fmt.Sprintf("%.0f", perU)
		}
		rows = append(rows, row)
	}
	return rows
}

// settledRSS starts the controller, waits until it is ready and settled,
// and returns its VmRSS in KiB.
func settledRSS(ctx context.Context, bin, kubeconfig, logPath string) (float64, error) {
	ctl, err := startController(ctx, bin, kubeconfig, logPath)
	if err != nil {
		return 0, err
	}
	defer ctl.stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(memorySettle):
	}
	rss, _, err := memoryKiB(ctl.cmd.Process.Pid)
	return rss, err
}

// createRunningPods creates pods from..to-1 in the namespace, eight at a
// time, and waits until every pod of the namespace is Running.
func createRunningPods(ctx context.Context, c kubernetes.Interface, ns string, from, to int) error {
	var todo []func() error
	for i := from; i < to; i++ {
		todo = append(todo, func() error {
			_, err := c.CoreV1().Pods(ns).Create(ctx, cachedPod(i), metav1.CreateOptions{FieldManager: "kennel-bench"})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
	}
	if err := inParallel(8, todo); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// From the watch cache: the pods not Running yet.
		pending, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Running", ResourceVersion: "0"})
		if err == nil && len(pending.Items) == 0 {
			return nil
		}
		if err == nil && time.Now().After(deadline) {
			err = fmt.Errorf("%d of %d pods not Running after 5m (e.g. %s: %s)", len(pending.Items), to, pending.Items[0].Name, pending.Items[0].Status.Phase)
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// addNodesFor adds kwok nodes after the plane's first `have`, enough for
// `pods` more pods (250 each) beside the sets of the other scenarios.
func addNodesFor(ctx context.Context, p *plane.Plane, have, pods int) error {
	for i := have; i < have+pods/250+1; i++ {
		if err := p.AddNode(ctx, i); err != nil {
			return fmt.Errorf("adding kwok node %d: %w", i, err)
		}
	}
	return nil
}

// cachedPod is a pet-like pod: the benchmark set's container and labels
// like a pet's, an emptyDir where a pet mounts its claim.
func cachedPod(i int) *corev1.Pod {
	tmpl := statefulSet("mem", setShape{}).Spec.Template
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mem-%d", i), Labels: map[string]string{
			"app": "mem", "apps.kubernetes.io/pod-index": fmt.Sprint(i), "statefulset.kubernetes.io/pod-name": fmt.Sprintf("mem-%d", i)}},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	pod.Spec.Hostname, pod.Spec.Subdomain = pod.Name, "mem"
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	return pod
}
