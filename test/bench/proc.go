package bench

import "github.com/kennel-dev/kennel/internal/procfs"

// memoryKiB returns VmRSS and VmHWM of pid in KiB, the unit of the reports.
func memoryKiB(pid int) (rss, hwm float64, err error) {
	r, h, err := procfs.Memory(pid)
	return float64(r) / 1024, float64(h) / 1024, err
}
