package bench

import (
	"slices"
	"testing"
	"time"
)

func TestUpstreamCPU(t *testing.T) {
	s := time.Second
	k := []cpuTimes{{kennel: 3 * s, kcm: 2 * s, sts: 0}, {kennel: 4 * s, kcm: 3 * s, sts: s / 10}}
	u := []cpuTimes{{kennel: s / 10, kcm: 5 * s, sts: 2 * s}, {kennel: s / 10, kcm: 4 * s, sts: 3 * s}}
	for _, tc := range []struct {
		name  string
		k, u  []cpuTimes
		apart bool
		want  []float64
	}{
		{"apart: the StatefulSet controller's own process", k, u, true, []float64{2, 3}},
		{"estimate: kube-controller-manager's difference", k, u, false, []float64{3, 1}},
		{"estimate: a round without its kennel run is left out", k[:1], u, false, []float64{3}},
		{"apart: every upstream round counts", k[:1], u, true, []float64{2, 3}},
		{"no rounds", nil, nil, true, []float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := upstreamCPU(tc.k, tc.u, tc.apart)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCPUTimesSince(t *testing.T) {
	t0 := cpuTimes{kennel: time.Second, kcm: 2 * time.Second, sts: 3 * time.Second, api: 5 * time.Second}
	t1 := cpuTimes{kennel: 4 * time.Second, kcm: 4 * time.Second, sts: 4 * time.Second, api: 9 * time.Second}
	if got, want := t1.since(t0), (cpuTimes{kennel: 3 * time.Second, kcm: 2 * time.Second, sts: time.Second, api: 4 * time.Second}); got != want {
		t.Errorf("since = %+v, want %+v", got, want)
	}
}
