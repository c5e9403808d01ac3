package reconcile

import (
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// captureLogs gives the sim's controller a logger at the default
// verbosity (0) and returns a function that reads what it logged so far.
func captureLogs(s *sim) func() string {
	logger := ktesting.NewLogger(ktesting.NopTL{}, ktesting.NewConfig(ktesting.Verbosity(0), ktesting.BufferLogs(true)))
	s.logger = logger
	return logger.GetSink().(ktesting.Underlier).GetBuffer().String
}

// wantLines fails unless, for each pattern, some line of logs matches it.
func wantLines(t *testing.T, logs string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(logs) {
			t.Errorf("no log line matches %q; logs:\n%s", p, logs)
		}
	}
}

func TestDecisionsAreLoggedAtDefaultLevel(t *testing.T) {
	set := newSet("web", 3, appsv1.OrderedReadyPodManagement)
	s := newSim(t, set, newService("web"))
	logs := captureLogs(s)
	s.converge(40, "scale-up did not converge")
	s.steps(3) // status catches up
	wantLines(t, logs(),
		`Storing revision of the template.*revision="web-`,
		`Creating claim.*claim="default/data-web-0"`,
		`Creating pet.*pet="default/web-0".*reason="first pet"`,
		`Creating pet.*pet="default/web-1".*reason="web-0 available"`,
		`Creating pet.*pet="default/web-2".*reason="web-0..web-2 available"|Creating pet.*pet="default/web-2".*reason="web-0..web-1 available"`,
		`Condition changed.*type="Ready".*status="True"`,
	)

	// A settled set logs nothing.
	before := logs()
	s.steps(5)
	if after := logs(); after != before {
		t.Errorf("a settled set logged:\n%s", strings.TrimPrefix(after, before))
	}

	// A rollout: the new revision, then each pet deleted for it, highest first.
	old := s.set.Status.UpdateRevision
	s.set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	s.set.Generation++
	for i := 0; s.set.Status.UpdateRevision == old || s.set.Status.UpdatedReplicas != 3 || s.set.Status.ReadyReplicas != 3; i++ {
		if i == 60 {
			t.Fatalf("rollout did not finish: %+v", s.set.Status)
		}
		_ = s.step()
	}
	rollout := strings.TrimPrefix(logs(), before)
	wantLines(t, rollout,
		`Storing revision of the template`,
		`Deleting pet.*pet="default/web-2".*revision="`+old+`".*reason="rolling update from revision `+old+` to web-`,
		`Deleting pet.*pet="default/web-0".*reason="rolling update`,
	)
	if i, j := strings.Index(rollout, `pet="default/web-2"`), strings.Index(rollout, `pet="default/web-1"`); i < 0 || j < 0 || i > j {
		t.Errorf("rollout did not log web-2 before web-1:\n%s", rollout)
	}

	// Scale-down names its reason.
	s.setReplicas(2)
	s.converge(30, "scale-down did not converge")
	wantLines(t, logs(), `Deleting pet.*pet="default/web-2".*reason="scale-down to 2"`)
}

func TestStuckPetMessageSaysWhatWaits(t *testing.T) {
	set := newSet("web", 2, appsv1.OrderedReadyPodManagement)
	s := settledSim(t, set)
	// The last pet goes not Ready: nothing is left to create, so the
	// message must not say that creation waits.
	s.hold["web-1"] = true
	s.set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	s.set.Generation++
	s.steps(10)
	s.clock.Step(notReadyGrace)
	s.steps(3)
	c := condition(s.set, kennelv1.PetSetProgressing)
	if c == nil || c.Status != metav1.ConditionFalse || strings.Contains(c.Message, "creating further pets") {
		t.Fatalf("Progressing %+v: want False without a claim that creation waits", c)
	}
	if !strings.Contains(c.Message, "pet web-1 is not Ready since 20") {
		t.Errorf("message %q does not say which pet is not Ready since when", c.Message)
	}
	if r := condition(s.set, kennelv1.PetSetReady); r == nil || !strings.HasSuffix(r.Message, "; not Ready: web-1") {
		t.Errorf("Ready %+v: want the message to name the pet that is not Ready", r)
	}
}

func TestClaimsResizedOnlyOnceAsked(t *testing.T) {
	s := settledSim(t, newSet("web", 2, appsv1.ParallelPodManagement))
	if c := condition(s.set, kennelv1.PetSetVolumeClaimsResized); c != nil {
		t.Fatalf("VolumeClaimsResized %+v on a set whose claims were never resized", c)
	}
}
