// Command demo is `make demo`: it starts the local control plane, creates a
// set of pets from the manifests in hack/demo/manifests, runs peer-finder for
// each pet as a local process against the plane's CoreDNS, and shows the pets
// coming up in order with the peer list each one saw. hack/demo.sh builds
// what it needs and runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

func main() {
	var cfg config
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.StringVar(&cfg.binDir, "bin", os.Getenv("KENNEL_PLANE_BIN"), "directory of the plane binaries (hack/plane-binaries.sh)")
	fs.StringVar(&cfg.peerFinder, "peer-finder", "", "peer-finder binary")
	fs.StringSliceVar(&cfg.manifests, "manifests", []string{"hack/demo/manifests/service.yaml", "hack/demo/manifests/petset.yaml"}, "manifest files to apply: the set (PetSet or StatefulSet) and its Service")
	fs.StringVar(&cfg.onStart, "on-start", "hack/demo/on-start.sh", "script peer-finder runs with the peers on stdin")
	fs.StringVar(&cfg.namespace, "namespace", "demo", "namespace of the demo")
	fs.StringVar(&cfg.controller, "controller", "", "controller binary to run against the plane (with --kubeconfig); empty: none")
	fs.StringSliceVar(&cfg.controllerArgs, "controller-arg", nil, "extra argument for the controller (repeatable)")
	fs.StringVar(&cfg.crds, "crds", "", "CRD file or directory to apply before the manifests; empty: none")
	fs.BoolVar(&cfg.keepRunning, "keep-running", false, "keep the plane running after the demo until Ctrl-C")
	fs.StringVar(&cfg.dataDir, "dir", "", "data directory of the plane (default: a temporary directory)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}
