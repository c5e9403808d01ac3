package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Series is one line of a chart: the times (seconds after the scale began)
// at which each pet was first seen Ready, in any order.
type Series struct {
	Name  string
	Ready []float64
}

// chartColors are the lines' colours, by series order (kennel, upstream,
// client loop).
var chartColors = []string{"#1f77b4", "#d62728", "#7f7f7f", "#2ca02c"}

// ReadyChart draws pets Ready over time as a step line per series, in SVG
// with no script or external reference, so that it can be embedded in
// Markdown as it is.
func ReadyChart(title string, series []Series) []byte {
	const w, h, left, right, top, bottom = 640, 360, 56, 16, 36, 64
	maxT, maxN := 0.0, 0
	for _, s := range series {
		for _, t := range s.Ready {
			maxT = math.Max(maxT, t)
		}
		maxN = max(maxN, len(s.Ready))
	}
	xMax, yMax := niceCeil(maxT), float64(max(1, maxN))
	x := func(t float64) float64 { return left + t/xMax*(w-left-right) }
	y := func(n float64) float64 { return h - bottom - n/yMax*(h-top-bottom) }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	for i := 0; i <= 5; i++ { // axes with ticks
		t, n := xMax*float64(i)/5, yMax*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(t), top, x(t), h-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(t), h-bottom+16, tickLabel(t))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(n), w-right, y(n))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(n)+4, tickLabel(n))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds after the scale began</text>`+"\n", (w+left-right)/2, h-bottom+34)
	fmt.Fprintf(&b, `<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">pets Ready</text>`+"\n", (h-bottom+top)/2, (h-bottom+top)/2)
	for i, s := range series {
		color := chartColors[i%len(chartColors)]
		ready := slices.Sorted(slices.Values(s.Ready))
		pts := []string{fmt.Sprintf("%.1f,%.1f", x(0), y(0))}
		for k, t := range ready { // a step up at each pet's time
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(t), y(float64(k))), fmt.Sprintf("%.1f,%.1f", x(t), y(float64(k+1))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		lx := left + 10 + i*150
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, h-14, lx+20, h-14, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+26, h-10, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceCeil rounds a positive value up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// writeReadyCharts writes, for each scale-up scenario, a chart of the
// median round of every side (by the time to all Ready) into dir, one SVG
// per scenario named after it.
func writeReadyCharts(dir string, scenarios []scenario, results []map[string][]sample, sides []string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for i, sc := range scenarios {
		if sc.to <= sc.from {
			continue
		}
		var series []Series
		for _, side := range sides {
			if s, ok := medianRound(results[i][side]); ok {
				series = append(series, Series{Name: side, Ready: s.ready})
			}
		}
		if len(series) == 0 {
			continue
		}
		path := filepath.Join(dir, chartFile(sc.name))
		if err := os.WriteFile(path, ReadyChart(sc.name+" (median round)", series), 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// medianRound returns the successful round with the median time, if any
// recorded its pets' Ready times.
func medianRound(samples []sample) (sample, bool) {
	var ok []sample
	for _, s := range samples {
		if s.err == nil && len(s.ready) > 0 {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return sample{}, false
	}
	slices.SortFunc(ok, func(a, b sample) int { return cmp.Compare(a.elapsed, b.elapsed) })
	return ok[(len(ok)-1)/2], true
}

// chartFile turns a scenario's name into a file name.
func chartFile(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '→':
			b.WriteString("-to-")
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	return strings.Trim(b.String(), "-") + ".svg"
}
