package bench

import (
	"time"

	"github.com/kennel-dev/kennel/internal/procfs"
)

// cpuTimes are the CPU times of the processes a round compares.
type cpuTimes struct {
	kennel time.Duration // kennel's controller process
	kcm    time.Duration // the plane's kube-controller-manager
	// sts is the kube-controller-manager that runs only the StatefulSet
	// controller (ControllerConfig.UpstreamApart); zero otherwise.
	sts time.Duration
	api time.Duration // kube-apiserver
}

// cpuNow reads the processes' CPU times from /proc (10 ms ticks).
func (b *benchRun) cpuNow() cpuTimes {
	var t cpuTimes
	t.kennel, _ = procfs.CPUTime(b.ctl.cmd.Process.Pid)
	t.kcm, _ = procfs.CPUTime(b.kcmPid)
	if b.stsPid != 0 {
		t.sts, _ = procfs.CPUTime(b.stsPid)
	}
	t.api, _ = procfs.CPUTime(b.apiPid)
	return t
}

// since is the CPU spent between t0 and t.
func (t cpuTimes) since(t0 cpuTimes) cpuTimes {
	return cpuTimes{kennel: t.kennel - t0.kennel, kcm: t.kcm - t0.kcm, sts: t.sts - t0.sts, api: t.api - t0.api}
}

// upstreamCPU is the StatefulSet controller's CPU in each round, from the
// upstream runs u and the kennel runs k of the same rounds. Apart, it is
// its own process's; otherwise an estimate: kube-controller-manager's CPU
// in the upstream run minus in kennel's run of the same round, when its
// other controllers see the same pods and claims but the StatefulSet
// controller is idle.
func upstreamCPU(k, u []cpuTimes, apart bool) []float64 {
	var out []float64
	for i := range u {
		switch {
		case apart:
			out = append(out, u[i].sts.Seconds())
		case i < len(k):
			out = append(out, (u[i].kcm - k[i].kcm).Seconds())
		}
	}
	return out
}

// apiCPUNote says what the API server's CPU row holds.
const apiCPUNote = "kube-apiserver CPU is the whole API server's over the same window: the set controller's requests and the watches it holds, and every request its changes set off in the other components (scheduler, kwok, PV controller, EndpointSlices)."

// upstreamProcessNote says where the StatefulSet controller runs.
func upstreamProcessNote(apart bool) string {
	if apart {
		return "the StatefulSet controller runs inside a kube-controller-manager v1.37.2 that runs only it (the same limits, its own informers)."
	}
	return "the StatefulSet controller runs inside kube-controller-manager v1.37.2 with every other controller (sharing its informers and client limits)."
}

// upstreamCPUNote says how the upstream controller's CPU was obtained.
func upstreamCPUNote(apart bool) string {
	if apart {
		return "Upstream's controller CPU is measured: the StatefulSet controller runs in a kube-controller-manager v1.37.2 of its own (--controllers=statefulset-controller, its own informers and the same client limits as kennel's), the plane's runs every other controller (--controllers=*,-statefulset-controller). 'kube-controller-manager (raw)' is the plane's, without the StatefulSet controller."
	}
	return "Upstream's controller CPU is an estimate: kube-controller-manager's CPU during the upstream run minus its CPU during kennel's run of the same round, when its other controllers (endpoints, PV binder, garbage collector...) see the same pods and claims but the StatefulSet controller is idle. Negative or tiny values mean the difference is below the noise of the shared machine."
}

// kennelCPU, kcmCPU and apiCPU pick one process's seconds from each round.
func kennelCPU(ts []cpuTimes) []float64 {
	return cpuSeconds(ts, func(t cpuTimes) time.Duration { return t.kennel })
}

func kcmCPU(ts []cpuTimes) []float64 {
	return cpuSeconds(ts, func(t cpuTimes) time.Duration { return t.kcm })
}

func apiCPU(ts []cpuTimes) []float64 {
	return cpuSeconds(ts, func(t cpuTimes) time.Duration { return t.api })
}

func cpuSeconds(ts []cpuTimes, f func(cpuTimes) time.Duration) []float64 {
	out := make([]float64, 0, len(ts))
	for _, t := range ts {
		out = append(out, f(t).Seconds())
	}
	return out
}
