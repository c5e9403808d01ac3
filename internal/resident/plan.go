package resident

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Mapping is one address range of /proc/PID/smaps.
type Mapping struct {
	Start, End uint64
	Perms      string
	Path       string
	// Rss and Anonymous are in bytes.
	Rss, Anonymous uint64
	// DontDump: the mapping is excluded from core dumps ("dd" in
	// VmFlags).
	DontDump bool
}

// Droppable reports whether m is a mapping of exe whose pages can be
// dropped without losing anything: read-only and with no anonymous page.
func (m Mapping) Droppable(exe string) bool {
	const deleted = " (deleted)"
	exe = strings.TrimSuffix(exe, deleted)
	return exe != "" && strings.TrimSuffix(m.Path, deleted) == exe && len(m.Perms) >= 2 && m.Perms[1] != 'w' && m.Anonymous == 0
}

// ParseSmaps reads the mappings of an smaps file, with the Rss and
// Anonymous fields and the "dd" flag of each.
func ParseSmaps(smaps []byte) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if m, ok := parseHeader(f); ok {
			out = append(out, m)
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("smaps line %d: field %q before any mapping", line, f[0])
		}
		cur := &out[len(out)-1]
		if f[0] == "VmFlags:" {
			cur.DontDump = slices.Contains(f[1:], "dd")
			continue
		}
		switch f[0] {
		case "Rss:", "Anonymous:":
			kb, err := kilobytes(f)
			if err != nil {
				return nil, fmt.Errorf("smaps line %d: %w", line, err)
			}
			if f[0] == "Rss:" {
				cur.Rss = kb
			} else {
				cur.Anonymous = kb
			}
		}
	}
	return out, sc.Err()
}

// parseHeader reads a mapping's first line:
// "start-end perms offset dev inode [path]".
func parseHeader(f []string) (Mapping, bool) {
	if len(f) < 5 || strings.HasSuffix(f[0], ":") {
		return Mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return Mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end < start {
		return Mapping{}, false
	}
	return Mapping{Start: start, End: end, Perms: f[1], Path: strings.Join(f[5:], " ")}, true
}

func kilobytes(f []string) (uint64, error) {
	if len(f) != 3 || f[2] != "kB" {
		return 0, fmt.Errorf("%s: want a size in kB, got %q", f[0], strings.Join(f[1:], " "))
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f[0], err)
	}
	return n * 1024, nil
}

// SplitPages lists the pages of m to mark so that each page of m becomes a
// mapping of its own: every other page, from the second one (the first
// page keeps its flags: it holds the ELF header when m starts the file).
func SplitPages(m Mapping, pageSize uint64) []uint64 {
	var out []uint64
	for a := m.Start + pageSize; a < m.End; a += 2 * pageSize {
		out = append(out, a)
	}
	return out
}
