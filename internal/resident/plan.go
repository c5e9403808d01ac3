package resident

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"iter"
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
// Anonymous fields and the "dd" flag of each. It reads line by line and
// allocates little beyond the result: whatever a process allocates before
// it drops its pages stays resident until the next garbage collection.
func ParseSmaps(r io.Reader) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	var fields [4][]byte
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		f, _ := splitFields(text, fields[:])
		if len(f) == 0 {
			continue
		}
		if m, ok := parseHeader(text); ok {
			out = append(out, m)
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("smaps line %d: field %q before any mapping", line, f[0])
		}
		cur := &out[len(out)-1]
		switch string(f[0]) {
		case "VmFlags:":
			cur.DontDump = hasField(text, "dd")
		case "Rss:", "Anonymous:":
			kb, err := kilobytes(f)
			if err != nil {
				return nil, fmt.Errorf("smaps line %d: %w", line, err)
			}
			if string(f[0]) == "Rss:" {
				cur.Rss = kb
			} else {
				cur.Anonymous = kb
			}
		}
	}
	return out, sc.Err()
}

// nextField returns the first space-separated field of line and what
// follows it.
func nextField(line []byte) (field, rest []byte) {
	line = bytes.TrimLeft(line, " \t")
	end := bytes.IndexAny(line, " \t")
	if end < 0 {
		end = len(line)
	}
	return line[:end], line[end:]
}

// splitFields fills f with the first len(f) fields of line and returns
// the filled part and the rest of the line.
func splitFields(line []byte, f [][]byte) ([][]byte, []byte) {
	n := 0
	for ; n < len(f); n++ {
		f[n], line = nextField(line)
		if len(f[n]) == 0 {
			break
		}
	}
	return f[:n], line
}

// hasField reports whether word is one of line's fields.
func hasField(line []byte, word string) bool {
	for {
		f, rest := nextField(line)
		if len(f) == 0 {
			return false
		}
		if string(f) == word {
			return true
		}
		line = rest
	}
}

// parseHeader reads a mapping's first line:
// "start-end perms offset dev inode [path]".
func parseHeader(line []byte) (Mapping, bool) {
	var fields [5][]byte
	f, path := splitFields(line, fields[:])
	if len(f) < 5 || bytes.HasSuffix(f[0], []byte(":")) {
		return Mapping{}, false
	}
	lo, hi, ok := bytes.Cut(f[0], []byte("-"))
	if !ok {
		return Mapping{}, false
	}
	start, ok1 := parseUint(lo, 16)
	end, ok2 := parseUint(hi, 16)
	if !ok1 || !ok2 || end < start {
		return Mapping{}, false
	}
	return Mapping{Start: start, End: end, Perms: string(f[1]), Path: string(bytes.TrimSpace(path))}, true
}

// kilobytes reads the fields of "Name: N kB" as bytes.
func kilobytes(f [][]byte) (uint64, error) {
	if len(f) != 3 || string(f[2]) != "kB" {
		return 0, fmt.Errorf("%s want a size in kB, got %q", f[0], bytes.Join(f[1:], []byte(" ")))
	}
	n, ok := parseUint(f[1], 10)
	if !ok || n > 1<<53 {
		return 0, fmt.Errorf("%s %q is not a number", f[0], f[1])
	}
	return n * 1024, nil
}

// parseUint reads an unsigned number in base 10 or 16; ok is false for
// anything else (empty, other characters, more than 64 bits).
func parseUint(b []byte, base uint64) (n uint64, ok bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	for _, c := range b {
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}

// SplitPages yields the pages of m to mark so that each page of m becomes
// a mapping of its own: every other page, from the second one (the first
// page keeps its flags: it holds the ELF header when m starts the file).
func SplitPages(m Mapping, pageSize uint64) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for a := m.Start + pageSize; a < m.End; a += 2 * pageSize {
			if !yield(a) {
				return
			}
		}
	}
}
