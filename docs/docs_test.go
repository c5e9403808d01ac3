// Package docs holds the documentation; its test keeps the tables of the
// docs equal to what the code defines: condition types and reasons, Event
// reasons, the controller's flags and the kennel.dev annotations.
package docs

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/kennel-dev/kennel/cmd/controller/app"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stringConsts returns the values of the string constants declared in the
// Go files, by constant name.
func stringConsts(t *testing.T, files ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
			return true
		})
	}
	return out
}

// section returns the text of the markdown section with the heading, up to
// the next heading of the same level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("no section %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n"+heading[:strings.Index(heading, " ")+1]); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

var ticked = regexp.MustCompile("`([A-Za-z][A-Za-z.-]*)`")

// tickedWords returns the backticked words of text that match keep.
func tickedWords(text string, keep *regexp.Regexp) []string {
	var out []string
	for _, m := range ticked.FindAllStringSubmatch(text, -1) {
		if keep.MatchString(m[1]) && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func TestReasonsAndConditionsMatchTheCode(t *testing.T) {
	reasons := stringConsts(t, "../pkg/reconcile/events.go")
	types := stringConsts(t, "../pkg/apis/kennel/v1/types.go")
	doc := read(t, "controller.md")
	status := section(t, doc, "## Status and conditions")
	events := section(t, doc, "## Events")
	for name, value := range reasons {
		if !strings.Contains(status+events, "`"+value+"`") {
			t.Errorf("reason %s (%q) is not in docs/controller.md's conditions table or Events", name, value)
		}
	}
	for _, name := range []string{"PetSetReady", "PetSetProgressing", "PetSetVolumeClaimsResized"} {
		if !strings.Contains(status, "| `"+types[name]+"` |") {
			t.Errorf("condition type %s (%q) has no row in docs/controller.md", name, types[name])
		}
	}
	known := map[string]bool{}
	for _, v := range reasons {
		known[v] = true
	}
	for _, v := range []string{types["PetSetReady"], types["PetSetProgressing"], types["PetSetVolumeClaimsResized"], "True", "False", "Ready", "OnDelete", "Progressing", "Deleting"} {
		known[v] = true
	}
	// Every CamelCase word in backticks in the table and the Events list
	// is a reason or condition the code defines.
	camel := regexp.MustCompile(`^[A-Z][a-z]+[A-Z][A-Za-z]*$|^[A-Z][a-z]+$`)
	for _, w := range tickedWords(status+events, camel) {
		if !known[w] {
			t.Errorf("docs/controller.md names %q, which the code does not define", w)
		}
	}
}

func TestControllerFlagsMatchTheCode(t *testing.T) {
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	app.NewOptions().AddFlags(fs)
	// klog's own flags are documented as one row.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	var want []string
	fs.VisitAll(func(f *pflag.Flag) {
		if klogFlags.Lookup(f.Name) == nil {
			want = append(want, f.Name)
		}
	})
	doc := read(t, "controller.md")
	var got []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`--([a-z-]+)`").FindAllStringSubmatch(first, -1) {
			got = append(got, m[1])
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("docs/controller.md flags table:\n got %v\nwant %v", got, want)
	}
}

func TestAnnotationsMatchTheCode(t *testing.T) {
	consts := stringConsts(t, "../pkg/reconcile/teardown.go", "../pkg/reconcile/update.go")
	api := read(t, "api.md")
	for _, name := range []string{"OrderedTeardownAnnotation", "ProgressDeadlineAnnotation"} {
		if !strings.Contains(api, "`"+consts[name]) {
			t.Errorf("annotation %s (%q) is not in docs/api.md", name, consts[name])
		}
	}
	for _, w := range tickedWords(api, regexp.MustCompile(`^kennel\.dev/[a-z-]+$`)) {
		found := false
		for _, v := range consts {
			found = found || v == w
		}
		if !found {
			t.Errorf("docs/api.md names annotation %q, which the code does not define", w)
		}
	}
}
