package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

type undoOptions struct {
	toRevision int64
	dryRun     string
}

func newUndoCommand(env *Env) *cobra.Command {
	o := &undoOptions{dryRun: "none"}
	cmd := env.takes(&cobra.Command{
		Use:   "undo NAME",
		Short: "Roll a PetSet back to an earlier revision",
		Long: `Roll a PetSet back to the pod template of an earlier revision (by default the
one before the newest), as 'kubectl rollout undo statefulset/NAME' does. The
controller then reuses that revision and rolls the pets back to it.`,
		Example: `  # Back to the previous revision
  kubectl petset rollout undo web

  # Back to revision 2, checked by the API server but not saved
  kubectl petset rollout undo web --to-revision=2 --dry-run=server`,
	}, petSets, func(ctx context.Context, c *Clients, name string) error {
		return o.run(ctx, c, name, env.Streams.Out)
	})
	cmd.Flags().Int64Var(&o.toRevision, "to-revision", 0, "The revision to roll back to; 0: the one before the newest.")
	cmd.Flags().StringVar(&o.dryRun, "dry-run", o.dryRun, `"none", "client" (print the template, send nothing) or "server" (the API server checks the change and does not save it).`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
	return cmd
}

func (o *undoOptions) run(ctx context.Context, c *Clients, name string, out io.Writer) error {
	if o.dryRun != "none" && o.dryRun != "client" && o.dryRun != "server" {
		return fmt.Errorf("--dry-run=%q: must be none, client or server", o.dryRun)
	}
	set, revs, err := setWithRevisions(ctx, c, name)
	if err != nil {
		return err
	}
	target, err := undoTarget(revs, o.toRevision, name)
	if err != nil {
		return err
	}
	tmpl, err := revisionTemplate(target)
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(*tmpl, set.Spec.Template) {
		fmt.Fprintf(out, "petset.kennel.dev/%s skipped rollback (current template already matches revision %d)\n", name, target.Revision)
		return nil
	}
	if o.dryRun == "client" {
		b, err := yaml.Marshal(tmpl)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "petset.kennel.dev/%s Pod Template (revision %d):\n%s", name, target.Revision, indent(string(b), "  "))
		fmt.Fprintf(out, "petset.kennel.dev/%s rolled back (dry run)\n", name)
		return nil
	}
	// Replace the template only if the set is still the one read above.
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": set.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
	})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{}
	if o.dryRun == "server" {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := c.Kennel.KennelV1().PetSets(c.Namespace).Patch(ctx, name, types.JSONPatchType, patch, opts); err != nil {
		return fmt.Errorf("roll back petset %q to revision %d: %w", name, target.Revision, err)
	}
	suffix := ""
	if o.dryRun == "server" {
		suffix = " (server dry run)"
	}
	fmt.Fprintf(out, "petset.kennel.dev/%s rolled back%s\n", name, suffix)
	return nil
}

// undoTarget picks the revision to go back to: toRevision, or with 0 the
// second newest.
func undoTarget(revs []appsv1.ControllerRevision, toRevision int64, name string) (*appsv1.ControllerRevision, error) {
	if toRevision < 0 {
		return nil, fmt.Errorf("--to-revision=%d: must be 0 or a revision number", toRevision)
	}
	if toRevision == 0 {
		if len(revs) < 2 {
			return nil, fmt.Errorf("no rollout history found for petset %q: it has %d revision(s)", name, len(revs))
		}
		return &revs[len(revs)-2], nil
	}
	if r := findRevision(revs, toRevision); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("unable to find specified revision %d in history of petset %q", toRevision, name)
}
