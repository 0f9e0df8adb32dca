package ui

import (
	"strings"
	"testing"
	"time"
)

func TestNiceCeil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {1, 1}, {0.3, 0.5}, {1.2, 2}, {2.2, 2.5}, {30, 50}, {31.7, 50}, {100, 100}, {101, 200}, {0.04, 0.05},
	} {
		if got := niceCeil(c.in); got != c.want {
			t.Errorf("niceCeil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 ms"}, {300 * time.Microsecond, "0.3 ms"}, {12 * time.Millisecond, "12 ms"}, {999 * time.Millisecond, "999 ms"},
		{1200 * time.Millisecond, "1.2 s"}, {time.Second, "1 s"}, {59 * time.Second, "59 s"}, {90 * time.Second, "1m30s"},
		{-2 * time.Millisecond, "-2 ms"},
	} {
		if got := fmtDur(c.d); got != c.want {
			t.Errorf("fmtDur(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := fmtInt(n); got != want {
			t.Errorf("fmtInt(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 1.66: "1.7", 20: "20", 99.94: "99.9", 1234.4: "1,234"} {
		if got := fmtRate(v); got != want {
			t.Errorf("fmtRate(%v) = %q, want %q", v, got, want)
		}
	}
}

// A timeline escapes what it writes, and marks its points, each a link to its
// batch, only while there are at most maxMarkers of them.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	points := func(n int) []point {
		var ps []point
		for i := range n {
			ps = append(ps, point{t: t0.Add(time.Duration(i) * time.Second), v: float64(i), label: "<b>", href: "batch/x?a&b"})
		}
		return ps
	}
	a := newAxis(10, fmtRate)
	svg := string(timeline(`lag-"x"`, []series{{name: "<script>", class: "s0", points: points(3)}}, a, t0, t0.Add(2*time.Second), "15:04:05", 1, true))
	for _, want := range []string{`id="lag-&#34;x&#34;"`, "<title>&lt;script&gt;</title>", "<title>&lt;b&gt;</title>", `href="batch/x?a&amp;b"`, "average 1"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the timeline does not contain %q:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "<script>") || strings.Contains(svg, "<b>") {
		t.Errorf("the timeline writes a name unescaped:\n%s", svg)
	}
	if n := strings.Count(svg, "<circle"); n != 3 {
		t.Errorf("%d markers for 3 points", n)
	}
	svg = string(timeline("t", []series{{name: "many", class: "s0", points: points(maxMarkers + 1)}}, a, t0, t0.Add(time.Hour), "15:04:05", 0, false))
	if strings.Contains(svg, "<circle") || strings.Count(svg, "<polyline") != 1 {
		t.Errorf("over %d points, the timeline is not a line without markers", maxMarkers)
	}
}

// A histogram counts the values in tenths of its axis, the axis's top included in
// the last tenth.
func TestHistogram(t *testing.T) {
	svg := string(histogram("h", []float64{0, 0.05, 0.1, 0.95, 1, 3}, newAxis(1, fmtRate)))
	for _, want := range []string{"<title>0 to 0.1: 2 batches</title>", "<title>0.1 to 0.2: 1 batch</title>", "<title>0.9 to 1: 3 batches</title>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the histogram does not contain %q:\n%s", want, svg)
		}
	}
}
