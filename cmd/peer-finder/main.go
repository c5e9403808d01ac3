// Command peer-finder discovers the peers of a pod behind a headless Service
// through DNS SRV records and runs commands with the list. See
// docs/peer-finder.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kennel-dev/kennel/pkg/peers/cli"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return cli.Main(ctx, os.Args[1:], cli.OSEnv(os.Stdout, os.Stderr))
}
