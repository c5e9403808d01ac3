// Command kennel-bench runs the side-by-side comparisons of kennel with the
// upstream components and writes a Markdown summary. hack/bench.sh (make
// bench) builds its inputs and runs it; see docs/benchmarks.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/kennel-dev/kennel/test/bench"
)

func main() {
	var o bench.Options
	fs := pflag.NewFlagSet("kennel-bench", pflag.ContinueOnError)
	fs.StringSliceVar(&o.Suites, "suite", []string{"peer-finder", "controller"}, "suites to run: peer-finder, controller")
	fs.StringVar(&o.Sandbox, "sandbox", "", "bench-sandbox binary")
	fs.StringVar(&o.KennelPeerFinder, "kennel-peer-finder", "", "kennel's peer-finder binary")
	fs.StringVar(&o.UpstreamPeerFinder, "upstream-peer-finder", "", "the historical Kubernetes peer-finder binary")
	fs.StringVar(&o.Controller, "controller", "", "kennel's controller binary")
	fs.StringVar(&o.PlaneBin, "plane-bin", "", "directory of the local plane's binaries (hack/plane-binaries.sh)")
	fs.StringVar(&o.CRD, "crd", "deploy/crd/kennel.dev_petsets.yaml", "PetSet CRD manifest")
	fs.IntVar(&o.Rounds, "rounds", 3, "alternating rounds per measurement")
	fs.IntVar(&o.Changes, "changes", 7, "membership changes per round (peer-finder latency)")
	fs.DurationVar(&o.Idle, "idle", bench.DefaultIdle, "idle window (peer-finder RSS/CPU)")
	fs.IntVar(&o.Nodes, "nodes", 3, "simulated nodes of the plane")
	fs.IntSliceVar(&o.OrderedSizes, "ordered", []int{10}, "OrderedReady scale-up sizes (0→N)")
	fs.IntSliceVar(&o.Parallel, "parallel", []int{100}, "Parallel scale-up sizes (0→N, then N→0); 0 skips")
	fs.StringVar(&o.ParallelClaims, "parallel-claims", "with", "Parallel sets with a claim template (with), without one (without), or each scenario twice (both)")
	fs.BoolVar(&o.Audit, "audit", true, "log the pod creates and deletes in the API server's audit log: the set controllers' own are counted apart from kwok's, by client and response code")
	fs.IntSliceVar(&o.CachedPods, "cached-pods", []int{1000, 5000}, "stages of the controller memory scenario (pods cached); 0 skips it")
	fs.StringVar(&o.BaselineController, "baseline-controller", "", "an earlier controller binary measured beside kennel's in the memory scenario")
	fs.StringSliceVar(&o.ManySets, "many-sets", nil, `many-sets scenarios, each "SETSxPETS" (e.g. 200x5,1000x1); empty skips them`)
	fs.BoolVar(&o.UpstreamApart, "upstream-apart", true, "run the StatefulSet controller in a kube-controller-manager of its own, so its CPU and memory are measured (false: inside the plane's, its CPU estimated)")
	fs.StringVar(&o.WorkDir, "work-dir", "", "scratch directory (default: a temporary one, kept on failure)")
	fs.StringVar(&o.Out, "out", "", "also write the summary here")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench.Run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kennel-bench:", err)
		stop()
		os.Exit(1)
	}
}
