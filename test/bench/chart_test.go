package bench

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// svgNodes decodes the chart and counts its elements by name; it fails
// the test if the SVG is not well-formed XML.
func svgNodes(t *testing.T, svg []byte) map[string][]xml.StartElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	nodes := map[string][]xml.StartElement{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nodes
		}
		if err != nil {
			t.Fatalf("chart is not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			nodes[se.Name.Local] = append(nodes[se.Name.Local], se)
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestReadyChart(t *testing.T) {
	svg := ReadyChart("Parallel scale 0→3 <with claims>", []Series{
		{Name: "kennel", Ready: []float64{0.3, 0.1, 0.2}},
		{Name: "upstream", Ready: []float64{0.4}},
		{Name: "client loop"},
	})
	nodes := svgNodes(t, svg)
	lines := nodes["polyline"]
	if len(lines) != 3 {
		t.Fatalf("%d polylines, want one per series", len(lines))
	}
	// kennel: the origin, then two points per pet.
	if pts := strings.Fields(attr(lines[0], "points")); len(pts) != 1+2*3 {
		t.Errorf("kennel's line has %d points, want 7: %v", len(pts), pts)
	}
	// Times are sorted: x never goes back along a line.
	prev := -1.0
	for _, p := range strings.Fields(attr(lines[0], "points")) {
		var x, y float64
		if _, err := fmt.Sscanf(p, "%f,%f", &x, &y); err != nil {
			t.Fatal(err)
		}
		if x < prev {
			t.Fatalf("x goes back at %s in %s", p, attr(lines[0], "points"))
		}
		prev = x
	}
	if !strings.Contains(string(svg), "&lt;with claims&gt;") || !strings.Contains(string(svg), ">client loop<") {
		t.Errorf("title or legend missing or unescaped:\n%s", svg)
	}
}

func TestWriteReadyCharts(t *testing.T) {
	dir := t.TempDir()
	scenarios := []scenario{{name: "OrderedReady scale 0→3, until all Ready", to: 3}, {name: "OrderedReady scale 3→0, until all gone", from: 3}}
	results := []map[string][]sample{
		{"kennel": {{elapsed: 3 * time.Second, ready: []float64{1, 2, 3}}, {elapsed: time.Second, ready: []float64{0.1}},
			{elapsed: 2 * time.Second, ready: []float64{0.5, 1, 2}}, {elapsed: time.Millisecond, err: errors.New("failed")}}},
		{"kennel": {{elapsed: time.Second}}},
	}
	written, err := writeReadyCharts(dir, scenarios, results, []string{"kennel", "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "orderedready-scale-0-to-3-until-all-ready.svg")
	if len(written) != 1 || written[0] != want {
		t.Fatalf("wrote %v, want only %s (no chart for a scale-down)", written, want)
	}
	svg, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	// The median of the three successful rounds (2 s), one line: upstream has no rounds.
	lines := svgNodes(t, svg)["polyline"]
	if len(lines) != 1 || len(strings.Fields(attr(lines[0], "points"))) != 7 {
		t.Fatalf("want kennel's median round (3 pets) only, got %d lines", len(lines))
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {1.3, 2}, {3, 5}, {7, 10}, {42, 50}, {180, 200}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
