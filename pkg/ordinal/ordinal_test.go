package ordinal

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kennel-dev/kennel/internal/testenv"
)

// parsed is what Parse and ParseFQDN return; the zero value is "not a pet".
type parsed struct {
	parent string
	ord    int
	ok     bool
}

// checkParser reports each input that parse (named name) does not parse as
// cases say.
func checkParser(t *testing.T, name string, parse func(string) (string, int, bool), cases map[string]parsed) {
	t.Helper()
	for in, want := range cases {
		if parent, ord, ok := parse(in); (parsed{parent, ord, ok}) != want {
			t.Errorf("%s(%q) = %q, %d, %v; want %+v", name, in, parent, ord, ok, want)
		}
	}
}

func TestParse(t *testing.T) {
	checkParser(t, "Parse", Parse, map[string]parsed{
		"web-0":                     {"web", 0, true},
		"web-10":                    {"web", 10, true},
		"my-web-7":                  {"my-web", 7, true},
		"a-2147483647":              {"a", math.MaxInt32, true},
		"a-2147483648":              {},
		"a-99999999999999999999999": {},
		"web-01":                    {},
		"web-00":                    {},
		"web--1":                    {"web-", 1, true},
		"web-":                      {},
		"-1":                        {},
		"web":                       {},
		"":                          {},
		"web-1a":                    {},
		"web-+1":                    {},
		"web- 1":                    {},
		"web-١":                     {}, // non-ASCII digit
	})
}

func TestParseFQDN(t *testing.T) {
	checkParser(t, "ParseFQDN", ParseFQDN, map[string]parsed{
		"web-3.web.default.svc.cluster.local.":    {"web", 3, true},
		"zk-12.zk-hs.prod.svc.iron-cluster.local": {"zk", 12, true},
		"web-3":             {"web", 3, true},
		"web.web-3.default": {},
		".web-3":            {},
	})
}

func TestNames(t *testing.T) {
	if got := PetName("web", 12); got != "web-12" {
		t.Errorf("PetName = %q", got)
	}
	if got := ClaimName("data", "web", 0); got != "data-web-0" {
		t.Errorf("ClaimName = %q", got)
	}
	// A pet name parses back to its set and ordinal.
	for _, i := range []int{0, 1, 9, 10, 123456} {
		set, n, ok := Parse(PetName("my-set", i))
		if !ok || set != "my-set" || n != i {
			t.Errorf("Parse(PetName(my-set, %d)) = %q, %d, %v", i, set, n, ok)
		}
	}
}

func TestSort(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{
			in:   []string{"web-10", "web-2", "web-1", "web-0"},
			want: []string{"web-0", "web-1", "web-2", "web-10"},
		},
		{
			in: []string{
				"web-10.web.default.svc.cluster.local",
				"web-2.web.default.svc.cluster.local",
				"WEB-1.web.default.svc.cluster.local",
			},
			want: []string{
				"WEB-1.web.default.svc.cluster.local",
				"web-2.web.default.svc.cluster.local",
				"web-10.web.default.svc.cluster.local",
			},
		},
		{
			// Names without an ordinal come after those with one.
			in:   []string{"zeta", "alpha", "web-3", "db-1"},
			want: []string{"db-1", "web-3", "alpha", "zeta"},
		},
		{
			in:   []string{"b-1", "a-2", "a-10", "b-0"},
			want: []string{"a-2", "a-10", "b-0", "b-1"},
		},
	}
	for _, tt := range tests {
		got := slices.Clone(tt.in)
		Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Sort(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestSortTwelvePets(t *testing.T) {
	var names []string
	for i := 11; i >= 0; i-- {
		names = append(names, PetName("zk", i)+".zk-hs.default.svc.cluster.local")
	}
	Sort(names)
	for i, n := range names {
		if _, ord, _ := ParseFQDN(n); ord != i {
			t.Fatalf("position %d holds %q", i, n)
		}
	}
}

func TestIsDNSLabel(t *testing.T) {
	valid := []string{"a", "web-0", "0abc", strings.Repeat("a", 63)}
	invalid := []string{"", "-a", "a-", "Web", "a.b", "a_b", strings.Repeat("a", 64), "ä"}
	for _, s := range valid {
		if err := IsDNSLabel(s); err != nil {
			t.Errorf("IsDNSLabel(%q) = %v; want nil", s, err)
		}
	}
	for _, s := range invalid {
		if err := IsDNSLabel(s); err == nil {
			t.Errorf("IsDNSLabel(%q) = nil; want an error", s)
		}
	}
}

func TestValidateNames(t *testing.T) {
	long := strings.Repeat("s", 60) // "s…s-9" is 62 characters, "s…s-10" is 63, "s…s-100" is 64
	tests := []struct {
		name      string
		set       string
		templates []string
		start     int
		replicas  int
		wantErr   string
	}{
		{"ok", "web", []string{"data"}, 0, 3, ""},
		{"zero replicas", "web", nil, 0, 0, ""},
		{"long set fits", long, nil, 0, 100, ""},
		{"long set too many", long, nil, 0, 101, "pet name"},
		{"start ordinal pushes over", long, nil, 100, 1, "pet name"},
		{"claim too long", strings.Repeat("s", 50), []string{"datadatadata"}, 0, 1, "claim name"},
		{"bad template", "web", []string{"Data"}, 0, 1, "volume claim template name"},
		{"bad set", "Web", nil, 0, 1, "set name"},
		{"negative start", "web", nil, -1, 1, "negative"},
		{"negative replicas", "web", nil, 0, -1, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.WantError(t, ValidateNames(tt.set, tt.templates, tt.start, tt.replicas), tt.wantErr)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"web-0", "web-10", "a-b-3", "web-01", "-1", "x-2147483648", "", "web-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		parent, ord, ok := Parse(name)
		if !ok {
			return
		}
		if parent == "" || ord < 0 || ord > math.MaxInt32 {
			t.Fatalf("Parse(%q) = %q, %d, true", name, parent, ord)
		}
		// Parsing is exact: rebuilding the name gives back the input.
		if got := PetName(parent, ord); got != name {
			t.Fatalf("PetName(Parse(%q)) = %q", name, got)
		}
	})
}

func FuzzCompare(f *testing.F) {
	f.Add("web-2", "web-10", "web-1.x")
	f.Add("a", "B", "a-0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		// Antisymmetry and reflexivity.
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", a)
		}
		if Compare(a, b) != -Compare(b, a) {
			t.Fatalf("Compare not antisymmetric for %q, %q", a, b)
		}
		// Transitivity of <=.
		if Compare(a, b) <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
			t.Fatalf("Compare not transitive for %q, %q, %q", a, b, c)
		}
		// Ordinal order between pets of one set.
		if _, na, ok := Parse(a); ok {
			if _, nb, ok := Parse(b); ok && strings.EqualFold(a[:strings.LastIndexByte(a, '-')], b[:strings.LastIndexByte(b, '-')]) && na < nb {
				if Compare(a, b) >= 0 {
					t.Fatalf("Compare(%q, %q) >= 0 although %d < %d", a, b, na, nb)
				}
			}
		}
	})
}

func BenchmarkSort(b *testing.B) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = "web-" + strconv.Itoa(len(names)-i) + ".web.default.svc.cluster.local"
	}
	buf := make([]string, len(names))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, names)
		Sort(buf)
	}
}
