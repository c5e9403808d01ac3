package framework

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kennel-dev/kennel/test/plane"
)

// PodEvent is one observed change of a pod, in the order of the watch.
type PodEvent struct {
	Seq      int
	Type     watch.EventType
	Name     string
	Phase    corev1.PodPhase
	Ready    bool
	Deleting bool
	At       time.Time
}

func (e PodEvent) String() string {
	return fmt.Sprintf("#%d %s %s phase=%s ready=%v deleting=%v", e.Seq, e.Type, e.Name, e.Phase, e.Ready, e.Deleting)
}

// PodRecorder records every change of the pods matching a label selector,
// as seen by one watch (resumed from the last resourceVersion if the server
// closes it), so tests can check the order of creations and readiness.
type PodRecorder struct {
	mu     sync.Mutex
	events []PodEvent
	err    error
}

// RecordPods starts recording pods of the test's namespace that match
// selector until ctx ends. It returns once the watch is established, so
// changes made afterwards are all seen.
func (f *Framework) RecordPods(ctx context.Context, selector string) *PodRecorder {
	f.T.Helper()
	r := &PodRecorder{}
	pods := f.Client.CoreV1().Pods(f.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		f.T.Fatalf("list pods: %v", err)
	}
	for i := range list.Items {
		r.add(watch.Added, &list.Items[i])
	}
	rv := list.ResourceVersion
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		f.T.Fatalf("watch pods: %v", err)
	}
	go func() {
		for {
			for ev := range w.ResultChan() {
				switch ev.Type {
				case watch.Error:
					r.mu.Lock()
					r.err = fmt.Errorf("watch error: %v", ev.Object)
					r.mu.Unlock()
				case watch.Bookmark:
					if pod, ok := ev.Object.(*corev1.Pod); ok {
						rv = pod.ResourceVersion
					}
				default:
					if pod, ok := ev.Object.(*corev1.Pod); ok {
						rv = pod.ResourceVersion
						r.add(ev.Type, pod)
					}
				}
			}
			if ctx.Err() != nil {
				return
			}
			w, err = pods.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				r.mu.Lock()
				r.err = fmt.Errorf("re-watch pods: %w", err)
				r.mu.Unlock()
				return
			}
		}
	}()
	return r
}

func (r *PodRecorder) add(t watch.EventType, pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, PodEvent{
		Seq: len(r.events), Type: t, Name: pod.Name, Phase: pod.Status.Phase,
		Ready: plane.PodReady(pod), Deleting: pod.DeletionTimestamp != nil, At: time.Now(),
	})
}

// Events returns a copy of the events so far.
func (r *PodRecorder) Events() []PodEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]PodEvent(nil), r.events...)
}

// Err returns a watch error, if one happened.
func (r *PodRecorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// First returns the first event that matches, and whether there is one.
func (r *PodRecorder) First(match func(PodEvent) bool) (PodEvent, bool) {
	for _, e := range r.Events() {
		if match(e) {
			return e, true
		}
	}
	return PodEvent{}, false
}

// Created returns the names of the pods in the order they first appeared.
func (r *PodRecorder) Created() []string {
	var names []string
	seen := map[string]bool{}
	for _, e := range r.Events() {
		if e.Type == watch.Added && !seen[e.Name] {
			seen[e.Name] = true
			names = append(names, e.Name)
		}
	}
	return names
}

// String lists every event, one per line (for failure messages).
func (r *PodRecorder) String() string {
	var b strings.Builder
	for _, e := range r.Events() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}
