package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

type migrateOptions struct {
	dryRun  bool
	lease   string
	timeout time.Duration
}

func newMigrateCommand(env *Env) *cobra.Command {
	o := &migrateOptions{lease: "kennel-system/kennel-controller", timeout: 2 * time.Minute}
	cmd := env.takes(&cobra.Command{
		Use:   "migrate statefulset/NAME",
		Short: "Move a live StatefulSet to a PetSet without restarting its pods",
		Long: `Move a running StatefulSet to a PetSet of the same name and spec, as
docs/migration.md describes, in one command. First it checks that

  - the PetSet CRD is installed and a kennel controller holds its Lease,
  - the StatefulSet is not being deleted and not mid-rollout (spec observed,
    every pod ready and on the current revision),
  - the revision its pods run is still there (else the PetSet would roll them),
  - no PetSet of that name exists, and the API server accepts the PetSet
    (a server-side dry run of the create).

If a check fails it names it and leaves the StatefulSet as it was. Otherwise
it deletes the StatefulSet with --cascade=orphan (pods, claims and revisions
stay), creates the PetSet, and waits until the controller has adopted every
pod; it then checks that no pod and no claim was replaced (same UIDs).`,
		Example: `  # Check only, and print the PetSet that would be created
  kubectl petset migrate statefulset/web --dry-run

  # Move it
  kubectl petset migrate statefulset/web -n prod`,
	}, statefulSets, func(ctx context.Context, c *Clients, name string) error {
		m := &migration{migrateOptions: o, c: c, env: env, out: env.Streams.Out}
		return m.run(ctx, name)
	})
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Run the checks and print the PetSet; change nothing.")
	cmd.Flags().StringVar(&o.lease, "controller-lease", o.lease, "NAMESPACE/NAME of the controller's leader election Lease; empty skips the check (a controller run with --leader-elect=false).")
	cmd.Flags().DurationVar(&o.timeout, "timeout", o.timeout, "How long to wait for the StatefulSet to go and the PetSet to adopt the pods.")
	return cmd
}

// migration is one run of migrate.
type migration struct {
	*migrateOptions
	c   *Clients
	env *Env
	out io.Writer
}

func (m *migration) run(ctx context.Context, name string) error {
	sts, err := m.c.Kube.AppsV1().StatefulSets(m.c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	set, err := petSetFor(sts)
	if err != nil {
		return err
	}
	if problems := m.check(ctx, sts, set); len(problems) > 0 {
		return fmt.Errorf("refusing to migrate statefulset/%s (left as it was):\n  - %s", name, strings.Join(problems, "\n  - "))
	}
	fmt.Fprintf(m.out, "statefulset.apps/%s: checks passed (CRD installed, %s, rollout settled at revision %s, no PetSet %s)\n",
		name, m.leaseSummary(), sts.Status.CurrentRevision, name)
	if m.dryRun {
		b, err := yaml.Marshal(set)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.out, "would delete statefulset.apps/%s with --cascade=orphan and create (dry run):\n%s", name, b)
		return nil
	}
	return m.move(ctx, sts, set)
}

// petSetFor is the PetSet that takes over the StatefulSet: same name,
// labels, annotations and spec.
func petSetFor(sts *appsv1.StatefulSet) (*kennelv1.PetSet, error) {
	b, err := json.Marshal(sts.Spec)
	if err != nil {
		return nil, err
	}
	set := &kennelv1.PetSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: kennelv1.SchemeGroupVersion.String(), Kind: "PetSet"},
		ObjectMeta: metav1.ObjectMeta{Name: sts.Name, Namespace: sts.Namespace, Labels: sts.Labels},
	}
	if err := json.Unmarshal(b, &set.Spec); err != nil {
		return nil, fmt.Errorf("statefulset %q: spec as a PetSet spec: %w", sts.Name, err)
	}
	for k, v := range sts.Annotations {
		if k == lastAppliedAnnotation {
			continue
		}
		if set.Annotations == nil {
			set.Annotations = map[string]string{}
		}
		set.Annotations[k] = v
	}
	return set, nil
}

func (m *migration) leaseSummary() string {
	if m.lease == "" {
		return "controller check skipped"
	}
	return "controller leading (Lease " + m.lease + ")"
}

