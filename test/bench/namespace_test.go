package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func volume(name, claimNS string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if claimNS != "" {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: claimNS, Name: "data-" + name}
	}
	return pv
}

// A round's namespace counts as gone only once the volumes of its claims
// are gone too; volumes of other namespaces, or never bound, do not count.
func TestDeleteNamespaceWaitsForItsVolumes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		wantErr string
	}{
		{"no volumes", nil, ""},
		{"others' volumes", []runtime.Object{volume("a", "other"), volume("b", "")}, ""},
		{"its volumes left", []runtime.Object{volume("a", "r1"), volume("b", "r1"), volume("c", "other")}, "2 volumes of its claims still there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "r1"}}}, tc.objs...)
			c := fake.NewClientset(objs...)
			err := deleteNamespaceWithin(context.Background(), c, "r1", 10*time.Millisecond)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err %v, want none", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}
