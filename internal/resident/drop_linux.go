//go:build linux

package resident

import (
	"fmt"
	"os"
	"syscall"
)

const madvDontNeed = 4 // MADV_DONTNEED

// DropExecutablePages unmaps the resident pages of the running
// executable's read-only mappings and returns how many bytes were
// resident in them before.
func DropExecutablePages() (uint64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	maps, err := ParseSmaps(smaps)
	if err != nil {
		return 0, err
	}
	var dropped uint64
	for _, m := range maps {
		if !m.Droppable(exe) {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(m.Start), uintptr(m.End-m.Start), madvDontNeed); errno != 0 {
			return dropped, fmt.Errorf("madvise %x-%x: %w", m.Start, m.End, errno)
		}
		dropped += m.Rss
	}
	return dropped, nil
}
