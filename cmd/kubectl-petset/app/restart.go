package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
)

// restartedAtAnnotation is the template annotation kubectl rollout restart sets.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

func newRestartCommand(env *Env) *cobra.Command {
	return env.takes(&cobra.Command{
		Use:   "restart NAME",
		Short: "Restart every pet of a PetSet, one at a time",
		Long: `Restart a PetSet's pets by setting the kubectl.kubernetes.io/restartedAt
annotation of its pod template to the current time, as 'kubectl rollout
restart statefulset/NAME' does. The new template is a new revision, so the
controller replaces the pets as in any rolling update: highest ordinal first,
within the update strategy (partition, maxUnavailable; nothing happens by
itself under OnDelete).`,
		Example: `  # Restart web's pets and wait until they are all replaced
  kubectl petset rollout restart web && kubectl petset rollout status web`,
	}, petSets, func(ctx context.Context, c *Clients, name string) error {
		return restart(ctx, c.Kennel, c.Namespace, name, env.Now(), env.Streams.Out)
	})
}

func restart(ctx context.Context, kc versioned.Interface, ns, name string, now time.Time, out io.Writer) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{restartedAtAnnotation: now.Format(time.RFC3339)},
	}}}})
	if err != nil {
		return err
	}
	if _, err := kc.KennelV1().PetSets(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "petset.kennel.dev/%s restarted\n", name)
	return nil
}
