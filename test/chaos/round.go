package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runRound runs round i: its user actions, and after a random delay its
// fault, at the same time; then it releases held pets, times convergence,
// watches a quiet span and checks the round's record.
func (h *harness) runRound(ctx context.Context, i int) error {
	h.mu.Lock()
	h.round = i
	h.mu.Unlock()
	rng := roundRand(h.cfg.Seed, i)
	p := planRound(rng, h.cfg.Kind)
	h.logf("round %d/%d (seed %d): %s", i, h.cfg.Rounds, h.cfg.Seed, p)
	started := time.Now()
	if h.kennel != nil {
		for _, r := range h.kennel.reps {
			if err := h.ensureReplica(r); err != nil {
				return err
			}
		}
	}
	faultRng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	var wg sync.WaitGroup
	var faultErr error
	wg.Go(func() {
		time.Sleep(p.faultDelay)
		faultErr = h.inject(ctx, faultRng, p.fault)
	})
	for _, st := range p.steps {
		if err := h.doStep(ctx, rng, st); err != nil {
			h.logf("round %d: %s on %s: %v (the plane may be down; going on)", i, st.action, st.set, err)
		}
		h.report.inc(h.report.Actions, st.action)
		time.Sleep(jitter(rng, 0, 800*time.Millisecond))
	}
	wg.Wait()
	if faultErr != nil {
		return fmt.Errorf("fault %s: %w", p.fault, faultErr)
	}
	h.report.inc(h.report.Faults, p.fault)
	if err := h.settle(ctx, i, p.fault); err != nil {
		return err
	}
	h.report.Rounds++
	h.report.RoundTimes = append(h.report.RoundTimes, time.Since(started))
	return nil
}

// settle releases held pets, waits for every set to reach its spec (the
// time goes into the fault's figures), declares a quiet span and checks
// the record so far.
func (h *harness) settle(ctx context.Context, round int, fault string) error {
	faultsEnd := time.Now()
	if err := retry(ctx, func() error { return h.releaseHolds(ctx) }); err != nil {
		return err
	}
	var last string
	err := poll(ctx, h.cfg.ConvergeBound, "convergence", func() (bool, error) {
		var ok bool
		ok, last = h.converged(ctx)
		return ok, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.check.Add(InvConverge, round, time.Now(), "not converged %s after the faults: %s", h.cfg.ConvergeBound, last)
	} else if round > 0 {
		h.report.mu.Lock()
		h.report.Converge[fault] = append(h.report.Converge[fault], time.Since(faultsEnd))
		h.report.mu.Unlock()
	}
	time.Sleep(time.Second)
	from := time.Now()
	time.Sleep(2 * time.Second)
	h.check.Quiet(from, time.Now())
	time.Sleep(500 * time.Millisecond)
	return h.feed(round)
}

func (h *harness) feed(round int) error {
	ws, err := h.audit.read()
	if err != nil {
		return err
	}
	n := len(h.check.Snapshot())
	evs := h.rec.take(time.Now())
	if err := appendRecord(filepath.Join(h.cfg.Dir, "record.jsonl"), round, evs); err != nil {
		return err
	}
	h.check.Feed(round, evs, ws)
	h.report.Writes += len(ws)
	vs := h.check.Snapshot()
	for _, v := range vs[n:] {
		h.logf("VIOLATION %s", v)
	}
	h.report.mu.Lock()
	h.report.Violations = vs
	h.report.mu.Unlock()
	return writeViolations(h.cfg.Dir, vs)
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for range 50 {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return err
}

// converged reports whether every set is at its spec, or what is missing.
func (h *harness) converged(ctx context.Context) (bool, string) {
	for _, s := range testSets {
		if why := h.setConverged(ctx, s); why != "" {
			return false, s.name + ": " + why
		}
	}
	return true, ""
}

// setConverged checks one set: status counts, observedGeneration and (for
// a PetSet) the Ready condition right,
// pets exactly at [0, replicas), Running and Ready, those at or above the
// partition on the update revision, claims present (and none beyond the
// replicas when the set deletes them on scale-down).
func (h *harness) setConverged(ctx context.Context, s setSpec) string {
	ss, err := h.sets.get(ctx, s.name)
	if err != nil {
		return err.Error()
	}
	o := observeSet(ss)
	st := ss.Status
	if st.ObservedGeneration != ss.Generation {
		return fmt.Sprintf("observedGeneration %d, generation %d", st.ObservedGeneration, ss.Generation)
	}
	pods, err := h.pets(ctx, s.name)
	if err != nil {
		return err.Error()
	}
	byOrd := map[int]corev1.Pod{}
	updated := 0
	for _, p := range pods {
		n, ok := parseOrdinal(p.Name, s.name)
		if !ok || n >= o.Replicas {
			return "pod " + p.Name + " beyond the replicas"
		}
		byOrd[n] = p
		if p.Labels["controller-revision-hash"] == st.UpdateRevision {
			updated++
		}
	}
	for n := range o.Replicas {
		p, ok := byOrd[n]
		if !ok {
			return fmt.Sprintf("no pet at ordinal %d", n)
		}
		r := h.rec.podEvent(&p, false).Pod
		if !r.healthy() {
			return fmt.Sprintf("%s not Running and Ready (phase %s)", p.Name, p.Status.Phase)
		}
		if n >= o.Partition && r.Revision != st.UpdateRevision {
			return fmt.Sprintf("%s on revision %s, update revision %s", p.Name, r.Revision, st.UpdateRevision)
		}
	}
	if int(st.Replicas) != o.Replicas || int(st.ReadyReplicas) != o.Replicas || int(st.AvailableReplicas) != o.Replicas || int(st.UpdatedReplicas) != updated {
		return fmt.Sprintf("status replicas/ready/available/updated %d/%d/%d/%d, want %d/%d/%d/%d",
			st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.UpdatedReplicas, o.Replicas, o.Replicas, o.Replicas, updated)
	}
	// A PetSet also says so itself: its Ready condition (a StatefulSet has
	// none). Counts can be right while the controller, kept from writing
	// by an outage, has not yet written what it saw since.
	for _, c := range st.Conditions {
		if c.Type == "Ready" && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("Ready condition %s (%s)", c.Status, c.Reason)
		}
	}
	return h.claimsConverged(ctx, s, o.Replicas)
}

func (h *harness) claimsConverged(ctx context.Context, s setSpec, replicas int) string {
	l, err := h.kube.CoreV1().PersistentVolumeClaims(h.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	have := map[int]bool{}
	for _, c := range l.Items {
		if n, ok := parseOrdinal(c.Name, claimTemplate+"-"+s.name); ok {
			have[n] = true
			if n >= replicas && s.deleteOnScale {
				return "claim " + c.Name + " left beyond the replicas"
			}
		}
	}
	for n := range replicas {
		if !have[n] {
			return "no claim " + claimName(s.name, n)
		}
	}
	return ""
}

func (h *harness) holdPlane(component string, hold bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.heldPlane[component] = hold
}

// supervise plays the kubelet: it restarts plane components and kennel
// replicas that exited on their own, and judges how they exited.
func (h *harness) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		for _, c := range h.plane.Exited() {
			h.mu.Lock()
			held := h.heldPlane[c]
			h.mu.Unlock()
			if held {
				continue
			}
			h.report.inc(h.report.Exits, "plane "+c)
			h.logf("supervise: %s exited on its own; restarting", c)
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			if err := h.plane.Restart(rctx, c); err != nil {
				h.logf("supervise: restart %s: %v", c, err)
			}
			cancel()
		}
		if h.kennel != nil {
			for _, r := range h.kennel.reps {
				if err := h.ensureReplica(r); err != nil {
					h.logf("supervise: %v", err)
				}
			}
		}
	}
}

