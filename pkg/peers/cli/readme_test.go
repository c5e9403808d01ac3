package cli

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEUsage keeps the usage block in the README identical to
// `peer-finder --help`, so the documented flags cannot drift from the binary.
func TestREADMEUsage(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- peer-finder-usage:start -->\n```\n", "```\n<!-- peer-finder-usage:end -->"
	text := string(b)
	i := strings.Index(text, start)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no peer-finder usage block between %q and %q", start, end)
	}
	got := text[i+len(start) : j]
	if want := Usage(); got != want {
		t.Errorf("README.md usage block differs from peer-finder --help; replace it with the output of `peer-finder --help`.\nREADME:\n%s\n--help:\n%s", got, want)
	}
}
