package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Report is what a run measured.
type Report struct {
	Kind       Kind
	Seed       int64
	Rounds     int // rounds completed
	Writes     int // audited writes
	Elapsed    time.Duration
	RoundTimes []time.Duration

	mu         sync.Mutex
	Faults     map[string]int
	Actions    map[string]int
	Exits      map[string]int
	Converge   map[string][]time.Duration // by fault
	Violations []Violation
}

func newReport(cfg Config) *Report {
	return &Report{Kind: cfg.Kind, Seed: cfg.Seed, Faults: map[string]int{}, Actions: map[string]int{},
		Exits: map[string]int{}, Converge: map[string][]time.Duration{}}
}

func (r *Report) inc(m map[string]int, key string) {
	r.mu.Lock()
	m[key]++
	r.mu.Unlock()
}

// Counts returns the violations per invariant, every invariant present.
func (r *Report) Counts() map[Invariant]int {
	out := map[Invariant]int{}
	for _, inv := range Invariants {
		out[inv] = 0
	}
	for _, v := range r.Violations {
		out[v.Inv]++
	}
	return out
}

// Stats are the median, 95th percentile and maximum of durations.
type Stats struct {
	N                int
	Median, P95, Max time.Duration
}

func statsOf(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := func(q float64) int { return min(len(s)-1, int(q*float64(len(s)-1)+0.5)) }
	return Stats{N: len(s), Median: s[idx(0.5)], P95: s[idx(0.95)], Max: s[len(s)-1]}
}

func (s Stats) String() string {
	if s.N == 0 {
		return "–"
	}
	r := func(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }
	return fmt.Sprintf("%s / %s / %s (n=%d)", r(s.Median), r(s.P95), r(s.Max), s.N)
}

// Convergence returns the figures per fault and over all rounds.
func (r *Report) Convergence() (map[string]Stats, Stats) {
	out := map[string]Stats{}
	var all []time.Duration
	for f, ds := range r.Converge {
		out[f] = statsOf(ds)
		all = append(all, ds...)
	}
	return out, statsOf(all)
}

// WriteTable writes reports side by side as Markdown: rounds, faults,
// violations per invariant and convergence seconds (median / p95 / max).
func WriteTable(w io.Writer, reports ...*Report) {
	head := "| | " + strings.Join(kinds(reports), " | ") + " |\n|---|" + strings.Repeat("---|", len(reports)) + "\n"
	var b strings.Builder
	b.WriteString(head)
	row := func(name string, cell func(*Report) string) {
		b.WriteString("| " + name + " |")
		for _, r := range reports {
			b.WriteString(" " + cell(r) + " |")
		}
		b.WriteString("\n")
	}
	row("seed", func(r *Report) string { return fmt.Sprint(r.Seed) })
	row("rounds", func(r *Report) string { return fmt.Sprint(r.Rounds) })
	row("round time median / max (s)", func(r *Report) string {
		s := statsOf(r.RoundTimes)
		return fmt.Sprintf("%.1f / %.1f", s.Median.Seconds(), s.Max.Seconds())
	})
	row("audited writes", func(r *Report) string { return fmt.Sprint(r.Writes) })
	for _, inv := range Invariants {
		row("violations: "+string(inv), func(r *Report) string { return fmt.Sprint(r.Counts()[inv]) })
	}
	row("convergence, all rounds (s, median / p95 / max)", func(r *Report) string { _, all := r.Convergence(); return all.String() })
	for _, f := range allFaults(reports) {
		row("convergence after "+f+" (s)", func(r *Report) string {
			per, _ := r.Convergence()
			return per[f].String()
		})
	}
	for _, k := range allKeys(reports, func(r *Report) map[string]int { return r.Exits }) {
		row("exits: "+k, func(r *Report) string { return fmt.Sprint(r.Exits[k]) })
	}
	fmt.Fprint(w, b.String())
}

func kinds(rs []*Report) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Kind)
	}
	return out
}

func allFaults(rs []*Report) []string {
	return allKeys(rs, func(r *Report) map[string]int { return r.Faults })
}

func allKeys(rs []*Report, m func(*Report) map[string]int) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		for k := range m(r) {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
