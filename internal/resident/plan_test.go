package resident

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

const sample = `00400000-006e3000 r-xp 00000000 08:01 1234 /usr/bin/peer-finder
Size:               2956 kB
Rss:                2636 kB
Anonymous:             0 kB
006e3000-009eb000 r--p 002e3000 08:01 1234 /usr/bin/peer-finder
Rss:                2528 kB
Anonymous:             0 kB
009eb000-00a19000 rw-p 005eb000 08:01 1234 /usr/bin/peer-finder
Rss:                 164 kB
Anonymous:            40 kB
VmFlags: rd wr mr mw me ac sd
00a19000-00b00000 rw-p 00000000 00:00 0
Rss:                 100 kB
Anonymous:           100 kB
7f0000000000-7f0000010000 r--p 00000000 08:01 99 /usr/lib/other lib.so
Rss:                  64 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dd sd
`

func TestParseSmaps(t *testing.T) {
	got, err := ParseSmaps(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{0x400000, 0x6e3000, "r-xp", "/usr/bin/peer-finder", 2636 << 10, 0, false},
		{0x6e3000, 0x9eb000, "r--p", "/usr/bin/peer-finder", 2528 << 10, 0, false},
		{0x9eb000, 0xa19000, "rw-p", "/usr/bin/peer-finder", 164 << 10, 40 << 10, false},
		{0xa19000, 0xb00000, "rw-p", "", 100 << 10, 100 << 10, false},
		{0x7f0000000000, 0x7f0000010000, "r--p", "/usr/lib/other lib.so", 64 << 10, 0, true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d mappings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseSmapsErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"field first", "Rss: 4 kB\n", "before any mapping"},
		{"no unit", "00400000-00401000 r-xp 0 08:01 1 /x\nRss: 4\n", "want a size in kB"},
		{"not a number", "00400000-00401000 r-xp 0 08:01 1 /x\nAnonymous: four kB\n", "Anonymous:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSmaps(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDroppable(t *testing.T) {
	const exe = "/usr/bin/peer-finder"
	for _, tc := range []struct {
		name string
		m    Mapping
		exe  string
		want bool
	}{
		{"code", Mapping{Perms: "r-xp", Path: exe}, exe, true},
		{"read-only data", Mapping{Perms: "r--p", Path: exe}, exe, true},
		{"writable data", Mapping{Perms: "rw-p", Path: exe}, exe, false},
		{"relocated read-only data", Mapping{Perms: "r--p", Path: exe, Anonymous: 4096}, exe, false},
		{"another file", Mapping{Perms: "r-xp", Path: "/usr/lib/libc.so.6"}, exe, false},
		{"anonymous memory", Mapping{Perms: "r--p"}, exe, false},
		{"no executable path", Mapping{Perms: "r-xp"}, "", false},
		{"executable replaced on disk", Mapping{Perms: "r-xp", Path: exe + " (deleted)"}, exe + " (deleted)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Droppable(tc.exe); got != tc.want {
				t.Fatalf("Droppable(%q) = %v, want %v", tc.exe, got, tc.want)
			}
		})
	}
}

// Every other page is marked, from the second: no two neighbours share
// their flags, and the first page keeps them.
func TestSplitPages(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Mapping
		want []uint64
	}{
		{"one page", Mapping{Start: 0x400000, End: 0x401000}, nil},
		{"two pages", Mapping{Start: 0x400000, End: 0x402000}, []uint64{0x401000}},
		{"five pages", Mapping{Start: 0x400000, End: 0x405000}, []uint64{0x401000, 0x403000}},
		{"six pages", Mapping{Start: 0x6e3000, End: 0x6e9000}, []uint64{0x6e4000, 0x6e6000, 0x6e8000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := slices.Collect(SplitPages(tc.m, 4096)); !slices.Equal(got, tc.want) {
				t.Fatalf("SplitPages = %x, want %x", got, tc.want)
			}
		})
	}
}

func FuzzParseSmaps(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("00400000-00401000 r-xp 0 08:01 1\nRss: 4 kB\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		maps, err := ParseSmaps(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, m := range maps {
			if m.End < m.Start {
				t.Fatalf("mapping ends before it starts: %+v", m)
			}
		}
	})
}
