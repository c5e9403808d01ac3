package chaos

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Invariant names one guarantee the harness checks.
type Invariant string

// The invariants, in report order.
const (
	InvOrder    Invariant = "ordered-ready"
	InvClaims   Invariant = "claims"
	InvIdentity Invariant = "identity"
	InvRollout  Invariant = "rollout"
	InvLeader   Invariant = "leadership"
	InvConverge Invariant = "convergence"
	InvProcess  Invariant = "processes"
)

// Invariants lists every invariant in report order.
var Invariants = []Invariant{InvOrder, InvClaims, InvIdentity, InvRollout, InvLeader, InvConverge, InvProcess}

// Violation is one broken guarantee.
type Violation struct {
	Inv    Invariant
	Round  int
	At     time.Time
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("round %d %s %s: %s", v.Round, v.At.UTC().Format("15:04:05.000"), v.Inv, v.Detail)
}

// Checker judges a controller from the recorded events and the audit log.
// A controller acts on a cache that lags the store, so a write is judged
// against every state the recorder saw from Lag before it to Ahead after it
// (the recorder's own watch lags too): it is a violation only if no state
// in that window allows it.
type Checker struct {
	Lag, Ahead  time.Duration
	Controllers map[string]bool // users whose writes are the controller's
	Elected     bool            // the controller holds a Lease: check leadership
	OwnerKind   string          // "PetSet" or "StatefulSet"
	Sets        []string

	w           world
	hist        []snapshot
	claimSeen   map[string]bool
	claimExists map[string]bool
	claimFreed  map[string]bool
	identity    map[string]string // user -> Lease identity
	holder      string
	quiet       []quietWindow
	round       int

	mu         sync.Mutex
	violations []Violation
}

type snapshot struct {
	at time.Time
	w  world
}

type quietWindow struct{ from, to time.Time }

// NewChecker returns a checker with the default windows (3s back, 1s
// ahead).
func NewChecker(ownerKind string, sets []string, controllers []string, elected bool) *Checker {
	c := &Checker{
		Lag: 3 * time.Second, Ahead: time.Second,
		Controllers: map[string]bool{}, Elected: elected, OwnerKind: ownerKind, Sets: sets,
		w: newWorld(), claimSeen: map[string]bool{}, claimExists: map[string]bool{},
		claimFreed: map[string]bool{}, identity: map[string]string{},
	}
	for _, u := range controllers {
		c.Controllers[u] = true
	}
	return c
}

// Add records a violation found outside the record (convergence, processes).
// It is safe to call while Feed runs.
func (c *Checker) Add(inv Invariant, round int, at time.Time, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, Violation{Inv: inv, Round: round, At: at, Detail: fmt.Sprintf(format, args...)})
}

// Snapshot returns the violations found so far.
func (c *Checker) Snapshot() []Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Violation(nil), c.violations...)
}

func (c *Checker) addf(inv Invariant, at time.Time, format string, args ...any) {
	c.Add(inv, c.round, at, format, args...)
}

// Quiet declares a span in which every set has settled: the controller must
// not write.
func (c *Checker) Quiet(from, to time.Time) { c.quiet = append(c.quiet, quietWindow{from, to}) }

// Feed checks one batch: the events and writes of a round, each in time
// order, later than those of earlier batches.
func (c *Checker) Feed(round int, evs []event, ws []write) {
	c.round = round
	// Every change of a set's spec, and every pod creation and status
	// write, is in the audit log, stamped when the API server received it;
	// the recorder's watch can miss them while it relists after an API
	// server or etcd restart.
	for _, w := range ws {
		if w.Set != nil {
			evs = append(slices.Clip(evs), event{At: w.At, Set: w.Set})
		}
		if w.Pod != nil {
			if setName, ord, ok := c.owner(w.Pod.Name); ok {
				p := observePod(w.Pod, setName, ord, false)
				evs = append(slices.Clip(evs), event{At: w.At, Pod: &p})
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].At.Before(ws[j].At) })
	for _, e := range evs {
		c.onEvent(e)
	}
	for _, w := range ws {
		c.onWrite(w)
	}
	c.trim()
}

