package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kennel-dev/kennel/internal/procfs"
	"github.com/kennel-dev/kennel/test/bench/sandbox"
)

// Binary is one side of a comparison.
type Binary struct {
	Name string // "kennel", "upstream" or "kennel-api"
	Path string
	// API runs it with --source=api against the sandbox's fake Kubernetes
	// API instead of DNS.
	API bool
}

// PeerFinderConfig configures the peer-finder comparison.
type PeerFinderConfig struct {
	// Sandbox is the bench-sandbox binary.
	Sandbox string
	// Kennel and Upstream are the peer-finder binaries.
	Kennel, Upstream Binary
	// KennelAPI, when its Path is set, is kennel's peer-finder with
	// --source=api, measured in the same rounds.
	KennelAPI Binary
	// Rounds is how many times each measurement alternates between the two.
	Rounds int
	// Changes is the number of membership changes per round for the
	// change-detection latency.
	Changes int
	// Idle is the window of the idle RSS/CPU measurement.
	Idle time.Duration
	// Dir holds scripts, captured stdin and logs.
	Dir  string
	Logf func(format string, args ...any)
}

// Both sides share these flags: the historical tool's command line, which
// kennel accepts unchanged. Domain and DNS server come from resolv.conf.
func finderArgs(script string) []string {
	return []string{"--service=web", "--ns=default", "--on-change=" + script}
}

type pfRun struct {
	dir  string
	opts sandbox.Options
	sb   *sandbox.Sandbox
}

var runSeq int

// startFinder starts bin in a sandbox with peers pets published and the
// script body as --on-change. The script may use $D, its run directory.
func (c PeerFinderConfig) startFinder(bin Binary, what string, peers int, body string) (*pfRun, error) {
	runSeq++
	dir := filepath.Join(c.Dir, fmt.Sprintf("%03d-%s-%s", runSeq, what, bin.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nD="+dir+"\n"+body), 0o755); err != nil {
		return nil, err
	}
	o := sandbox.Options{
		Hostname: "web-0", Service: "web", Namespace: "default", Domain: "cluster.local",
		Peers: peers, Log: filepath.Join(dir, "peer-finder.log"),
		Command: append([]string{bin.Path}, finderArgs(script)...),
		API:     bin.API,
	}
	if bin.API {
		kc := filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kc, []byte(sandbox.Kubeconfig()), 0o600); err != nil {
			return nil, err
		}
		o.Command = append(o.Command, "--source=api", "--kubeconfig="+kc)
	}
	sb, err := sandbox.Start(c.Sandbox, o)
	if err != nil {
		return nil, err
	}
	return &pfRun{dir: dir, opts: o, sb: sb}, nil
}

func (r *pfRun) close() { r.sb.Close() }

func (r *pfRun) fail(err error) error {
	return fmt.Errorf("%w (run dir %s); log tail:\n%s", err, r.dir, tail(sandbox.Log(r.opts), 15))
}

// starts returns the start times the script has recorded so far.
func (r *pfRun) starts() []time.Time {
	b, _ := os.ReadFile(filepath.Join(r.dir, "starts"))
	var out []time.Time
	for _, l := range strings.Split(string(b), "\n") {
		if ns, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64); err == nil {
			out = append(out, time.Unix(0, ns))
		}
	}
	return out
}

