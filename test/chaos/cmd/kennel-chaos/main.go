// Command kennel-chaos runs the fault-injection harness of package
// test/chaos against kennel's controller, the StatefulSet controller, or
// both one after the other, and prints the figures side by side
// (hack/chaos.sh, make chaos).
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
	o := defaultOptions()
	fs := pflag.NewFlagSet("kennel-chaos", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kennel-chaos:", err)
		stop()
		os.Exit(1)
	}
}
