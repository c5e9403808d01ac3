package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// changeCauseAnnotation is where kubectl users record why a revision was made.
const changeCauseAnnotation = "kubernetes.io/change-cause"

func newHistoryCommand(env *Env) *cobra.Command {
	var revision int64
	cmd := env.takes(&cobra.Command{
		Use:   "history NAME",
		Short: "List a PetSet's revisions, or show one",
		Long: `List the revisions of a PetSet, from the ControllerRevisions it owns, with
their kubernetes.io/change-cause annotation, as 'kubectl rollout history
statefulset/NAME' does; with --revision, show that revision's pod template.`,
		Example: `  # The revisions of web
  kubectl petset rollout history web

  # The pod template of revision 3
  kubectl petset rollout history web --revision=3`,
	}, petSets, func(ctx context.Context, c *Clients, name string) error {
		set, revs, err := setWithRevisions(ctx, c, name)
		if err != nil {
			return err
		}
		return printHistory(env.Streams.Out, set, revs, revision)
	})
	cmd.Flags().Int64Var(&revision, "revision", 0, "Show the pod template of this revision.")
	return cmd
}

// setWithRevisions reads the PetSet and lists the ControllerRevisions it
// controls, oldest revision number first.
func setWithRevisions(ctx context.Context, c *Clients, name string) (*kennelv1.PetSet, []appsv1.ControllerRevision, error) {
	set, err := c.Kennel.KennelV1().PetSets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, nil, fmt.Errorf("petset %q: selector: %w", set.Name, err)
	}
	list, err := c.Kube.AppsV1().ControllerRevisions(set.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, err
	}
	var out []appsv1.ControllerRevision
	for _, r := range list.Items {
		if metav1.IsControlledBy(&r, set) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return set, out, nil
}

func printHistory(out io.Writer, set *kennelv1.PetSet, revs []appsv1.ControllerRevision, revision int64) error {
	if revision > 0 {
		r := findRevision(revs, revision)
		if r == nil {
			return fmt.Errorf("unable to find the specified revision %d of petset %q", revision, set.Name)
		}
		tmpl, err := revisionTemplate(r)
		if err != nil {
			return err
		}
		b, err := yaml.Marshal(tmpl)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "petset.kennel.dev/%s with revision #%d (%s)\nPod Template:\n%s", set.Name, revision, r.Name, indent(string(b), "  "))
		return nil
	}
	fmt.Fprintf(out, "petset.kennel.dev/%s\n", set.Name)
	if len(revs) == 0 {
		fmt.Fprintln(out, "No rollout history found.")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, r := range revs {
		cause := r.Annotations[changeCauseAnnotation]
		if cause == "" {
			cause = "<none>"
		}
		fmt.Fprintf(tw, "%d\t%s\n", r.Revision, cause)
	}
	return tw.Flush()
}

func findRevision(revs []appsv1.ControllerRevision, n int64) *appsv1.ControllerRevision {
	for i := range revs {
		if revs[i].Revision == n {
			return &revs[i]
		}
	}
	return nil
}

// revisionTemplate reads the pod template from a revision's data, the
// patch {"spec":{"template":{...,"$patch":"replace"}}} that the PetSet and
// StatefulSet controllers write.
func revisionTemplate(r *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template map[string]json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(r.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("revision %s: data: %w", r.Name, err)
	}
	if data.Spec.Template == nil {
		return nil, fmt.Errorf("revision %s holds no spec.template", r.Name)
	}
	delete(data.Spec.Template, "$patch")
	b, err := json.Marshal(data.Spec.Template)
	if err != nil {
		return nil, err
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("revision %s: template: %w", r.Name, err)
	}
	return &t, nil
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" && l != "\n" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
