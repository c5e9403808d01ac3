// Command bench-sandbox runs one peer-finder under test inside network, mount
// and UTS namespaces that the benchmark harness created for it (it refuses
// to run in the host's network namespace). Inside, it brings up the loopback
// interface, serves DNS on 127.0.0.1:53 (UDP and TCP) for one headless
// Service, bind-mounts a resolv.conf that points there, sets the hostname,
// starts the command after "--" and takes orders on stdin. See
// test/bench/sandbox.go for the protocol.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/kennel-dev/kennel/test/bench/sandbox"
)

func main() {
	var o sandbox.Options
	fs := pflag.NewFlagSet("bench-sandbox", pflag.ContinueOnError)
	fs.StringVar(&o.Hostname, "hostname", "web-0", "hostname inside the sandbox")
	fs.StringVar(&o.Service, "service", "web", "headless Service name")
	fs.StringVar(&o.Namespace, "ns", "default", "namespace")
	fs.StringVar(&o.Domain, "domain", "cluster.local", "cluster domain")
	fs.IntVar(&o.Peers, "peers", 0, "pets published at start")
	fs.StringVar(&o.Log, "log", "", "file for the command's stdout and stderr")
	fs.BoolVar(&o.API, "api", false, "also serve the pets as an EndpointSlice from a fake Kubernetes API on "+sandbox.APIAddr)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	o.Command = fs.Args()
	signal.Ignore(syscall.SIGINT)
	if err := sandbox.Run(o, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-sandbox:", err)
		os.Exit(1)
	}
}
