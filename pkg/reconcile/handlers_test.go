package reconcile

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
