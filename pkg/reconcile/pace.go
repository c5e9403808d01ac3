package reconcile

import (
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
)

// Pacing.
//
// Under a burst of pod events (a Parallel scale of hundreds of pets) a
// Parallel set would be synced back to back: every pass walks all its pets and
// writes the counts that changed since the one before, so the passes, and
// the cost of each, grow with the pets. A pod event that arrives less than
// pace after the end of the set's last pass is delivered when that time
// is up, and the events in between fold into one pass; one that arrives
// during a pass waits pace too, rather than start the next pass as soon as
// this one ends. pace is paceFactor
// times the last pass's duration, at most maxPace; a pass shorter than
// minPaced is not paced, so a small set reacts at once. OrderedReady sets
// change one pet at a time, their events come a pet's start-up apart, and
// a step waits on each: they are never paced, and neither are changes of
// the set itself.
const (
	paceFactor = 2
	minPaced   = 10 * time.Millisecond
	maxPace    = 500 * time.Millisecond
)

// pacer remembers, per set, how long its last pass took, when it ended
// and whether a pass is running.
type pacer struct {
	clock Clock
	mu    sync.Mutex
	sets  map[cache.ObjectName]*paced
}

type paced struct {
	took     time.Duration
	end      time.Time
	inFlight bool
}

func newPacer(clock Clock) *pacer {
	return &pacer{clock: clock, sets: map[cache.ObjectName]*paced{}}
}

// passStart records that a pass of the set began.
func (p *pacer) passStart(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sets[key]; s != nil {
		s.inFlight = true
	}
}

// passDone records a pass of the set that ran from start until now.
func (p *pacer) passDone(key cache.ObjectName, start time.Time) {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if took := now.Sub(start); took >= minPaced {
		p.sets[key] = &paced{took: took, end: now}
	} else {
		delete(p.sets, key)
	}
}

// delay returns how long a pod event of the set waits: the pace if a pass
// is running (the workqueue would otherwise run the next one right after
// it), what is left of it after the last pass, or zero if that pass was
// short.
func (p *pacer) delay(key cache.ObjectName) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sets[key]
	if s == nil {
		return 0
	}
	pace := min(paceFactor*s.took, maxPace)
	if s.inFlight {
		return pace
	}
	return max(0, s.end.Add(pace).Sub(p.clock.Now()))
}

// forget drops what is known of a set that is gone.
func (p *pacer) forget(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sets, key)
}
