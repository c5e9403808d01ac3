// Command images assembles OCI image layouts of kennel's binaries without a
// container engine: one static binary per platform, a non-root user, and an
// image config naming the entrypoint. hack/images.sh (make images) runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:])
	if err == nil {
		err = Run(ctx, opts, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}