// wedgeGrace is how long a replica may take to exit after it stopped
// leading.
const wedgeGrace = 20 * time.Second

// ensureReplica restarts a replica that is not running unless the harness
// keeps it down, after judging its exit.
func (h *harness) ensureReplica(r *replica) error {
	h.ensureMu.Lock()
	defer h.ensureMu.Unlock()
	if r.wedged(wedgeGrace) {
		h.mu.Lock()
		round := h.round
		h.mu.Unlock()
		h.report.inc(h.report.Exits, "kennel wedged, killed")
		h.check.Add(InvProcess, round, time.Now(), "replica %s still runs %s after it stopped leading, neither leading nor contending; killed", r.name, wedgeGrace)
		h.logf("supervise: replica %s wedged after it stopped leading; killing it", r.name)
		r.kill()
		r.release()
	}
	if r.running() {
		return nil
	}
	r.mu.Lock()
	down, expected, started := r.down, r.expected, r.started
	r.mu.Unlock()
	if down {
		return nil
	}
	h.mu.Lock()
	round := h.round
	h.mu.Unlock()
	panicked, last := r.exitReport()
	switch {
	case panicked:
		h.report.inc(h.report.Exits, "kennel panic")
		h.check.Add(InvProcess, round, time.Now(), "replica %s panicked: %s", r.name, last)
	case expected:
		h.report.inc(h.report.Exits, "kennel exit expected")
	default:
		h.report.inc(h.report.Exits, "kennel exit on its own")
		h.logf("supervise: replica %s exited on its own: %s", r.name, last)
		if time.Since(started) < 10*time.Second {
			h.check.Add(InvProcess, round, time.Now(), "replica %s exited %s after its start (crash loop?): %s", r.name, time.Since(started).Round(time.Millisecond), last)
		}
	}
	return r.start()
}

// appendRecord appends a round's recorded events, one JSON object a line,
// so that a violation can be read with the states around it.
func appendRecord(path string, round int, evs []event) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, e := range evs {
		if err := enc.Encode(struct {
			Round int
			event
		}{round, e}); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeViolations writes every violation, one a line, to dir/violations.txt.
func writeViolations(dir string, vs []Violation) error {
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = v.String()
	}
	sort.Strings(lines)
	return os.WriteFile(filepath.Join(dir, "violations.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
