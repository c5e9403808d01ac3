package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/kennel-dev/kennel/test/chaos"
)

type options struct {
	kinds         []string
	rounds        int
	stsRounds     int
	seed          int64
	out           string
	planeBin      string
	controllerBin string
	crdDir        string
	parallel      bool
}

func defaultOptions() *options {
	return &options{
		kinds: []string{"kennel", "statefulset"}, rounds: 20, seed: time.Now().UnixNano() % 1_000_000_000,
		out: "_output/chaos", planeBin: os.Getenv("KENNEL_PLANE_BIN"), crdDir: "deploy/crd",
	}
}

func (o *options) addFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.kinds, "kind", o.kinds, "controllers to judge: kennel, statefulset")
	fs.IntVar(&o.rounds, "rounds", o.rounds, "rounds per controller")
	fs.IntVar(&o.stsRounds, "statefulset-rounds", o.stsRounds, "rounds for the StatefulSet controller (0: --rounds)")
	fs.Int64Var(&o.seed, "seed", o.seed, "seed of the rounds (default: drawn from the clock and printed)")
	fs.StringVar(&o.out, "out", o.out, "output directory: one sub-directory per controller, report.md")
	fs.StringVar(&o.planeBin, "plane-bin", o.planeBin, "plane binaries (hack/plane-binaries.sh prints the directory)")
	fs.StringVar(&o.controllerBin, "controller", o.controllerBin, "kennel controller binary (go build ./cmd/controller)")
	fs.StringVar(&o.crdDir, "crd", o.crdDir, "kustomize directory of the PetSet CRD")
	fs.BoolVar(&o.parallel, "parallel", o.parallel, "run the controllers' planes at the same time")
}

// run judges each kind on its own plane and writes the table to stdout and
// out/report.md; violations make it fail.
func run(ctx context.Context, o *options, stdout io.Writer) error {
	if o.planeBin == "" {
		return errors.New("no plane binaries: set --plane-bin or KENNEL_PLANE_BIN (hack/plane-binaries.sh)")
	}
	fmt.Fprintf(stdout, "kennel-chaos: seed %d, %d rounds (rerun with --seed=%d)\n", o.seed, o.rounds, o.seed)
	reports := make([]*chaos.Report, len(o.kinds))
	errs := make([]error, len(o.kinds))
	var wg sync.WaitGroup
	var logMu sync.Mutex
	for i, k := range o.kinds {
		cfg := chaos.Config{
			Kind: chaos.Kind(k), Rounds: o.rounds, Seed: o.seed, Dir: filepath.Join(o.out, k),
			PlaneBin: o.planeBin, ControllerBin: o.controllerBin, CRDDir: o.crdDir,
			Logf: func(format string, args ...any) {
				logMu.Lock()
				defer logMu.Unlock()
				fmt.Fprintf(stdout, "%s [%s] %s\n", time.Now().UTC().Format("15:04:05.000"), k, fmt.Sprintf(format, args...))
			},
		}
		if k == string(chaos.KindStatefulSet) && o.stsRounds > 0 {
			cfg.Rounds = o.stsRounds
		}
		one := func() { reports[i], errs[i] = chaos.Run(ctx, cfg) }
		if o.parallel {
			wg.Go(one)
		} else {
			one()
		}
	}
	wg.Wait()
	var done []*chaos.Report
	for _, r := range reports {
		if r != nil {
			done = append(done, r)
		}
	}
	var b strings.Builder
	chaos.WriteTable(&b, done...)
	fmt.Fprint(stdout, "\n"+b.String())
	if err := os.WriteFile(filepath.Join(o.out, "report.md"), []byte(b.String()), 0o644); err != nil {
		errs = append(errs, err)
	}
	for _, r := range done {
		if n := len(r.Violations); n > 0 {
			errs = append(errs, fmt.Errorf("%s: %d violations (seed %d; see %s)", r.Kind, n, o.seed, filepath.Join(o.out, string(r.Kind), "violations.txt")))
		}
	}
	return errors.Join(errs...)
}
