// Package app is the kubectl-petset plugin: kubectl's rollout verbs for
// PetSets (status, history, undo, restart), the move of a live StatefulSet
// to a PetSet (migrate) and manifest conversion (convert).
//
//	root.go     the command tree, kubectl's connection flags, Run
//	clients.go  clients from the flags (fakes in tests), the one-object argument: names, completion
//	status.go   rollout status: the StatefulSet status viewer's rules plus kennel's conditions
//	history.go  rollout history from the set's ControllerRevisions
//	undo.go     rollout undo to an earlier revision's template
//	restart.go  rollout restart through the restartedAt template annotation
//	migrate.go  migrate: checks, orphan delete, create, adoption
//	convert.go  convert: StatefulSet manifests to PetSet manifests and back
package app

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kennel-dev/kennel/pkg/version"
)

// Env is what the commands need from the outside world.
type Env struct {
	Streams genericiooptions.IOStreams
	// Clients connects to the cluster the flags name.
	Clients func() (*Clients, error)
	// Now is the clock (restart annotations, lease freshness).
	Now func() time.Time
	// Poll is the interval of the waits that poll (migrate); 0: one second.
	Poll time.Duration
}

// Run parses args and runs the chosen command against the cluster named
// by kubectl's flags (--kubeconfig, --context, -n, …).
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams) error {
	flags := genericclioptions.NewConfigFlags(true)
	env := &Env{Streams: streams, Clients: clientsFromFlags(flags), Now: time.Now}
	cmd := NewCommand(env)
	flags.AddFlags(cmd.PersistentFlags())
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// NewCommand returns the plugin's command tree. The caller adds the
// connection flags that env.Clients reads.
func NewCommand(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use: "petset",
		// The name kubectl users type, in usage lines and completion.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl petset"},
		Short:       "Roll out, inspect and migrate kennel PetSets",
		Long: `kubectl petset gives PetSets (kennel.dev/v1) the rollout verbs kubectl has for
StatefulSets, moves a live StatefulSet to a PetSet without restarting a pod,
and converts StatefulSet manifests to PetSet manifests.`,
		Example: `  kubectl petset rollout status web
  kubectl petset rollout history web
  kubectl petset rollout undo web --to-revision=2
  kubectl petset rollout restart web
  kubectl petset migrate statefulset/web --dry-run
  kubectl petset convert -f statefulset.yaml`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Streams.In)
	root.SetOut(env.Streams.Out)
	root.SetErr(env.Streams.ErrOut)

	rollout := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Manage the rollout of a PetSet",
		Long:  "Manage the rollout of a PetSet: wait for it, list and inspect its revisions, roll back, restart.",
		Example: `  # Wait until the rolling update of web is done, at most 5 minutes
  kubectl petset rollout status web --timeout=5m`,
	}
	rollout.AddCommand(newStatusCommand(env), newHistoryCommand(env), newUndoCommand(env), newRestartCommand(env))
	root.AddCommand(rollout, newMigrateCommand(env), newConvertCommand(env))
	return root
}
