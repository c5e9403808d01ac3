//go:build linux

package resident

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// executableMappings returns this test binary's droppable mappings.
func executableMappings(t *testing.T) []Mapping {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := readSmaps()
	if err != nil {
		t.Fatal(err)
	}
	var out []Mapping
	for _, m := range maps {
		if m.Droppable(exe) {
			out = append(out, m)
		}
	}
	return out
}

func totals(maps []Mapping) (rss, size uint64) {
	for _, m := range maps {
		rss += m.Rss
		size += m.End - m.Start
	}
	return rss, size
}

// TestDropExecutablePages drops this test binary's own code pages and
// goes on running: what it touches again comes back from the file, page
// by page while the mappings are split, and Merge gives the original
// mappings back.
func TestDropExecutablePages(t *testing.T) {
	before := executableMappings(t)
	rssBefore, size := totals(before)
	if rssBefore == 0 {
		t.Fatal("no resident read-only mapping of the executable found")
	}
	d, err := DropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	if d.Bytes == 0 {
		t.Fatal("nothing was dropped")
	}
	split := executableMappings(t)
	page := uint64(os.Getpagesize())
	marked := 0
	for _, m := range before {
		for range SplitPages(m, page) {
			marked++
		}
	}
	if uint64(len(split)) != size/page || d.Split != marked {
		t.Fatalf("%d mappings of %d pages after the split (%d pages marked), want one per page", len(split), size/page, d.Split)
	}
	for _, m := range split {
		if m.End-m.Start != page {
			t.Fatalf("mapping %x-%x is not one page", m.Start, m.End)
		}
	}
	rssAfter, _ := totals(split)
	if rssAfter >= rssBefore {
		t.Fatalf("resident bytes of the executable: %d before, %d after dropping", rssBefore, rssAfter)
	}
	t.Logf("executable resident: %d KiB before, %d KiB after (dropped %d KiB)", rssBefore>>10, rssAfter>>10, d.Bytes>>10)
	// Code and data the drop touched are still intact.
	if _, err := ParseSmaps(strings.NewReader(sample)); err != nil {
		t.Fatalf("parsing after the drop: %v", err)
	}
	if err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	merged := executableMappings(t)
	if len(merged) != len(before) {
		t.Fatalf("%d mappings after Merge, want the %d of before", len(merged), len(before))
	}
	for i := range merged {
		if merged[i].Start != before[i].Start || merged[i].End != before[i].End || merged[i].DontDump {
			t.Fatalf("mapping %d after Merge: %+v, before: %+v", i, merged[i], before[i])
		}
	}
}

// TestReadSmapsAllocations: reading smaps allocates the two strings of
// each mapping and little else. What the drop allocates stays resident
// until the next collection; parsing line by line with strings.Fields
// allocated about 200 KiB in peer-finder.
func TestReadSmapsAllocations(t *testing.T) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := ParseSmaps(bytes.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := ParseSmaps(bytes.NewReader(smaps)); err != nil {
			t.Fatal(err)
		}
	})
	if limit := float64(2*len(maps) + 20); allocs > limit {
		t.Fatalf("%v allocations to parse %d mappings (%d bytes), want at most %v", allocs, len(maps), len(smaps), limit)
	}
}
