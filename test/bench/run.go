package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// DefaultIdle is the default idle window of the peer-finder measurement.
const DefaultIdle = 30 * time.Second

// Options configure Run.
type Options struct {
	Suites                                        []string
	Sandbox, KennelPeerFinder, UpstreamPeerFinder string
	Controller, PlaneBin, CRD                     string
	Rounds, Changes                               int
	Idle                                          time.Duration
	Nodes                                         int
	OrderedSizes                                  []int
	Parallel                                      []int
	ParallelClaims                                string
	Audit, UpstreamApart                          bool
	CachedPods                                    []int
	BaselineController                            string
	ManySets                                      []string
	WorkDir                                       string
	Out                                           string
}

// Run runs the selected suites and writes the Markdown summary to out (and
// to o.Out); progress goes to progress.
func Run(ctx context.Context, o Options, out, progress io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	if o.Rounds < 1 {
		return errors.New("--rounds must be at least 1")
	}
	dir := o.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "kennel-bench-")
		if err != nil {
			return err
		}
		dir = d
	}
	logf("work directory %s", dir)
	start := time.Now()
	facts := MachineFacts()
	var sections []Section
	for _, s := range o.Suites {
		switch s {
		case "peer-finder":
			for _, p := range []string{o.Sandbox, o.KennelPeerFinder, o.UpstreamPeerFinder} {
				if p == "" {
					return errors.New("peer-finder suite needs --sandbox, --kennel-peer-finder and --upstream-peer-finder")
				}
			}
			logf("peer-finder: %d rounds, %d changes per round, idle %s", o.Rounds, o.Changes, o.Idle)
			sections = append(sections, PeerFinder(PeerFinderConfig{
				Sandbox:  o.Sandbox,
				Kennel:   Binary{Name: "kennel", Path: o.KennelPeerFinder},
				Upstream: Binary{Name: "upstream", Path: o.UpstreamPeerFinder},
				// The same binary, watching EndpointSlices of the sandbox's fake API.
				KennelAPI: Binary{Name: "kennel-api", Path: o.KennelPeerFinder, API: true},
				Rounds:    o.Rounds, Changes: o.Changes, Idle: o.Idle,
				Dir: filepath.Join(dir, "peer-finder"), Logf: logf,
			})...)
		case "controller":
			if o.Controller == "" || o.PlaneBin == "" {
				return errors.New("controller suite needs --controller and --plane-bin")
			}
			secs, err := Controller(ctx, ControllerConfig{
				Controller: o.Controller, PlaneBin: o.PlaneBin, CRD: o.CRD,
				Rounds: o.Rounds, Nodes: o.Nodes, OrderedSizes: o.OrderedSizes, Parallel: o.Parallel,
				ParallelClaims: o.ParallelClaims, Audit: o.Audit,
				CachedPods: o.CachedPods, BaselineController: o.BaselineController, ManySets: o.ManySets,
				UpstreamApart: o.UpstreamApart,
				ChartDir:      chartDir(o.Out), Dir: filepath.Join(dir, "controller"), Logf: logf,
			})
			if err != nil {
				sections = append(sections, Section{Title: "controller", Notes: []string{"the controller suite failed: " + err.Error()}, Failures: 1})
			}
			sections = append(sections, secs...)
		default:
			return fmt.Errorf("unknown suite %q", s)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	summary := summaryOf(sections, start, facts, o.Rounds)
	if err := writeSummary(summary, out, o.Out); err != nil {
		return err
	}
	failures := 0
	for _, s := range sections {
		failures += s.Failures
	}
	if failures > 0 {
		return fmt.Errorf("%d measurements failed (see the FAILED notes in the summary; logs in %s)", failures, dir)
	}
	return nil
}

// summaryOf is the Markdown summary of a run: when, where, and the sections.
func summaryOf(sections []Section, start time.Time, facts string, rounds int) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "## Side-by-side benchmarks, %s\n\n", start.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&buf, "Machine: %s. Run took %s; %d alternating rounds (kennel, upstream, kennel, upstream, ...).\n\n",
		facts, time.Since(start).Round(time.Second), rounds)
	WriteMarkdown(&buf, sections)
	return buf.Bytes()
}

// writeSummary writes the summary to out, and to the file path when set.
func writeSummary(summary []byte, out io.Writer, path string) error {
	if _, err := out.Write(summary); err != nil {
		return err
	}
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, summary, 0o644)
}

// MachineFacts describes the machine: CPU model and count, memory, kernel,
// Go version and the load average at the time.
func MachineFacts() string {
	var facts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				facts = append(facts, strings.TrimSpace(v))
				break
			}
		}
	}
	facts = append(facts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		facts = append(facts, strings.Join(strings.Fields(l), " "))
	}
	if b, err := exec.Command("uname", "-sr").Output(); err == nil {
		facts = append(facts, strings.TrimSpace(string(b)))
	}
	facts = append(facts, runtime.Version())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			facts = append(facts, "load average "+strings.Join(f[:3], " ")+" at the start")
		}
	}
	return strings.Join(slices.DeleteFunc(facts, func(s string) bool { return s == "" }), ", ")
}

// chartDir is where the controller suite writes its charts: "charts"
// beside the summary, or nowhere without one.
func chartDir(out string) string {
	if out == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(out), "charts")
}