func (c *Checker) onEvent(e event) {
	if p := e.Pod; p != nil && !p.Gone {
		if old, ok := c.w.pods[p.Name]; (!ok || old.UID != p.UID) && p.Owner != c.OwnerKind+"/"+p.Set {
			c.addf(InvIdentity, e.At, "pod %s (uid %s) has controller reference %q, want %s/%s", p.Name, p.UID, p.Owner, c.OwnerKind, p.Set)
		}
	}
	c.w.apply(e)
	c.hist = append(c.hist, snapshot{at: e.At, w: c.w.clone()})
}

// trim keeps the snapshots a later batch can still look back to.
func (c *Checker) trim() {
	if len(c.hist) < 2 {
		return
	}
	cut := c.hist[len(c.hist)-1].at.Add(-2 * c.Lag)
	i := sort.Search(len(c.hist), func(i int) bool { return !c.hist[i].at.Before(cut) })
	if i > 0 {
		c.hist = append([]snapshot(nil), c.hist[i-1:]...)
	}
}

// window returns the states from the last one before t-Lag to t+Ahead.
func (c *Checker) window(t time.Time) []world {
	from, to := t.Add(-c.Lag), t.Add(c.Ahead)
	var out []world
	for i, s := range c.hist {
		if s.at.After(to) {
			break
		}
		if !s.at.Before(from) || i+1 == len(c.hist) || !c.hist[i+1].at.Before(from) {
			out = append(out, s.w)
		}
	}
	if len(out) == 0 {
		out = append(out, c.w)
	}
	return out
}

// anyState reports whether ok holds in some state of the window around t.
func (c *Checker) anyState(t time.Time, ok func(world) bool) bool {
	for _, w := range c.window(t) {
		if ok(w) {
			return true
		}
	}
	return false
}

func (c *Checker) onWrite(w write) {
	if w.Resource == "leases" {
		if w.ok() {
			if w.Holder != "" && c.Controllers[w.User] {
				c.identity[w.User] = w.Holder
			}
			c.holder = w.Holder
		}
		return
	}
	if w.Resource == "persistentvolumeclaims" && w.Subresource == "" && w.ok() {
		c.onClaimWrite(w)
	}
	if !c.Controllers[w.User] {
		return
	}
	if c.Elected && (c.identity[w.User] == "" || c.identity[w.User] != c.holder) {
		c.addf(InvLeader, w.At, "%s %s %s/%s by %s (identity %q) while the Lease is held by %q",
			w.Verb, w.Resource, w.Subresource, w.Name, w.User, c.identity[w.User], c.holder)
	}
	for _, q := range c.quiet {
		if !w.At.Before(q.from) && !w.At.After(q.to) {
			c.addf(InvRollout, w.At, "%s %s/%s %s by %s after the sets had settled", w.Verb, w.Resource, w.Subresource, w.Name, w.User)
		}
	}
	if w.Resource != "pods" || w.Subresource != "" || !w.ok() {
		return
	}
	setName, ord, ok := c.owner(w.Name)
	if !ok {
		return
	}
	switch w.Verb {
	case "create":
		c.checkCreate(w, setName, ord)
	case "delete":
		c.checkDelete(w, setName, ord)
	}
}

// owner finds the set and ordinal of a pet or claim name.
func (c *Checker) owner(name string) (string, int, bool) {
	for _, s := range c.Sets {
		if n, ok := parseOrdinal(name, s); ok {
			return s, n, true
		}
		if n, ok := parseOrdinal(name, claimTemplate+"-"+s); ok {
			return s, n, true
		}
	}
	return "", 0, false
}

