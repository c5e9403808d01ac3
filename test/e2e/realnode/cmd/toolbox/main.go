// Command toolbox is the client of the real-node tests, run in a pod of
// the toolbox image (static, so name lookups use Go's resolver and the
// pod's /etc/resolv.conf):
//
//	toolbox get URL          GET URL; print the status, headers and body
//	toolbox lookup NAME      print NAME's addresses
//	toolbox zk HOST:PORT CMD send a ZooKeeper four-letter command, print the answer
//	toolbox sleep            wait for SIGTERM
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := Run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "toolbox:", err)
		os.Exit(1)
	}
}
