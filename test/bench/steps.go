package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kennel-dev/kennel/test/plane"
)

// stepRecorder watches a set's pods and notes, by the harness's clock, when
// each pet was first seen and first seen Ready. API timestamps have only
// second resolution, too coarse for steps of a few hundred milliseconds.
type stepRecorder struct {
	mu      sync.Mutex
	created map[string]time.Time
	ready   map[string]time.Time
	gone    map[string]time.Time
	stop    context.CancelFunc
	done    chan struct{}
}

func recordSteps(ctx context.Context, c kubernetes.Interface, ns, set string) (*stepRecorder, error) {
	ctx, cancel := context.WithCancel(ctx)
	selector := "app=" + set
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		cancel()
		return nil, err
	}
	// A watch the API server closes (a slow consumer in a burst of
	// thousands of events) is opened again from the last event seen.
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return c.CoreV1().Pods(ns).Watch(ctx, o)
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	r := &stepRecorder{created: map[string]time.Time{}, ready: map[string]time.Time{}, gone: map[string]time.Time{}, stop: cancel, done: make(chan struct{})}
	for i := range list.Items {
		r.observe(watch.Added, &list.Items[i], time.Now())
	}
	go func() {
		defer close(r.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				r.observe(ev.Type, pod, time.Now())
			}
		}
	}()
	return r, nil
}

// observe records what one watch event shows of a pod.
func (r *stepRecorder) observe(typ watch.EventType, pod *corev1.Pod, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if typ == watch.Deleted {
		r.gone[pod.Name] = now
		return
	}
	if _, seen := r.created[pod.Name]; !seen {
		r.created[pod.Name] = now
	}
	if _, seen := r.ready[pod.Name]; !seen && plane.PodReady(pod) {
		r.ready[pod.Name] = now
	}
}

// finishedAt returns when the watch showed a scale from..to done: the last
// of pets 0..to-1 Ready (up) or the last of pets to..from-1 gone (down).
// Called once polling has seen the end, it gives the watch, which may lag
// behind in a burst, up to watchLag to show it, then stops the recorder;
// false if the watch did not show every pet.
func (r *stepRecorder) finishedAt(set string, from, to int) (time.Time, bool) {
	defer func() { r.stop(); <-r.done }()
	seen, lo, hi := r.ready, 0, to
	if to < from {
		seen, lo, hi = r.gone, to, from
	}
	for deadline := time.Now().Add(watchLag); ; time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		last, all := lastOf(seen, set, lo, hi)
		r.mu.Unlock()
		if all || time.Now().After(deadline) {
			return last, all && hi > lo
		}
	}
}

// watchLag is how long the step watch may lag behind polling.
var watchLag = 10 * time.Second

// lastOf returns the latest time in seen of pets lo..hi-1 of the set, and
// whether every one is there.
func lastOf(seen map[string]time.Time, set string, lo, hi int) (time.Time, bool) {
	var last time.Time
	for i := lo; i < hi; i++ {
		at, ok := seen[fmt.Sprintf("%s-%d", set, i)]
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, true
}

// steps stops the recorder and returns, for i in [0, n-1), the time from
// pet i seen Ready to pet i+1 seen created (the controller's reaction in an
// OrderedReady scale-up), for i in [0, n) the time from pet i seen created
// to seen Ready (scheduler, claim binding, kwok), and the times after start
// at which each pet was seen Ready.
func (r *stepRecorder) steps(set string, n int, start time.Time) (react, toReady, ready []float64) {
	r.stop()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	var readyAt []float64
	for i := 0; i < n; i++ {
		created, okC := r.created[fmt.Sprintf("%s-%d", set, i)]
		ready, okR := r.ready[fmt.Sprintf("%s-%d", set, i)]
		if okC && okR {
			toReady = append(toReady, ready.Sub(created).Seconds())
		}
		if okR {
			readyAt = append(readyAt, ready.Sub(start).Seconds())
		}
		next, okN := r.created[fmt.Sprintf("%s-%d", set, i+1)]
		if i+1 < n && okR && okN {
			react = append(react, next.Sub(ready).Seconds())
		}
	}
	return react, toReady, readyAt
}
