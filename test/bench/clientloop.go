package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kennel-dev/kennel/test/plane"
)

// loopSide is the limit of a Parallel scale: no controller, a bare client
// loop with the controllers' client limits (apiQPS, apiBurst) that creates
// each pet's claim and then the pet, loopWorkers at a time, or deletes the
// pets. Its time is what the API server, scheduler, volume binder and kwok
// allow; a controller's time is reported as a multiple of it.
type loopSide struct {
	c kubernetes.Interface
	// shapes holds the shape each set was created with, by "ns/name".
	shapes *sync.Map
}

// loopWorkers is how many pets the loop creates at once.
const loopWorkers = 16

func newLoopSide(p *plane.Plane) (loopSide, error) {
	cfg := p.RESTConfig()
	qps, _ := strconv.ParseFloat(apiQPS, 32)
	burst, _ := strconv.Atoi(apiBurst)
	cfg.QPS, cfg.Burst = float32(qps), burst
	c, err := kubernetes.NewForConfig(cfg)
	return loopSide{c: c, shapes: &sync.Map{}}, err
}

func (loopSide) name() string { return "client-loop" }

func (s loopSide) create(ctx context.Context, ns, name string, shape setShape) error {
	s.shapes.Store(ns+"/"+name, shape)
	_, err := s.c.CoreV1().Services(ns).Create(ctx, headlessService(name), metav1.CreateOptions{})
	return err
}

// scale creates the missing pets up to n (claim first), or deletes those
// at n and above.
func (s loopSide) scale(ctx context.Context, ns, name string, n int) error {
	pods, err := s.c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range pods.Items {
		have[p.Name] = true
	}
	var todo []func() error
	for i := range max(n, len(pods.Items)) {
		pet := fmt.Sprintf("%s-%d", name, i)
		switch {
		case i < n && !have[pet]:
			todo = append(todo, func() error { return s.createPet(ctx, ns, name, i) })
		case i >= n && have[pet]:
			todo = append(todo, func() error {
				err := s.c.CoreV1().Pods(ns).Delete(ctx, pet, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			})
		}
	}
	return inParallel(loopWorkers, todo)
}

// createPet creates pet i of the set as a controller would: its claim from
// the benchmark template (if the set has one), then the pod with the set's
// template.
func (s loopSide) createPet(ctx context.Context, ns, name string, i int) error {
	shape := setShape{policy: appsv1.ParallelPodManagement}
	if v, ok := s.shapes.Load(ns + "/" + name); ok {
		shape = v.(setShape)
	}
	ss := statefulSet(name, shape)
	pet := fmt.Sprintf("%s-%d", name, i)
	pod := &corev1.Pod{ObjectMeta: *ss.Spec.Template.ObjectMeta.DeepCopy(), Spec: *ss.Spec.Template.Spec.DeepCopy()}
	pod.Name = pet
	pod.Spec.Hostname, pod.Spec.Subdomain = pet, name
	for _, tmpl := range ss.Spec.VolumeClaimTemplates {
		claim := tmpl.DeepCopy()
		claim.Name = tmpl.Name + "-" + pet
		claim.Labels = map[string]string{"app": name}
		if _, err := s.c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name}}})
	}
	_, err := s.c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	return err
}

// inParallel runs the functions, workers at a time, and returns the first
// error.
func inParallel(workers int, fns []func() error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan func() error)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fn := range next {
				if err := fn(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, fn := range fns {
		next <- fn
	}
	close(next)
	wg.Wait()
	return first
}

// limitSection sets kennel's Parallel times beside the client loop's.
func limitSection(scenarios []scenario, results []map[string][]sample) Section {
	sec := Section{Title: "controller: Parallel scale against its limit, a bare client loop (same plane, same client limits)",
		Columns: [2]string{"kennel", "client loop"}}
	for i, sc := range scenarios {
		loop, ok := results[i]["client-loop"]
		if !ok {
			continue
		}
		var tk, tl []float64
		for _, s := range results[i]["kennel"] {
			if s.err == nil {
				tk = append(tk, s.elapsed.Seconds())
			}
		}
		for _, s := range loop {
			if s.err != nil {
				sec.Failures++
				sec.Notes = append(sec.Notes, fmt.Sprintf("client loop, %s: FAILED: %s", sc.name, firstLine(s.err.Error())))
				continue
			}
			tl = append(tl, s.elapsed.Seconds())
		}
		sec.Rows = append(sec.Rows, MedianRow(sc.name, tk, tl, Seconds))
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("The client loop creates each pet's claim (if the set has a claim template), then the pet (same template, hostname and claim volume), %d pets at a time, with the controllers' client limits (%s QPS, burst %s); on a scale-down it deletes the pets. No controller acts on its pods. Its time is the limit the plane sets; the ratio is kennel's time as a multiple of it.", loopWorkers, apiQPS, apiBurst))
	return sec
}