// waitStarts waits until the script has started more than n times.
func (r *pfRun) waitStarts(n int, timeout time.Duration) ([]time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		if s := r.starts(); len(s) > n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return nil, r.fail(fmt.Errorf("script did not run within %s", timeout))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const recordStart = "date +%s%N >> \"$D/starts\"\n"

// PeerFinder runs every peer-finder measurement and returns the tables.
func PeerFinder(c PeerFinderConfig) []Section {
	sides := []Binary{c.Kennel, c.Upstream}
	if c.KennelAPI.Path != "" {
		sides = append(sides, c.KennelAPI)
	}
	lat := map[string][]float64{}
	react := map[string][]float64{}
	rss := map[string][]float64{}
	hwm := map[string][]float64{}
	cpu := map[string][]float64{}
	qps := map[string][]float64{}
	var notes []string
	failures := 0
	for round := 0; round < c.Rounds; round++ {
		for _, b := range sides {
			xs, rs, err := c.latency(b)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s change latency, round %d: FAILED: %v", b.Name, round+1, err))
				failures++
			}
			lat[b.Name] = append(lat[b.Name], xs...)
			react[b.Name] = append(react[b.Name], rs...)
		}
	}
	for round := 0; round < c.Rounds; round++ {
		for _, b := range sides {
			r, h, p, q, err := c.idle(b)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s idle, round %d: FAILED: %v", b.Name, round+1, err))
				failures++
				continue
			}
			rss[b.Name] = append(rss[b.Name], r)
			hwm[b.Name] = append(hwm[b.Name], h)
			cpu[b.Name] = append(cpu[b.Name], p)
			qps[b.Name] = append(qps[b.Name], q)
		}
	}
	perf := Section{
		Title: "peer-finder: change detection and idle cost",
		Rows: []Row{
			MedianRow("change-detection latency (pet added → on-change starts)", lat["kennel"], lat["upstream"], Seconds),
			MedianRow("reaction time (first DNS answer with the new pet → on-change starts)", react["kennel"], react["upstream"], Seconds),
			MedianRow(fmt.Sprintf("idle VmRSS, 5 peers, after %s", c.Idle), rss["kennel"], rss["upstream"], MiB),
			MedianRow("idle VmHWM (peak RSS)", hwm["kennel"], hwm["upstream"], MiB),
			MedianRow(fmt.Sprintf("idle CPU over %s (%% of one core)", c.Idle), cpu["kennel"], cpu["upstream"], Percent),
			MedianRow("idle DNS queries per second", qps["kennel"], qps["upstream"], Number),
		},
		Notes: append([]string{
			"Both poll DNS every 1 s (upstream: fixed; kennel: --poll-interval default), so the latency is dominated by where in the poll cycle the change lands (uniform over 0–1 s; changes are spaced by a random 0.2–1.2 s) and its median moves by ±0.15 s between runs. The reaction time removes that phase: it runs from the DNS server's first answer carrying the new membership to the script's first instruction (lookup, comparison, fork/exec of the script, shell start-up).",
			"Idle CPU is the peer-finder process's on-CPU time over the window, summed over its threads from /proc/PID/task/*/schedstat (nanoseconds; the scripts it runs are other processes and not counted). RSS is VmRSS from /proc/PID/status at the end of the window.",
		}, notes...),
		Failures: failures,
	}

	out := []Section{perf}
	if c.KennelAPI.Path != "" {
		out = append(out, apiSections(c, lat, rss, hwm, cpu, qps)...)
	}

	correct := Section{Title: "peer-finder: what the script receives (facts, not timings)"}
	for _, n := range []int{12, 1000} {
		facts := map[string]stdinFacts{}
		for _, b := range []Binary{c.Kennel, c.Upstream} {
			f, err := c.correctness(b, n)
			if err != nil {
				f.err = err
				correct.Failures++
			}
			facts[b.Name] = f
		}
		correct.Rows = append(correct.Rows, factRows(n, facts["kennel"], facts["upstream"])...)
	}

	shut := Section{Title: "peer-finder: SIGTERM while on-change runs"}
	var lk, lu []float64
	left := map[string]int{}
	status := map[string]string{}
	for round := 0; round < c.Rounds; round++ {
		for _, b := range []Binary{c.Kennel, c.Upstream} {
			d, st, orphan, err := c.shutdown(b)
			if err != nil {
				shut.Notes = append(shut.Notes, fmt.Sprintf("%s shutdown, round %d: FAILED: %v", b.Name, round+1, err))
				shut.Failures++
				continue
			}
			if b.Name == "kennel" {
				lk = append(lk, d.Seconds())
			} else {
				lu = append(lu, d.Seconds())
			}
			if orphan {
				left[b.Name]++
			}
			status[b.Name] = st
		}
	}
	shut.Rows = []Row{
		MedianRow("SIGTERM → peer-finder exited", lk, lu, Seconds),
		{Metric: "script still running after peer-finder exited", Kennel: fmt.Sprintf("%d of %d runs", left["kennel"], len(lk)),
			Upstream: fmt.Sprintf("%d of %d runs", left["upstream"], len(lu))},
		{Metric: "exit status", Kennel: status["kennel"], Upstream: status["upstream"]},
	}
	shut.Notes = append(shut.Notes, "The script is `exec sleep 60` after reading stdin; it does not handle SIGTERM itself.")
	return append(out, correct, shut)
}