// check returns every reason not to migrate.
func (m *migration) check(ctx context.Context, sts *appsv1.StatefulSet, set *kennelv1.PetSet) []string {
	var problems []string
	add := func(p string) {
		if p != "" {
			problems = append(problems, p)
		}
	}
	crd := m.checkCRD()
	add(crd)
	add(m.checkController(ctx))
	add(settled(sts))
	add(m.checkRevision(ctx, sts))
	if sts.Spec.ServiceName == "" {
		add("spec.serviceName is empty: a PetSet needs its governing Service (set it on the StatefulSet first)")
	}
	if crd == "" {
		add(m.checkCreate(ctx, set))
	}
	return problems
}

func (m *migration) checkCRD() string {
	gv := kennelv1.SchemeGroupVersion.String()
	res, err := m.c.Kube.Discovery().ServerResourcesForGroupVersion(gv)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Sprintf("cannot tell whether the PetSet CRD is installed: %v", err)
	}
	if res != nil {
		for _, r := range res.APIResources {
			if r.Name == "petsets" {
				return ""
			}
		}
	}
	return "the PetSet CRD is not installed (" + gv + " petsets is not served): kubectl apply --server-side -k deploy/crd"
}

func (m *migration) checkController(ctx context.Context) string {
	if m.lease == "" {
		return ""
	}
	ns, name, ok := strings.Cut(m.lease, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Sprintf("--controller-lease=%q: want NAMESPACE/NAME", m.lease)
	}
	lease, err := m.c.Kube.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("no kennel controller is running: its Lease %s does not exist (deploy it with make deploy, or name its Lease with --controller-lease)", m.lease)
	}
	if err != nil {
		return fmt.Sprintf("cannot read the controller's Lease %s: %v", m.lease, err)
	}
	s := lease.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil {
		return fmt.Sprintf("no kennel controller is leading: Lease %s has no holder", m.lease)
	}
	d := 15 * time.Second
	if s.LeaseDurationSeconds != nil {
		d = time.Duration(*s.LeaseDurationSeconds) * time.Second
	}
	if age := m.env.Now().Sub(s.RenewTime.Time); age > d {
		return fmt.Sprintf("no kennel controller is leading: Lease %s was last renewed by %s %s ago (lease duration %s)",
			m.lease, *s.HolderIdentity, age.Round(time.Second), d)
	}
	return ""
}

// settled says why the StatefulSet is mid-rollout, or "".
func settled(sts *appsv1.StatefulSet) string {
	st := sts.Status
	replicas := int32(1)
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	switch {
	case sts.DeletionTimestamp != nil:
		return "the StatefulSet is being deleted"
	case st.ObservedGeneration < sts.Generation:
		return fmt.Sprintf("the StatefulSet is mid-rollout: generation %d not yet observed by its controller (observed %d)", sts.Generation, st.ObservedGeneration)
	case st.UpdateRevision == "" || st.CurrentRevision != st.UpdateRevision:
		return fmt.Sprintf("the StatefulSet is mid-rollout: currentRevision %q, updateRevision %q (wait for kubectl rollout status statefulset/%s)", st.CurrentRevision, st.UpdateRevision, sts.Name)
	case st.Replicas != replicas || st.ReadyReplicas != replicas || st.UpdatedReplicas != replicas:
		return fmt.Sprintf("the StatefulSet is mid-rollout: %d replicas wanted, %d exist, %d ready, %d updated", replicas, st.Replicas, st.ReadyReplicas, st.UpdatedReplicas)
	}
	return ""
}

func (m *migration) checkRevision(ctx context.Context, sts *appsv1.StatefulSet) string {
	rev := sts.Status.UpdateRevision
	if rev == "" {
		return ""
	}
	_, err := m.c.Kube.AppsV1().ControllerRevisions(sts.Namespace).Get(ctx, rev, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("the pods' revision %s (ControllerRevision) is gone: the PetSet would replace every pod", rev)
	}
	if err != nil {
		return fmt.Sprintf("cannot read revision %s: %v", rev, err)
	}
	return ""
}

// checkCreate asks the API server whether it would create the PetSet.
func (m *migration) checkCreate(ctx context.Context, set *kennelv1.PetSet) string {
	_, err := m.c.Kennel.KennelV1().PetSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if err == nil {
		return fmt.Sprintf("a PetSet named %s already exists in namespace %s", set.Name, set.Namespace)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Sprintf("cannot check for a PetSet named %s: %v", set.Name, err)
	}
	if _, err := m.c.Kennel.KennelV1().PetSets(set.Namespace).Create(ctx, set, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		return fmt.Sprintf("the API server would refuse the PetSet: %v", err)
	}
	return ""
}
