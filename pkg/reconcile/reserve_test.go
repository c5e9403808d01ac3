package reconcile

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

func TestPetSlots(t *testing.T) {
	for _, tc := range []struct {
		start    int32
		replicas int32
		reserved []int32
		want     string
	}{
		{0, 3, nil, "[0 1 2]"},
		{0, 3, []int32{1}, "[0 2 3]"},
		{0, 3, []int32{1, 0, -2}, "[2 3 4]"},
		{5, 2, []int32{7, 5}, "[6 8]"},
		{0, 2, []int32{9}, "[0 1]"},
		{0, 0, []int32{0}, "[]"},
	} {
		set := revSet("x")
		set.Spec.Replicas = &tc.replicas
		set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: tc.start}
		set.Spec.ReserveOrdinals = tc.reserved
		if got := fmt.Sprint(petSlots(set)); got != tc.want {
			t.Errorf("start %d replicas %d reserved %v: %s, want %s", tc.start, tc.replicas, tc.reserved, got, tc.want)
		}
	}
}
