//go:build linux

package resident

import (
	"os"
	"testing"
)

// executableRss sums the resident bytes of this test binary's droppable
// mappings.
func executableRss(t *testing.T) uint64 {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := ParseSmaps(smaps)
	if err != nil {
		t.Fatal(err)
	}
	var rss uint64
	for _, m := range maps {
		if m.Droppable(exe) {
			rss += m.Rss
		}
	}
	return rss
}

// TestDropExecutablePages drops this test binary's own code pages and
// goes on running: what it touches again comes back from the file.
func TestDropExecutablePages(t *testing.T) {
	before := executableRss(t)
	if before == 0 {
		t.Fatal("no resident read-only mapping of the executable found")
	}
	dropped, err := DropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 {
		t.Fatal("nothing was dropped")
	}
	after := executableRss(t)
	if after >= before {
		t.Fatalf("resident bytes of the executable: %d before, %d after dropping", before, after)
	}
	t.Logf("executable resident: %d KiB before, %d KiB after (dropped %d KiB)", before>>10, after>>10, dropped>>10)
	// Code and data the drop touched are still intact.
	if _, err := ParseSmaps([]byte(sample)); err != nil {
		t.Fatalf("parsing after the drop: %v", err)
	}
}
