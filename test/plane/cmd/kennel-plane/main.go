// Command kennel-plane runs a local control plane (package test/plane) in
// the foreground until SIGINT or SIGTERM, writing its state (pid, kubeconfig,
// CoreDNS address, component pids) to a JSON file once it is ready.
// hack/cluster-up.sh starts it in the background; hack/cluster-down.sh
// stops it.
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
	fs := pflag.NewFlagSet("kennel-plane", pflag.ContinueOnError)
	fs.StringVar(&cfg.binDir, "bin", os.Getenv("KENNEL_PLANE_BIN"), "directory of the plane binaries (hack/plane-binaries.sh prints it)")
	fs.StringVar(&cfg.dataDir, "dir", "", "data directory (certificates, etcd, logs); created if missing")
	fs.StringVar(&cfg.stateFile, "state", "", "write the plane's state as JSON to this file once ready; removed on exit")
	fs.IntVar(&cfg.nodes, "nodes", 3, "number of simulated nodes")
	fs.BoolVar(&cfg.realNode, "real-node", false, "also run a real node (kubelet, containerd, bridge CNI, kube-proxy; Linux, root, one per machine)")
	fs.StringVar(&cfg.nodeBin, "node-bin", os.Getenv("KENNEL_NODE_BIN"), "directory of kubelet and kube-proxy (hack/node-binaries.sh prints it)")
	fs.StringVar(&cfg.images, "images", os.Getenv("KENNEL_REALNODE_IMAGES"), "directory of the real node's image layouts (hack/realnode-images.sh prints it)")
	fs.StringArrayVar(&cfg.imports, "import", nil, "REF=DIR: also import the OCI layout DIR as REF into the real node (repeatable)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kennel-plane:", err)
		stop()
		os.Exit(1)
	}
}
