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
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + set})
	if err != nil {
		cancel()
		return nil, err
	}
	r := &stepRecorder{created: map[string]time.Time{}, ready: map[string]time.Time{}, gone: map[string]time.Time{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			now := time.Now()
			r.mu.Lock()
			if ev.Type == watch.Deleted {
				r.gone[pod.Name] = now
				r.mu.Unlock()
				continue
			}
			if _, seen := r.created[pod.Name]; !seen {
				r.created[pod.Name] = now
			}
			if _, seen := r.ready[pod.Name]; !seen && plane.PodReady(pod) {
				r.ready[pod.Name] = now
			}
			r.mu.Unlock()
		}
	}()
	return r, nil
}

// finishedAt stops the recorder and returns when the watch showed a scale
// from..to done: the last of pets 0..to-1 Ready (up) or the last of pets
// to..from-1 gone (down); false if the watch did not show them all.
func (r *stepRecorder) finishedAt(set string, from, to int) (time.Time, bool) {
	r.stop()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	seen, lo, hi := r.ready, 0, to
	if to < from {
		seen, lo, hi = r.gone, to, from
	}
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
	return last, hi > lo
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