// apiSections compare --source=api with kennel's DNS polling and with the
// historical tool, from the samples of the same rounds.
func apiSections(c PeerFinderConfig, lat, rss, hwm, cpu, qps map[string][]float64) []Section {
	api := c.KennelAPI.Name
	vsDNS := Section{
		Title:   "peer-finder --source=api (EndpointSlice watch) against --source=dns (1 s poll)",
		Columns: [2]string{"kennel --source=api", "kennel --source=dns"},
		Rows: []Row{
			MedianRow("change-detection latency (pet added → on-change starts)", lat[api], lat["kennel"], Seconds),
			MedianRow(fmt.Sprintf("idle VmRSS, 5 peers, after %s", c.Idle), rss[api], rss["kennel"], MiB),
			MedianRow("idle VmHWM (peak RSS)", hwm[api], hwm["kennel"], MiB),
			MedianRow(fmt.Sprintf("idle CPU over %s (%% of one core)", c.Idle), cpu[api], cpu["kennel"], Percent),
			MedianRow("idle DNS queries per second", qps[api], qps["kennel"], Number),
		},
		Notes: []string{
			"Same sandbox and the same change for both: each pet added updates the sandbox's fake Kubernetes API (one EndpointSlice, delivered to open watches at once) and its DNS server together; the latency runs from that update to the script's first instruction. The API side holds one watch open and sends no request while idle.",
		},
	}
	vsUpstream := Section{
		Title:   "peer-finder --source=api against the historical peer-finder",
		Columns: [2]string{"kennel --source=api", "upstream"},
		Rows: []Row{
			MedianRow("change-detection latency (pet added → on-change starts)", lat[api], lat["upstream"], Seconds),
			MedianRow(fmt.Sprintf("idle VmRSS, 5 peers, after %s", c.Idle), rss[api], rss["upstream"], MiB),
			MedianRow(fmt.Sprintf("idle CPU over %s (%% of one core)", c.Idle), cpu[api], cpu["upstream"], Percent),
		},
	}
	return []Section{vsDNS, vsUpstream}
}

// latency starts with pet 0 published, then adds one pet at a time and
// measures from the DNS change to the script's first instruction.
func (c PeerFinderConfig) latency(b Binary) (out, reaction []float64, err error) {
	r, err := c.startFinder(b, "latency", 1, recordStart+"cat >/dev/null\n")
	if err != nil {
		return nil, nil, err
	}
	defer r.close()
	if _, err := r.waitStarts(0, 15*time.Second); err != nil {
		return nil, nil, err
	}
	for i := 0; i < c.Changes; i++ {
		time.Sleep(200*time.Millisecond + rand.N(time.Second))
		n := len(r.starts())
		t0, err := r.sb.SetPeers(i + 2)
		if err != nil {
			return out, reaction, err
		}
		s, err := r.waitStarts(n, 10*time.Second)
		if err != nil {
			return out, reaction, err
		}
		served, err := r.sb.Served()
		if err != nil {
			return out, reaction, err
		}
		start := s[len(s)-1]
		out = append(out, start.Sub(t0).Seconds())
		if !served.IsZero() {
			reaction = append(reaction, start.Sub(served).Seconds())
		}
	}
	c.Logf("peer-finder latency %s: %v; from answer: %v", b.Name, out, reaction)
	return out, reaction, nil
}

// idle watches 5 pets for c.Idle after the first script run has settled.
func (c PeerFinderConfig) idle(b Binary) (rssKiB, hwmKiB, cpuPct, qps float64, err error) {
	r, err := c.startFinder(b, "idle", 5, recordStart+"cat >/dev/null\n")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer r.close()
	if _, err := r.waitStarts(0, 15*time.Second); err != nil {
		return 0, 0, 0, 0, err
	}
	time.Sleep(2 * time.Second)
	cpu0, err := procfs.RunTime(r.sb.Pid)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	udp0, tcp0, err := r.sb.Queries()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(c.Idle)
	cpu1, err := procfs.RunTime(r.sb.Pid)
	if err != nil {
		return 0, 0, 0, 0, r.fail(err)
	}
	elapsed := time.Since(t0)
	udp1, tcp1, err := r.sb.Queries()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	qps = float64(udp1-udp0+tcp1-tcp0) / elapsed.Seconds()
	rssKiB, hwmKiB, err = memoryKiB(r.sb.Pid)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if n := len(r.starts()); n != 1 {
		return 0, 0, 0, 0, r.fail(fmt.Errorf("script ran %d times while nothing changed", n))
	}
	cpuPct = float64(cpu1-cpu0) / float64(elapsed) * 100
	c.Logf("peer-finder idle %s: rss %.0f KiB hwm %.0f KiB cpu %.4f%% dns %.2f q/s", b.Name, rssKiB, hwmKiB, cpuPct, qps)
	return rssKiB, hwmKiB, cpuPct, qps, nil
}

// stdinFacts describe what one script run read on stdin.
type stdinFacts struct {
	published, received, readLoop int
	missing, extra                int
	ordinal, lexical, trailingNL  bool
	err                           error
}

