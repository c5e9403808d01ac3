package reconcile

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFinalizerChange(t *testing.T) {
	one := []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "web-0"}}}
	now := metav1.Now()
	for _, tc := range []struct {
		name     string
		opt, has bool
		deleting bool
		pets     []*corev1.Pod
		want     int
	}{
		{"opt in", true, false, false, one, +1},
		{"present", true, true, false, one, 0},
		{"opt out", false, true, false, one, -1},
		{"not wanted", false, false, false, one, 0},
		{"deleting with pets", true, true, true, one, 0},
		{"deleting done", true, true, true, nil, -1},
		{"deleting without finalizer", true, false, true, one, 0},
	} {
		set := revSet("x")
		if tc.opt {
			set.Annotations = map[string]string{OrderedTeardownAnnotation: "true"}
		}
		if tc.has {
			set.Finalizers = []string{"other", TeardownFinalizer}
		}
		if tc.deleting {
			set.DeletionTimestamp = &now
		}
		if got := finalizerChange(set, tc.pets); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPlanTeardown(t *testing.T) {
	set := revSet("x")
	mk := func(name string, dying bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if dying {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	// Highest ordinal first, by number not by name.
	next, msg := planTeardown(set, []*corev1.Pod{mk("web-2", false), mk("web-10", false), mk("web-9", false)})
	if next == nil || next.Name != "web-10" || msg == "" {
		t.Fatalf("next %v", next)
	}
	// Any terminating pet blocks the next deletion.
	if next, msg := planTeardown(set, []*corev1.Pod{mk("web-0", false), mk("web-1", true)}); next != nil || msg == "" {
		t.Fatalf("deleted %v while web-1 terminates", next)
	}
	if next, msg := planTeardown(set, nil); next != nil || msg != "" {
		t.Fatalf("empty set: %v %q", next, msg)
	}
}
