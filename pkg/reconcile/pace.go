package reconcile

import (
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
)

// Pacing.
//
// Under a burst of pod events (a Parallel scale of hundreds of pets) a
// set would be synced back to back: every pass walks all its pets and
// writes the counts that changed since the one before, so the passes, and
// the cost of each, grow with the pets. A pod event that arrives less than
// pace after the end of the set's last pass is delivered when that time
// is up, and the events in between fold into one pass. pace is paceFactor
// times the last pass's duration, at most maxPace; a pass shorter than
// minPaced is not paced, so a small set (and each step of an OrderedReady
// scale-up, whose next event comes a pet's start-up later) reacts at once.
// Changes of the set itself are never paced.
const (
	paceFactor = 2
	minPaced   = 10 * time.Millisecond
	maxPace    = 500 * time.Millisecond
)

// pacer remembers, per set, until when its pod events wait.
type pacer struct {
	clock Clock
	mu    sync.Mutex
	until map[cache.ObjectName]time.Time
}

func newPacer(clock Clock) *pacer {
	return &pacer{clock: clock, until: map[cache.ObjectName]time.Time{}}
}

// passDone records a pass of the set that ran from start until now.
func (p *pacer) passDone(key cache.ObjectName, start time.Time) {
	now := p.clock.Now()
	took := now.Sub(start)
	p.mu.Lock()
	defer p.mu.Unlock()
	if took < minPaced {
		delete(p.until, key)
		return
	}
	p.until[key] = now.Add(min(paceFactor*took, maxPace))
}

// delay returns how long a pod event of the set waits: zero if its last
// pass was short or long enough ago.
func (p *pacer) delay(key cache.ObjectName) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.until[key]
	if !ok {
		return 0
	}
	left := until.Sub(p.clock.Now())
	if left <= 0 {
		delete(p.until, key)
		return 0
	}
	return left
}

// forget drops what is known of a set that is gone.
func (p *pacer) forget(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.until, key)
}
