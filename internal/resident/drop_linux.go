//go:build linux

package resident

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The values of asm-generic/mman-common.h, which amd64 and arm64 use.
const (
	madvDontNeed = 4  // MADV_DONTNEED
	madvDontDump = 16 // MADV_DONTDUMP
	madvDoDump   = 17 // MADV_DODUMP
)

// DropExecutablePages unmaps the resident pages of the running
// executable's read-only mappings, after making each of their pages a
// mapping of its own (SplitPages) so that the kernel's fault-around brings
// back only the pages that are used. Call Merge on the result once the
// pages the process keeps using are back.
func DropExecutablePages() (*Drop, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	maps, err := readSmaps()
	if err != nil {
		return nil, err
	}
	d := &Drop{}
	page := uint64(os.Getpagesize())
	splitting := true
	for _, m := range maps {
		if !m.Droppable(exe) || m.DontDump || !splitting {
			continue
		}
		d.split = append(d.split, m)
		for a := range SplitPages(m, page) {
			if err := madvise(a, page, madvDontDump); err != nil {
				// Most likely vm.max_map_count: the pages not split
				// come back in blocks, as they would without it.
				splitting = false
				break
			}
			d.Split++
		}
	}
	for _, m := range maps {
		if !m.Droppable(exe) {
			continue
		}
		if err := madvise(m.Start, m.End-m.Start, madvDontNeed); err != nil {
			return nil, errors.Join(fmt.Errorf("madvise %x-%x: %w", m.Start, m.End, err), d.Merge())
		}
		d.Bytes += m.Rss
	}
	return d, nil
}

// Merge makes the split mappings whole again, as they were before
// DropExecutablePages; the pages they hold stay as they are.
func (d *Drop) Merge() error {
	var errs []error
	for _, m := range d.split {
		if err := madvise(m.Start, m.End-m.Start, madvDoDump); err != nil {
			errs = append(errs, fmt.Errorf("madvise %x-%x: %w", m.Start, m.End, err))
		}
	}
	d.split, d.Split = nil, 0
	return errors.Join(errs...)
}

func readSmaps() ([]Mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSmaps(f)
}

func madvise(addr, length uint64, advice int) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}
