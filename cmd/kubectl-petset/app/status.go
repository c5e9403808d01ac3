package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
)

// reasonRolloutStuck is the Progressing=False reason the controller sets
// when a pet on the update revision stays unready past the deadline.
const reasonRolloutStuck = "RolloutStuck"

type statusOptions struct {
	watch   bool
	timeout time.Duration
}

func newStatusCommand(env *Env) *cobra.Command {
	o := &statusOptions{watch: true}
	cmd := env.takes(&cobra.Command{
		Use:   "status NAME",
		Short: "Show the status of a PetSet's rollout, and wait for it",
		Long: `Show the status of the rollout of a PetSet and, unless --watch=false, wait
until it is done, as 'kubectl rollout status statefulset/NAME' does: the
spec is observed, every pet is ready and, with RollingUpdate, every pet at or
above the partition runs the update revision. A rollout the controller
reports stuck (condition Progressing=False, reason RolloutStuck, naming the
pet and the revision) fails at once; --timeout bounds the wait.`,
		Example: `  # Wait for the rollout of web to finish
  kubectl petset rollout status web

  # Give up after two minutes (exit status 1)
  kubectl petset rollout status petset/web --timeout=2m

  # Print the current status once
  kubectl petset rollout status web --watch=false`,
	}, petSets, func(ctx context.Context, c *Clients, name string) error {
		return o.run(ctx, c.Kennel, c.Namespace, name, env.Streams.Out)
	})
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", o.watch, "Wait until the rollout is done.")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "How long to wait before giving up (e.g. 30s, 5m); 0 waits forever.")
	return cmd
}

func (o *statusOptions) run(ctx context.Context, kc versioned.Interface, ns, name string, out io.Writer) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	client := kc.KennelV1().PetSets(ns)
	last := ""
	check := func(set *kennelv1.PetSet) (bool, error) {
		msg, done, err := rolloutStatus(set)
		if err != nil {
			return false, err
		}
		if msg != last {
			fmt.Fprint(out, msg)
			last = msg
		}
		return done, nil
	}
	for {
		set, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return o.ctxErr(ctx, name, last, err)
		}
		if done, err := check(set); err != nil || done || !o.watch {
			return err
		}
		w, err := client.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: set.ResourceVersion,
		})
		if err != nil {
			return o.ctxErr(ctx, name, last, err)
		}
		done, err := watchUntil(ctx, w, name, check)
		if err != nil || done {
			return o.ctxErr(ctx, name, last, err)
		}
		if ctx.Err() != nil {
			return o.ctxErr(ctx, name, last, ctx.Err())
		}
		// The watch ended (server timeout): read the set again and go on.
	}
}

// watchUntil feeds the set's events to check until it is done, fails, the
// watch closes or ctx ends.
func watchUntil(ctx context.Context, w watch.Interface, name string, check func(*kennelv1.PetSet) (bool, error)) (bool, error) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return false, fmt.Errorf("petset %q was deleted", name)
			case watch.Error:
				return false, nil // re-list
			}
			set, ok := ev.Object.(*kennelv1.PetSet)
			if !ok || set.Name != name {
				continue
			}
			if done, err := check(set); err != nil || done {
				return done, err
			}
		}
	}
}

// ctxErr words a timeout as one, with the last status seen.
func (o *statusOptions) ctxErr(ctx context.Context, name, last string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || (o.timeout > 0 && ctx.Err() != nil) {
		if last == "" {
			return fmt.Errorf("timed out after %s waiting for the rollout of petset %q", o.timeout, name)
		}
		return fmt.Errorf("timed out after %s waiting for the rollout of petset %q; last status: %s", o.timeout, name, trimNL(last))
	}
	return err
}

func trimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}

// rolloutStatus applies the rules of kubectl's StatefulSet status viewer to
// a PetSet, and fails on a rollout the controller reports stuck. It returns
// the progress line (ending in a newline) and whether the rollout is done.
func rolloutStatus(set *kennelv1.PetSet) (string, bool, error) {
	if set.Spec.UpdateStrategy.Type != "" && set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", true, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if set.Status.ObservedGeneration == 0 || set.Generation > set.Status.ObservedGeneration {
		return "Waiting for petset spec update to be observed...\n", false, nil
	}
	if c := meta.FindStatusCondition(set.Status.Conditions, kennelv1.PetSetProgressing); c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason == reasonRolloutStuck && c.ObservedGeneration >= set.Generation {
		return "", false, fmt.Errorf("petset %q rollout is stuck: %s", set.Name, c.Message)
	}
	replicas := int32(1)
	if set.Spec.Replicas != nil {
		replicas = *set.Spec.Replicas
	}
	if set.Status.ReadyReplicas < replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...%s\n", replicas-set.Status.ReadyReplicas, blocked(set)), false, nil
	}
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if set.Status.UpdatedReplicas < replicas-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n",
				set.Status.UpdatedReplicas, replicas-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", set.Status.UpdatedReplicas), true, nil
	}
	if set.Status.UpdateRevision != set.Status.CurrentRevision {
		return fmt.Sprintf("waiting for petset rolling update to complete %d pods at revision %s...%s\n",
			set.Status.UpdatedReplicas, set.Status.UpdateRevision, blocked(set)), false, nil
	}
	return fmt.Sprintf("petset rolling update complete %d pods at revision %s...\n", set.Status.CurrentReplicas, set.Status.CurrentRevision), true, nil
}

// blocked is " (Reason: message)" when the controller reports that it
// cannot make progress, else "".
func blocked(set *kennelv1.PetSet) string {
	c := meta.FindStatusCondition(set.Status.Conditions, kennelv1.PetSetProgressing)
	if c == nil || c.Status != metav1.ConditionFalse {
		return ""
	}
	return fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
}
