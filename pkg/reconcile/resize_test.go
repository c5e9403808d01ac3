package reconcile

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func sizedClaim(name, class, request, capacity string) *corev1.PersistentVolumeClaim {
	c := claimFor(name)
	if class != "" {
		c.Spec.StorageClassName = &class
	}
	c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}
	if capacity != "" {
		c.Status.Phase = corev1.ClaimBound
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
	}
	return c
}

func TestPlanClaimResize(t *testing.T) {
	yes, no := true, false
	classes := map[string]*storagev1.StorageClass{
		"fast":  {ObjectMeta: metav1.ObjectMeta{Name: "fast"}, AllowVolumeExpansion: &yes},
		"fixed": {ObjectMeta: metav1.ObjectMeta{Name: "fixed"}, AllowVolumeExpansion: &no},
	}
	set := retSet("", "")
	set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}
	claims := []*corev1.PersistentVolumeClaim{
		sizedClaim("data-web-0", "fast", "2Gi", "2Gi"),   // done
		sizedClaim("data-web-1", "fast", "1Gi", "1Gi"),   // expand
		sizedClaim("data-web-2", "", "1Gi", "1Gi"),       // no class: refused
		sizedClaim("data-web-3", "fixed", "1Gi", "1Gi"),  // refused
		sizedClaim("data-web-4", "fast", "2Gi", "1Gi"),   // raised, capacity pending
		sizedClaim("data-web-5", "gone", "1Gi", "1Gi"),   // class missing
		sizedClaim("data-web-6", "fast", "4Gi", "4Gi"),   // would shrink
		sizedClaim("data-web-7", "fast", "2Gi", ""),      // not bound yet: done
		sizedClaim("data-web-8", "locked", "1Gi", "1Gi"), // class unreadable
		sizedClaim("other-web-0", "fast", "1Gi", "1Gi"),  // not ours
	}
	plan := planClaimResize(set, claims, classes, map[string]string{"locked": "forbidden"})
	var expand []string
	for _, e := range plan.Expand {
		expand = append(expand, e.Claim.Name+"->"+e.To.String())
	}
	if got := strings.Join(expand, ","); got != "data-web-1->2Gi" {
		t.Errorf("expand %s", got)
	}
	if plan.Total != 9 || plan.Done != 2 || len(plan.Refused) != 5 || len(plan.Pending) != 2 {
		t.Errorf("plan %+v", plan)
	}
	c := plan.condition(3)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonResizeNotAllowed ||
		!strings.Contains(c.Message, "StorageClass fixed does not allow volume expansion") ||
		!strings.Contains(c.Message, "StorageClass gone not found") || !strings.Contains(c.Message, "cannot shrink") ||
		!strings.Contains(c.Message, "cannot read StorageClass locked: forbidden") ||
		!strings.Contains(c.Message, "data-web-2: cannot expand to 2Gi: it has no StorageClass") {
		t.Errorf("condition %+v", c)
	}
	// Everything expandable and done: True.
	done := planClaimResize(set, claims[:1], classes, nil).condition(3)
	if done.Status != metav1.ConditionTrue || done.Reason != ReasonResized {
		t.Errorf("done condition %+v", done)
	}
	if pending := planClaimResize(set, claims[4:5], classes, nil).condition(3); pending.Reason != ReasonResizing {
		t.Errorf("pending condition %+v", pending)
	}
	if planClaimResize(revSet("x"), nil, classes, nil).condition(1) != nil {
		t.Errorf("condition without claim templates")
	}
	// What is listed comes by claim name whatever the order given; a plan
	// with nothing listed still counts every claim.
	reversed := slices.Clone(claims)
	slices.Reverse(reversed)
	if got := planClaimResize(set, reversed, classes, map[string]string{"locked": "forbidden"}); !reflect.DeepEqual(got, plan) {
		t.Errorf("claims in reverse: plan %+v, want %+v", got, plan)
	}
	if got := planClaimResize(set, []*corev1.PersistentVolumeClaim{claims[7], claims[0]}, classes, nil); got.Total != 2 || got.Done != 2 {
		t.Errorf("nothing to list: plan %+v, want 2 of 2 done", got)
	}
	client := fake.NewClientset(claims[1])
	if err := NewClaimControl(client).ExpandClaim(context.Background(), set, claims[1], resource.MustParse("2Gi")); err != nil {
		t.Fatal(err)
	}
	live, _ := client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-1", metav1.GetOptions{})
	if q := live.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "2Gi" {
		t.Errorf("request %s after expand", q.String())
	}
}