func (c PeerFinderConfig) correctness(b Binary, n int) (stdinFacts, error) {
	r, err := c.startFinder(b, fmt.Sprintf("stdin%d", n), n,
		recordStart+"cat > \"$D/stdin.tmp\" && mv \"$D/stdin.tmp\" \"$D/stdin\"\n")
	if err != nil {
		return stdinFacts{}, err
	}
	defer r.close()
	if _, err := r.waitStarts(0, 20*time.Second); err != nil {
		return stdinFacts{}, err
	}
	path := filepath.Join(r.dir, "stdin")
	deadline := time.Now().Add(10 * time.Second)
	var got []byte
	for {
		if got, err = os.ReadFile(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return stdinFacts{}, r.fail(errors.New("script did not finish reading stdin"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = strings.TrimSuffix(r.opts.Target(i), ".")
	}
	f := analyzeStdin(string(got), want)
	c.Logf("peer-finder stdin %s n=%d: %+v", b.Name, n, f)
	return f, nil
}

// analyzeStdin compares a script's stdin with the pets in ordinal order.
func analyzeStdin(got string, want []string) stdinFacts {
	f := stdinFacts{published: len(want), trailingNL: strings.HasSuffix(got, "\n")}
	// A shell "while read line" loop sees only newline-terminated lines.
	f.readLoop = strings.Count(got, "\n")
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if got == "" {
		lines = nil
	}
	f.received = len(lines)
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[w] = true
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if !wantSet[l] {
			f.extra++
		}
		seen[l] = true
	}
	for _, w := range want {
		if !seen[w] {
			f.missing++
		}
	}
	f.ordinal = f.missing == 0 && f.extra == 0 && strings.Join(lines, "\n") == strings.Join(want, "\n")
	sorted := append([]string(nil), lines...)
	sort.Strings(sorted)
	f.lexical = len(lines) > 0 && strings.Join(lines, "\n") == strings.Join(sorted, "\n")
	return f
}

func factRows(n int, k, u stdinFacts) []Row {
	desc := func(f stdinFacts) (recv, order, nl string) {
		if f.err != nil {
			e := "failed: " + firstLine(f.err.Error())
			return e, e, e
		}
		recv = fmt.Sprintf("%d of %d (missing %d, extra %d); `while read` sees %d", f.received, f.published, f.missing, f.extra, f.readLoop)
		switch {
		case f.ordinal:
			order = "ordinal (web-2 before web-10)"
		case f.lexical:
			order = "lexical (web-10 before web-2)"
		default:
			order = "neither ordinal nor lexical"
		}
		nl = "no"
		if f.trailingNL {
			nl = "yes"
		}
		return
	}
	kr, ko, kn := desc(k)
	ur, uo, un := desc(u)
	return []Row{
		{Metric: fmt.Sprintf("%d pets: peers on stdin", n), Kennel: kr, Upstream: ur},
		{Metric: fmt.Sprintf("%d pets: order", n), Kennel: ko, Upstream: uo},
		{Metric: fmt.Sprintf("%d pets: trailing newline", n), Kennel: kn, Upstream: un},
	}
}

// shutdown starts a script that runs for a minute, sends SIGTERM to the
// peer-finder while it runs, and reports how long the peer-finder took to
// exit and whether the script outlived it.
func (c PeerFinderConfig) shutdown(b Binary) (time.Duration, string, bool, error) {
	r, err := c.startFinder(b, "sigterm", 2,
		"echo $$ > \"$D/script.pid.tmp\" && mv \"$D/script.pid.tmp\" \"$D/script.pid\"\n"+recordStart+"cat >/dev/null\nexec sleep 60\n")
	if err != nil {
		return 0, "", false, err
	}
	defer r.close()
	if _, err := r.waitStarts(0, 15*time.Second); err != nil {
		return 0, "", false, err
	}
	time.Sleep(200 * time.Millisecond) // the script is in its sleep
	pb, err := os.ReadFile(filepath.Join(r.dir, "script.pid"))
	if err != nil {
		return 0, "", false, r.fail(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pb)))
	if err != nil {
		return 0, "", false, err
	}
	d, status, err := r.sb.Term()
	if err != nil {
		return 0, "", false, err
	}
	time.Sleep(100 * time.Millisecond)
	alive, err := r.sb.Alive(pid)
	if err != nil {
		return 0, "", false, err
	}
	c.Logf("peer-finder SIGTERM %s: exited after %s (%s), script left running: %v", b.Name, d, status, alive)
	return d, status, alive, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