func (c *Checker) checkCreate(w write, setName string, ord int) {
	if !c.anyState(w.At, func(s world) bool { return ord < s.sets[setName].Replicas }) {
		c.addf(InvIdentity, w.At, "created %s beyond the set's replicas", w.Name)
	}
	if !c.anyState(w.At, func(s world) bool { return lowerHealthy(s, setName, ord) }) {
		c.addf(InvOrder, w.At, "created %s while a lower pet was not Running and Ready", w.Name)
	}
	if !c.claimExists[claimName(setName, ord)] {
		c.addf(InvClaims, w.At, "created %s before its claim %s", w.Name, claimName(setName, ord))
	}
}

// lowerHealthy: Parallel sets have no order; OrderedReady needs every lower
// pet Running and Ready.
func lowerHealthy(s world, setName string, ord int) bool {
	if s.sets[setName].Parallel {
		return true
	}
	for i := range ord {
		if p, ok := s.pet(setName, i); !ok || !p.healthy() {
			return false
		}
	}
	return true
}

func (c *Checker) checkDelete(w write, setName string, ord int) {
	if c.anyState(w.At, func(s world) bool { return deleteAllowed(s, setName, ord) }) {
		return
	}
	if ord >= c.w.sets[setName].Replicas {
		c.addf(InvOrder, w.At, "deleted %s while a higher pet still existed", w.Name)
		return
	}
	st := c.w.sets[setName]
	c.addf(InvRollout, w.At, "deleted %s (partition %d, maxUnavailable %d, %d other pets unavailable)",
		w.Name, st.Partition, st.MaxUnavailable, unavailableExcept(c.w, setName, ord))
}

// deleteAllowed says whether a controller may delete a pet in state s: a
// finished or already terminating pet; a condemned pet when no higher one
// is left (OrderedReady) or always (Parallel); an in-range pet at or above
// the partition while fewer than maxUnavailable others are unavailable.
func deleteAllowed(s world, setName string, ord int) bool {
	p, ok := s.pet(setName, ord)
	if !ok || p.Terminating || p.Phase == corev1.PodFailed || p.Phase == corev1.PodSucceeded {
		return true
	}
	st := s.sets[setName]
	if ord >= st.Replicas {
		if st.Parallel {
			return true
		}
		for _, q := range s.pods {
			if !q.Gone && q.Set == setName && q.Ordinal > ord {
				return false
			}
		}
		return true
	}
	return ord >= st.Partition && unavailableExcept(s, setName, ord) < max(st.MaxUnavailable, 1)
}

func unavailableExcept(s world, setName string, ord int) int {
	n := 0
	for i := range s.sets[setName].Replicas {
		if i == ord {
			continue
		}
		if p, ok := s.pet(setName, i); !ok || !p.healthy() {
			n++
		}
	}
	return n
}

// onClaimWrite follows claim creations and deletions by anyone: a claim is
// deleted only when its set's retention asks, and created again only after
// such a deletion (so its UID lives as long as the test otherwise).
func (c *Checker) onClaimWrite(w write) {
	setName, ord, ok := c.owner(w.Name)
	if !ok {
		return
	}
	switch w.Verb {
	case "create":
		if c.claimSeen[w.Name] && !c.claimFreed[w.Name] {
			c.addf(InvClaims, w.At, "claim %s created again (new UID) by %s without a deletion its retention allows", w.Name, w.User)
		}
		c.claimSeen[w.Name], c.claimExists[w.Name], c.claimFreed[w.Name] = true, true, false
	case "delete":
		allowed := c.anyState(w.At, func(s world) bool {
			st := s.sets[setName]
			return st.DeleteOnScale && ord >= st.Replicas
		})
		if !allowed {
			c.addf(InvClaims, w.At, "claim %s deleted by %s though its retention keeps it", w.Name, w.User)
		}
		c.claimFreed[w.Name], c.claimExists[w.Name] = true, false
	}
}

// Counts returns the number of violations per invariant.
func (c *Checker) Counts() map[Invariant]int {
	out := map[Invariant]int{}
	for _, v := range c.Snapshot() {
		out[v.Inv]++
	}
	return out
}
