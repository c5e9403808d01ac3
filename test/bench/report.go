package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Row is one line of a comparison table.
type Row struct {
	Metric   string
	Kennel   string
	Upstream string
	// Ratio is kennel/upstream, empty where it means nothing.
	Ratio string
	Note  string
}

// Section is one table with notes under it.
type Section struct {
	Title string
	Rows  []Row
	Notes []string
	// Failures counts measurements that failed (each has a note).
	Failures int
	// Columns name the two compared sides; default "kennel", "upstream".
	Columns [2]string
}

// Median returns the median of xs (the mean of the middle two for an even
// count) and false for none.
func Median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// Ratio formats a/b as "0.52x"; "n/a" when either is missing, b is not
// positive or a is negative (differences below the noise).
func Ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b <= 0 || a < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// MedianRow compares two sample sets by their medians, formatted by f,
// with the sample counts in the note.
func MedianRow(metric string, kennel, upstream []float64, f func(float64) string) Row {
	mk, okK := Median(kennel)
	mu, okU := Median(upstream)
	r := Row{Metric: metric, Kennel: "n/a", Upstream: "n/a", Ratio: Ratio(mk, mu, okK, okU)}
	if okK {
		r.Kennel = f(mk)
	}
	if okU {
		r.Upstream = f(mu)
	}
	r.Note = fmt.Sprintf("median of %d / %d", len(kennel), len(upstream))
	return r
}

// Seconds formats seconds as a duration rounded to a sensible precision.
func Seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// MiB formats KiB as MiB.
func MiB(kib float64) string { return fmt.Sprintf("%.1f MiB", kib/1024) }

// Number formats a plain number with up to two decimals.
func Number(x float64) string {
	if x == float64(int64(x)) {
		return fmt.Sprintf("%d", int64(x))
	}
	return fmt.Sprintf("%.2f", x)
}

// Percent formats a CPU share in percent of one core.
func Percent(x float64) string { return fmt.Sprintf("%.4f%%", x) }

// WriteMarkdown writes the sections as Markdown tables.
func WriteMarkdown(w io.Writer, sections []Section) {
	for _, s := range sections {
		fmt.Fprintf(w, "### %s\n\n", s.Title)
		if len(s.Rows) > 0 {
			a, b := s.Columns[0], s.Columns[1]
			if a == "" {
				a, b = "kennel", "upstream"
			}
			fmt.Fprintf(w, "| metric | %s | %s | %s/%s | note |\n", a, b, a, b)
			fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
			for _, r := range s.Rows {
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(r.Metric), cell(r.Kennel), cell(r.Upstream), cell(r.Ratio), cell(r.Note))
			}
			fmt.Fprintln(w)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "- %s\n", strings.Join(strings.Fields(n), " "))
		}
		if len(s.Notes) > 0 {
			fmt.Fprintln(w)
		}
	}
}

func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
