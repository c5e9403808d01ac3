package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	kennelfake "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned/fake"
	"github.com/kennel-dev/kennel/pkg/reconcile"
)

const testNS = "ns"

var testNow = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)

// fixture runs the plugin's commands against fake clientsets.
type fixture struct {
	kube   *kubefake.Clientset
	kennel *kennelfake.Clientset
	stdin  string
}

func newFixture(kube []runtime.Object, kennel ...runtime.Object) *fixture {
	f := &fixture{kube: kubefake.NewClientset(kube...), kennel: kennelfake.NewSimpleClientset(kennel...)}
	// The fake tracker would store dry-run creates and patches: answer
	// them without storing, as the API server does.
	f.kennel.PrependReactor("create", "petsets", func(a clienttesting.Action) (bool, runtime.Object, error) {
		c := a.(clienttesting.CreateActionImpl)
		return len(c.CreateOptions.DryRun) > 0, c.Object, nil
	})
	f.kennel.PrependReactor("patch", "petsets", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.PatchActionImpl)
		if len(p.PatchOptions.DryRun) == 0 {
			return false, nil, nil
		}
		obj, err := f.kennel.Tracker().Get(p.Resource, p.Namespace, p.Name)
		return true, obj, err
	})
	return f
}

// run runs the command line and returns stdout, stderr and the error.
func (f *fixture) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{
		Streams: genericiooptions.IOStreams{In: strings.NewReader(f.stdin), Out: &out, ErrOut: &errOut},
		Clients: func() (*Clients, error) {
			return &Clients{Kube: f.kube, Kennel: f.kennel, Namespace: testNS}, nil
		},
		Now:  func() time.Time { return testNow },
		Poll: time.Millisecond,
	}
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// kennelActions lists the verbs sent to the kennel clientset, e.g. "patch petsets".
func verbs(actions []clienttesting.Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

func testPetSet(name string) *kennelv1.PetSet {
	replicas := int32(3)
	lbls := map[string]string{"app": name}
	return &kennelv1.PetSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, UID: "set-uid", Generation: 1, ResourceVersion: "10"},
		Spec: kennelv1.PetSetSpec{
			Replicas:    &replicas,
			Selector:    &metav1.LabelSelector{MatchLabels: lbls},
			ServiceName: name,
			Template:    testTemplate(lbls, "img:2"),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.RollingUpdateStatefulSetStrategyType,
			},
		},
	}
}

func testTemplate(lbls map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func TestObjectName(t *testing.T) {
	for _, tc := range []struct {
		arg, want, err string
	}{
		{arg: "web", want: "web"},
		{arg: "petset/web", want: "web"},
		{arg: "pets/web", want: "web"},
		{arg: "petsets.kennel.dev/web", want: "web"},
		{arg: "deployment/web", err: "expected petset/NAME or NAME"},
		{arg: "petset/", err: "the name is empty"},
	} {
		got, err := objectName(tc.arg, petSetNames)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.arg, got, err, tc.want)
		}
	}
}

func TestStuckReasonIsTheController(t *testing.T) {
	if reasonRolloutStuck != reconcile.ReasonRolloutStuck {
		t.Fatalf("reasonRolloutStuck = %q, controller uses %q", reasonRolloutStuck, reconcile.ReasonRolloutStuck)
	}
}

// Every command has a description and examples, and --help prints them.
func TestHelpHasExamples(t *testing.T) {
	f := newFixture(nil)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Parent() != nil && c.Parent().Name() == "completion" || c.Name() == "completion" {
			return
		}
		if c.Example == "" || c.Long == "" {
			t.Errorf("%q has no long description or no examples", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewCommand(&Env{}))
	for _, args := range [][]string{{"--help"}, {"rollout", "status", "--help"}, {"rollout", "history", "--help"},
		{"rollout", "undo", "--help"}, {"rollout", "restart", "--help"}, {"migrate", "--help"}, {"convert", "--help"}} {
		out, _, err := f.run(t, args...)
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "kubectl petset") {
			t.Errorf("%v: err %v, output:\n%s", args, err, out)
		}
	}
}

func TestCompletion(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: testNS}}
	f := newFixture([]runtime.Object{sts}, testPetSet("web"), testPetSet("zk"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args: []string{"__complete", "rollout", "status", "w"}, want: "web\n:4\n"},
		{args: []string{"__complete", "rollout", "undo", ""}, want: "web\nzk\n:4\n"},
		{args: []string{"__complete", "migrate", "st"}, want: "statefulset/db\n:4\n"},
		{args: []string{"__complete", "rollout", "restart", "web", ""}, want: ":4\n"},
	} {
		out, _, err := f.run(t, tc.args...)
		if err != nil || out != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}
}
