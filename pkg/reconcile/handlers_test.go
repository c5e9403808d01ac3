package reconcile

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func TestClaimChangeMatters(t *testing.T) {
	base := func() *corev1.PersistentVolumeClaim {
		c := claimFor("data-web-0")
		c.Labels = map[string]string{"app": "web"}
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		c.Status.Phase = corev1.ClaimPending
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(c *corev1.PersistentVolumeClaim)
		want   bool
	}{
		{"binder sets the volume and its annotations", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.VolumeName = "pv-1"
			c.Annotations = map[string]string{"pv.kubernetes.io/bind-completed": "yes"}
		}, false},
		{"protection finalizer", func(c *corev1.PersistentVolumeClaim) {
			c.Finalizers = []string{"kubernetes.io/pvc-protection"}
		}, false},
		{"resource version only", func(c *corev1.PersistentVolumeClaim) { c.ResourceVersion = "2" }, false},
		{"bound", func(c *corev1.PersistentVolumeClaim) {
			c.Status.Phase = corev1.ClaimBound
			c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		}, true},
		{"being deleted", func(c *corev1.PersistentVolumeClaim) { now := metav1.Now(); c.DeletionTimestamp = &now }, true},
		{"owner added", func(c *corev1.PersistentVolumeClaim) {
			c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: "u"}}
		}, true},
		{"request raised", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, true},
		{"resize condition", func(c *corev1.PersistentVolumeClaim) {
			c.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue}}
		}, true},
		{"label", func(c *corev1.PersistentVolumeClaim) { c.Labels["kennel.dev/petset"] = "web" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, claim := base(), base()
			tc.change(claim)
			if got := claimChangeMatters(old, claim); got != tc.want {
				t.Fatalf("claimChangeMatters = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodChangeMatters(t *testing.T) {
	base := func() *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default", ResourceVersion: "1",
			Labels: map[string]string{"app": "web"}}}
		p.Status.Phase = corev1.PodPending
		return p
	}
	ready := func(p *corev1.Pod, s corev1.ConditionStatus, at time.Time) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: s, LastTransitionTime: metav1.NewTime(at)}}
	}
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   bool
	}{
		{"resource version only", func(p *corev1.Pod) { p.ResourceVersion = "2" }, false},
		{"bound to a node", func(p *corev1.Pod) { p.ResourceVersion, p.Spec.NodeName = "2", "node-1" }, false},
		{"running", func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }, true},
		{"started", func(p *corev1.Pod) { now := metav1.NewTime(t0); p.Status.StartTime = &now }, true},
		{"ready", func(p *corev1.Pod) { ready(p, corev1.ConditionTrue, t0) }, true},
		{"ready again later", func(p *corev1.Pod) { ready(p, corev1.ConditionTrue, t0.Add(time.Minute)) }, true},
		{"label", func(p *corev1.Pod) { p.Labels["controller-revision-hash"] = "web-2" }, true},
		{"pause annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{InitializedAnnotation: "false"} }, true},
		{"owner", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kennel.dev/v1", Kind: "PetSet", Name: "web", UID: "u"}}
		}, true},
		{"being deleted", func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, pod := base(), base()
			if tc.name == "ready again later" {
				ready(old, corev1.ConditionTrue, t0)
			}
			tc.change(pod)
			if got := podChangeMatters(old, pod); got != tc.want {
				t.Fatalf("podChangeMatters = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetChangeMatters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(s *kennelv1.PetSet)
		want   bool
	}{
		{"status written", func(s *kennelv1.PetSet) {
			s.ResourceVersion, s.Status.ReadyReplicas, s.Status.ObservedGeneration = "2", 3, 1
		}, false},
		{"spec changed", func(s *kennelv1.PetSet) { s.Generation++ }, true},
		{"being deleted", func(s *kennelv1.PetSet) { now := metav1.Now(); s.DeletionTimestamp = &now }, true},
		{"finalizer", func(s *kennelv1.PetSet) { s.Finalizers = []string{"kennel.dev/ordered-teardown"} }, true},
		{"annotation", func(s *kennelv1.PetSet) { s.Annotations = map[string]string{OrderedTeardownAnnotation: "true"} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := newSet("web", 3, appsv1.OrderedReadyPodManagement)
			old.Generation, old.ResourceVersion = 1, "1"
			set := old.DeepCopy()
			tc.change(set)
			if got := setChangeMatters(old, set); got != tc.want {
				t.Fatalf("setChangeMatters = %v, want %v", got, tc.want)
			}
		})
	}
}
