package reconcile

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func TestPacerDelay(t *testing.T) {
	key := cache.ObjectName{Namespace: "default", Name: "web"}
	for _, tc := range []struct {
		name  string
		took  time.Duration // the last pass
		after time.Duration // from its end to the event
		want  time.Duration
	}{
		{"short pass", 9 * time.Millisecond, 0, 0},
		{"long pass, at once", 100 * time.Millisecond, 0, 200 * time.Millisecond},
		{"long pass, later", 100 * time.Millisecond, 150 * time.Millisecond, 50 * time.Millisecond},
		{"long pass, long ago", 100 * time.Millisecond, 200 * time.Millisecond, 0},
		{"very long pass", 10 * time.Second, 0, maxPace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			p := newPacer(clock)
			start := clock.Now()
			clock.Step(tc.took)
			p.passDone(key, start)
			clock.Step(tc.after)
			if got := p.delay(key); got != tc.want {
				t.Errorf("delay %v, want %v", got, tc.want)
			}
			if other := (cache.ObjectName{Namespace: "default", Name: "db"}); p.delay(other) != 0 {
				t.Error("another set's events delayed")
			}
			p.forget(key)
			if got := p.delay(key); got != 0 {
				t.Errorf("delay %v after forget", got)
			}
		})
	}
}

// An event during a pass waits the pace of the last pass, from when it
// arrives, even once that pace is over.
func TestPacerDelayDuringPass(t *testing.T) {
	key := cache.ObjectName{Namespace: "default", Name: "web"}
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	p := newPacer(clock)
	p.passStart(key)
	if got := p.delay(key); got != 0 {
		t.Fatalf("delay %v during a first pass, want 0 (nothing known yet)", got)
	}
	start := clock.Now()
	clock.Step(100 * time.Millisecond)
	p.passDone(key, start)
	clock.Step(time.Second)
	p.passStart(key)
	if got, want := p.delay(key), 200*time.Millisecond; got != want {
		t.Fatalf("delay %v during a pass after a 100 ms one, want %v", got, want)
	}
	start = clock.Now()
	clock.Step(time.Millisecond)
	p.passDone(key, start)
	p.passStart(key)
	if got := p.delay(key); got != 0 {
		t.Fatalf("delay %v during a pass after a short one, want 0", got)
	}
}

// slowControl is a SetControl whose passes take a while on the fake clock.
type slowControl struct {
	clock  *fakeClock
	took   time.Duration
	during func() // called within the pass
}

func (s *slowControl) Sync(context.Context, *kennelv1.PetSet, []*corev1.Pod) (time.Duration, error) {
	s.clock.Step(s.took)
	if s.during != nil {
		s.during()
	}
	return 0, nil
}

// After a long pass of a Parallel set, its pod events reach the queue
// later; its own changes, the events of a set whose passes are short and
// those of an OrderedReady set, at once.
func TestPodEventsPacedAfterLongPass(t *testing.T) {
	big, small := newSet("big", 1000, appsv1.ParallelPodManagement), newSet("small", 1, appsv1.ParallelPodManagement)
	ordered := newSet("ordered", 1000, appsv1.OrderedReadyPodManagement)
	f := newFixture(t, []*kennelv1.PetSet{big, small, ordered})
	clock := f.c.clock.(*fakeClock)
	ctx := context.Background()
	pass := func(set *kennelv1.PetSet, took time.Duration) {
		f.c.control = &slowControl{clock: clock, took: took}
		f.c.queue.Add(setKey(set))
		if !f.c.processNext(ctx) {
			t.Fatal("queue shut down")
		}
	}
	pass(big, 100*time.Millisecond)
	pass(small, time.Millisecond)
	pass(ordered, 100*time.Millisecond)
	f.c.addPod(pod("ordered-1", map[string]string{"app": "ordered"}, ordered))
	if n := f.c.queue.Len(); n != 1 {
		t.Fatalf("queue length %d after a long pass of an OrderedReady set, want its pod event at once", n)
	}
	k, _ := f.c.queue.Get()
	f.c.queue.Done(k)

	f.c.addPod(pod("big-1", map[string]string{"app": "big"}, big))
	if n := f.c.queue.Len(); n != 0 {
		t.Fatalf("queue length %d right after a long pass, want the pod event delayed", n)
	}
	f.c.addPod(pod("small-0", map[string]string{"app": "small"}, small))
	if n := f.c.queue.Len(); n != 1 {
		t.Fatalf("queue length %d, want the small set at once", n)
	}
	newer := big.DeepCopy()
	newer.Generation++
	newer.ResourceVersion = "2"
	f.c.updateSet(big, newer)
	if n := f.c.queue.Len(); n != 2 {
		t.Fatalf("queue length %d, want a change of the set itself at once", n)
	}
	for range 2 {
		k, _ := f.c.queue.Get()
		f.c.queue.Done(k)
	}

	clock.Step(200 * time.Millisecond)
	f.c.addPod(pod("big-2", map[string]string{"app": "big"}, big))
	if n := f.c.queue.Len(); n != 1 {
		t.Fatalf("queue length %d once the pace is over, want 1", n)
	}

	// An event during a long pass does not start the next pass as soon
	// as this one ends.
	f.c.control = &slowControl{clock: clock, took: 100 * time.Millisecond, during: func() {
		f.c.addPod(pod("big-3", map[string]string{"app": "big"}, big))
	}}
	if !f.c.processNext(ctx) {
		t.Fatal("queue shut down")
	}
	if n := f.c.queue.Len(); n != 0 {
		t.Fatalf("queue length %d right after a pass that saw an event, want it delayed", n)
	}
}
