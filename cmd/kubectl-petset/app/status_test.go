package app

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// withStatus returns the test set at generation gen with the status.
func withStatus(gen int64, st kennelv1.PetSetStatus, mutate ...func(*kennelv1.PetSet)) *kennelv1.PetSet {
	set := testPetSet("web")
	set.Generation = gen
	set.Status = st
	for _, m := range mutate {
		m(set)
	}
	return set
}

func partition(p int32) func(*kennelv1.PetSet) {
	return func(s *kennelv1.PetSet) {
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &p}
	}
}

func stuck(gen int64) func(*kennelv1.PetSet) {
	return func(s *kennelv1.PetSet) {
		s.Status.Conditions = []metav1.Condition{{Type: kennelv1.PetSetProgressing, Status: metav1.ConditionFalse,
			Reason: reasonRolloutStuck, ObservedGeneration: gen, Message: "pet web-2 at revision web-b not ready for 10m0s"}}
	}
}

func TestRolloutStatus(t *testing.T) {
	done := kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "web-b", UpdateRevision: "web-b"}
	rolling := kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-a", UpdateRevision: "web-b"}
	for _, tc := range []struct {
		name string
		set  *kennelv1.PetSet
		msg  string
		done bool
		err  string
	}{
		{name: "never observed", set: withStatus(1, kennelv1.PetSetStatus{}), msg: "Waiting for petset spec update to be observed...\n"},
		{name: "new generation", set: withStatus(3, done), msg: "Waiting for petset spec update to be observed...\n"},
		{name: "pods not ready", set: withStatus(2, kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 1}), msg: "Waiting for 2 pods to be ready...\n"},
		{name: "rolling", set: withStatus(2, rolling), msg: "waiting for petset rolling update to complete 1 pods at revision web-b...\n"},
		{name: "complete", set: withStatus(2, done), msg: "petset rolling update complete 3 pods at revision web-b...\n", done: true},
		{name: "partition waiting", set: withStatus(2, rolling, partition(1)), msg: "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...\n"},
		{name: "partition done", set: withStatus(2, kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 2, CurrentRevision: "web-a", UpdateRevision: "web-b"}, partition(1)),
			msg: "partitioned roll out complete: 2 new pods have been updated...\n", done: true},
		{name: "stuck", set: withStatus(2, rolling, stuck(2)), err: `petset "web" rollout is stuck: pet web-2 at revision web-b not ready for 10m0s`},
		{name: "stuck at an older generation is not this rollout", set: withStatus(3, kennelv1.PetSetStatus{ObservedGeneration: 3, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-a", UpdateRevision: "web-c"}, stuck(2)),
			msg: "waiting for petset rolling update to complete 1 pods at revision web-c... (RolloutStuck: pet web-2 at revision web-b not ready for 10m0s)\n"},
		{name: "OnDelete", set: withStatus(2, done, func(s *kennelv1.PetSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType }),
			err: "only available for RollingUpdate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, d, err := rolloutStatus(tc.set)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || msg != tc.msg || d != tc.done {
				t.Fatalf("got %q done=%v err=%v, want %q done=%v", msg, d, err, tc.msg, tc.done)
			}
		})
	}
}

// watched returns a fixture whose PetSet watch is the returned fake watcher.
func watched(set *kennelv1.PetSet) (*fixture, *watch.FakeWatcher) {
	f := newFixture(nil, set)
	w := watch.NewFakeWithChanSize(10, false)
	f.kennel.PrependWatchReactor("petsets", func(clienttesting.Action) (bool, watch.Interface, error) { return true, w, nil })
	return f, w
}

func TestStatusCommandWaitsThroughTheRollout(t *testing.T) {
	start := withStatus(2, kennelv1.PetSetStatus{ObservedGeneration: 1})
	f, w := watched(start)
	rolling := withStatus(2, kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-a", UpdateRevision: "web-b"})
	w.Modify(rolling)
	w.Modify(rolling) // no new line for the same status
	w.Modify(withStatus(2, kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "web-b", UpdateRevision: "web-b"}))
	out, _, err := f.run(t, "rollout", "status", "petset/web")
	if err != nil {
		t.Fatal(err)
	}
	want := "Waiting for petset spec update to be observed...\n" +
		"waiting for petset rolling update to complete 1 pods at revision web-b...\n" +
		"petset rolling update complete 3 pods at revision web-b...\n"
	if out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusCommandFails(t *testing.T) {
	rolling := kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-a", UpdateRevision: "web-b"}
	for _, tc := range []struct {
		name   string
		events []runtime.Object
		args   []string
		err    string
	}{
		{name: "timeout", args: []string{"--timeout=50ms"},
			err: `timed out after 50ms waiting for the rollout of petset "web"; last status: waiting for petset rolling update to complete 1 pods at revision web-b...`},
		{name: "stuck", events: []runtime.Object{withStatus(2, rolling, stuck(2))}, err: "rollout is stuck: pet web-2 at revision web-b"},
		{name: "deleted", events: []runtime.Object{nil}, err: `petset "web" was deleted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, w := watched(withStatus(2, rolling))
			for _, e := range tc.events {
				if e == nil {
					w.Delete(withStatus(2, rolling))
				} else {
					w.Modify(e)
				}
			}
			_, _, err := f.run(t, append([]string{"rollout", "status", "web"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestStatusCommandNoWatch(t *testing.T) {
	f, _ := watched(withStatus(2, kennelv1.PetSetStatus{ObservedGeneration: 2, ReadyReplicas: 1}))
	out, _, err := f.run(t, "rollout", "status", "web", "--watch=false")
	if err != nil || out != "Waiting for 2 pods to be ready...\n" {
		t.Fatalf("%q, %v", out, err)
	}
	if _, _, err := f.run(t, "rollout", "status", "nosuch", "--watch=false"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing set: %v", err)
	}
}
