// Command consul is HashiCorp Consul v1.16.3 (MPL-2.0) with only the
// commands the examples and their tests run: agent, members, join, leave,
// info, kv, operator raft, reload, validate and version.
//
// Consul v1.16.3 is the newest release under MPL-2.0 (1.16.4 and later are
// under the BUSL). Consul's own main registers every command, and two of
// them (connect envoy, troubleshoot) import the envoyextensions and
// troubleshoot modules, which this project does not use: go.mod replaces
// them (see there), and this build serves no Envoy proxies.
// hack/consul-binary.sh builds it; docs/real-node.md says more.
package main

import (
	"fmt"
	"io"
	"log"
	"os"

	mcli "github.com/mitchellh/cli"

	"github.com/hashicorp/consul/command/agent"
	"github.com/hashicorp/consul/command/cli"
	"github.com/hashicorp/consul/command/info"
	"github.com/hashicorp/consul/command/join"
	"github.com/hashicorp/consul/command/kv"
	kvdel "github.com/hashicorp/consul/command/kv/del"
	kvget "github.com/hashicorp/consul/command/kv/get"
	kvput "github.com/hashicorp/consul/command/kv/put"
	"github.com/hashicorp/consul/command/leave"
	"github.com/hashicorp/consul/command/members"
	"github.com/hashicorp/consul/command/operator"
	"github.com/hashicorp/consul/command/operator/raft"
	raftlist "github.com/hashicorp/consul/command/operator/raft/listpeers"
	raftremove "github.com/hashicorp/consul/command/operator/raft/removepeer"
	"github.com/hashicorp/consul/command/reload"
	"github.com/hashicorp/consul/command/validate"
	"github.com/hashicorp/consul/command/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func commands(ui cli.Ui) map[string]mcli.CommandFactory {
	c := func(f func() (cli.Command, error)) mcli.CommandFactory {
		return func() (mcli.Command, error) { return f() }
	}
	return map[string]mcli.CommandFactory{
		"agent":                    c(func() (cli.Command, error) { return agent.New(ui), nil }),
		"info":                     c(func() (cli.Command, error) { return info.New(ui), nil }),
		"join":                     c(func() (cli.Command, error) { return join.New(ui), nil }),
		"kv":                       c(func() (cli.Command, error) { return kv.New(), nil }),
		"kv delete":                c(func() (cli.Command, error) { return kvdel.New(ui), nil }),
		"kv get":                   c(func() (cli.Command, error) { return kvget.New(ui), nil }),
		"kv put":                   c(func() (cli.Command, error) { return kvput.New(ui), nil }),
		"leave":                    c(func() (cli.Command, error) { return leave.New(ui), nil }),
		"members":                  c(func() (cli.Command, error) { return members.New(ui), nil }),
		"operator":                 c(func() (cli.Command, error) { return operator.New(), nil }),
		"operator raft":            c(func() (cli.Command, error) { return raft.New(), nil }),
		"operator raft list-peers": c(func() (cli.Command, error) { return raftlist.New(ui), nil }),
		"operator raft remove-peer": c(func() (cli.Command, error) {
			return raftremove.New(ui), nil
		}),
		"reload":   c(func() (cli.Command, error) { return reload.New(ui), nil }),
		"validate": c(func() (cli.Command, error) { return validate.New(ui), nil }),
		"version":  c(func() (cli.Command, error) { return version.New(ui), nil }),
	}
}

func run(args []string) int {
	log.SetOutput(io.Discard)
	ui := &cli.BasicUI{BasicUi: mcli.BasicUi{Writer: os.Stdout, ErrorWriter: os.Stderr}}
	cmds := commands(ui)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	c := &mcli.CLI{
		Args:        args,
		Commands:    cmds,
		Name:        "consul",
		HelpFunc:    mcli.FilteredHelpFunc(names, mcli.BasicHelpFunc("consul")),
		HelpWriter:  os.Stdout,
		ErrorWriter: os.Stderr,
	}
	if c.IsVersion() {
		return version.New(ui).Run(nil)
	}
	code, err := c.Run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error executing CLI: %v\n", err)
		return 1
	}
	return code
}
