package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// snapshot is the UIDs of the set's pods and claims by name.
type snapshot struct {
	pods, claims map[string]types.UID
}

func (m *migration) poll() time.Duration {
	if m.env.Poll > 0 {
		return m.env.Poll
	}
	return time.Second
}

// move orphan-deletes the StatefulSet, creates the PetSet and waits for
// the adoption.
func (m *migration) move(ctx context.Context, sts *appsv1.StatefulSet, set *kennelv1.PetSet) error {
	before, err := m.snapshot(ctx, sts.Spec.Selector, set)
	if err != nil {
		return err
	}
	orphan := metav1.DeletePropagationOrphan
	err = m.c.Kube.AppsV1().StatefulSets(sts.Namespace).Delete(ctx, sts.Name, metav1.DeleteOptions{
		PropagationPolicy: &orphan,
		// Only the StatefulSet that was checked.
		Preconditions: &metav1.Preconditions{UID: &sts.UID, ResourceVersion: &sts.ResourceVersion},
	})
	if err != nil {
		return fmt.Errorf("delete statefulset %q (it was left as it was): %w", sts.Name, err)
	}
	fmt.Fprintf(m.out, "statefulset.apps/%s deleted with --cascade=orphan (%d pods, %d claims left running)\n", sts.Name, len(before.pods), len(before.claims))
	if err := m.waitGone(ctx, sts); err != nil {
		return m.stranded(set, err)
	}
	if _, err := m.c.Kennel.KennelV1().PetSets(set.Namespace).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		return m.stranded(set, err)
	}
	fmt.Fprintf(m.out, "petset.kennel.dev/%s created\n", set.Name)
	created, err := m.waitAdopted(ctx, set, len(before.pods))
	if err != nil {
		return fmt.Errorf("petset %q created, but the pods were not adopted: %w (see kubectl describe petset %s)", set.Name, err, set.Name)
	}
	after, err := m.snapshot(ctx, sts.Spec.Selector, set)
	if err != nil {
		return err
	}
	if d := uidChanges("pod", before.pods, after.pods) + uidChanges("claim", before.claims, after.claims); d != "" {
		return fmt.Errorf("petset %q adopted the pods, but some were replaced:%s", set.Name, d)
	}
	fmt.Fprintf(m.out, "petset.kennel.dev/%s adopted %d pods (%s) and %d claims, UIDs unchanged; current revision %s\n",
		set.Name, len(after.pods), strings.Join(sortedKeys(after.pods), ", "), len(after.claims), created.Status.CurrentRevision)
	return nil
}

// stranded explains the state when the StatefulSet is gone but the PetSet
// could not be made: the pods run on, unowned.
func (m *migration) stranded(set *kennelv1.PetSet, err error) error {
	b, _ := yaml.Marshal(set)
	fmt.Fprintf(m.env.Streams.ErrOut, "The StatefulSet is deleted; its pods and claims run on without an owner. Create the PetSet to adopt them:\n%s", b)
	return fmt.Errorf("create petset %q: %w", set.Name, err)
}

func (m *migration) waitGone(ctx context.Context, sts *appsv1.StatefulSet) error {
	return wait.PollUntilContextTimeout(ctx, m.poll(), m.timeout, true, func(ctx context.Context) (bool, error) {
		got, err := m.c.Kube.AppsV1().StatefulSets(sts.Namespace).Get(ctx, sts.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, nil
		}
		return got.UID != sts.UID, nil
	})
}

// waitAdopted waits until the PetSet controls n pods and reports them ready.
func (m *migration) waitAdopted(ctx context.Context, want *kennelv1.PetSet, n int) (*kennelv1.PetSet, error) {
	var set *kennelv1.PetSet
	sel, err := metav1.LabelSelectorAsSelector(want.Spec.Selector)
	if err != nil {
		return nil, err
	}
	last := "PetSet not read yet"
	err = wait.PollUntilContextTimeout(ctx, m.poll(), m.timeout, true, func(ctx context.Context) (bool, error) {
		set, err = m.c.Kennel.KennelV1().PetSets(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pods, err := m.c.Kube.CoreV1().Pods(want.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, nil
		}
		owned := 0
		for i := range pods.Items {
			if metav1.IsControlledBy(&pods.Items[i], set) {
				owned++
			}
		}
		last = fmt.Sprintf("%d of %d pods adopted, %d ready, generation %d observed %d", owned, n, set.Status.ReadyReplicas, set.Generation, set.Status.ObservedGeneration)
		return owned == n && set.Status.ObservedGeneration >= set.Generation && int(set.Status.ReadyReplicas) == n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, last)
	}
	return set, nil
}

func (m *migration) snapshot(ctx context.Context, selector *metav1.LabelSelector, set *kennelv1.PetSet) (*snapshot, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, err
	}
	pods, err := m.c.Kube.CoreV1().Pods(set.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	s := &snapshot{pods: map[string]types.UID{}, claims: map[string]types.UID{}}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Name, set.Name+"-") {
			continue
		}
		s.pods[p.Name] = p.UID
		for _, t := range set.Spec.VolumeClaimTemplates {
			claim := t.Name + "-" + p.Name
			c, err := m.c.Kube.CoreV1().PersistentVolumeClaims(set.Namespace).Get(ctx, claim, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			s.claims[claim] = c.UID
		}
	}
	return s, nil
}

// uidChanges lists the objects of before that are gone or have a new UID.
func uidChanges(kind string, before, after map[string]types.UID) string {
	var b strings.Builder
	for _, n := range sortedKeys(before) {
		switch uid, ok := after[n]; {
		case !ok:
			fmt.Fprintf(&b, " %s %s is gone;", kind, n)
		case uid != before[n]:
			fmt.Fprintf(&b, " %s %s was replaced (UID %s, was %s);", kind, n, uid, before[n])
		}
	}
	return b.String()
}

func sortedKeys(m map[string]types.UID) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
