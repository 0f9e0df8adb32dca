package ui

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// The charts are SVG drawn here, on the server: the page needs no chart library and
// no network. A timeline plots one value per batch against the batch time; its
// histogram, beside it as in Spark's Streaming tab, shares its value axis and counts
// the batches in each band of values.

const (
	chartW, chartH = 560, 150
	histW          = 220
	padL, padR     = 66, 14
	padT, padB     = 10, 22
	histBins       = 10
	// maxMarkers is the most points a timeline marks (each a link to its batch,
	// with its value as a tooltip); over it, only the line is drawn, to keep the
	// page small.
	maxMarkers = 150
)

// point is one batch's value.
type point struct {
	t     time.Time
	v     float64
	label string // the point's tooltip
	href  string // its batch's page
}

// series is one line of a timeline; class names its colour (s0, s1, …).
type series struct {
	name, class string
	points      []point
}

// axis is the value axis of a chart: from 0 to max, labelled by format.
type axis struct {
	max    float64
	format func(float64) string
}

// newAxis returns the axis for values up to top, rounded up to a round number.
func newAxis(top float64, format func(float64) string) axis {
	return axis{max: niceCeil(top), format: format}
}

// niceCeil returns the smallest of 1, 2, 2.5 and 5 times a power of ten that is at
// least x (1 for x <= 0).
func niceCeil(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*e >= x*(1-1e-12) {
			return m * e
		}
	}
	return 10 * e
}

// svgWriter builds an SVG document, escaping every text.
type svgWriter struct{ strings.Builder }

func (w *svgWriter) f(format string, args ...any) { fmt.Fprintf(&w.Builder, format, args...) }

func (w *svgWriter) text(x, y float64, anchor, class, s string) {
	w.f(`<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, html.EscapeString(s))
}

// yAxis draws the value axis's grid lines and labels at 0, half and max.
func (w *svgWriter) yAxis(a axis, left, right float64, labels bool) {
	for _, frac := range []float64{0, 0.5, 1} {
		y := valueY(a, a.max*frac)
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, left, y, right, y)
		if labels {
			w.text(left-6, y+4, "end", "tick", a.format(a.max*frac))
		}
	}
}

// valueY is where value v is on a chart's height.
func valueY(a axis, v float64) float64 {
	h := float64(chartH - padT - padB)
	return padT + h - h*math.Min(v, a.max)/a.max
}

// timeline draws series against batch times from t0 to t1, with a dashed line at
// avg when showAvg.
func timeline(id string, ss []series, a axis, t0, t1 time.Time, layout string, avg float64, showAvg bool) template.HTML {
	var w svgWriter
	w.f(`<svg id="%s" class="timeline" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, html.EscapeString(id), chartW, chartH, chartW, chartH)
	left, right := float64(padL), float64(chartW-padR)
	w.yAxis(a, left, right, true)
	span := t1.Sub(t0)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return right
		}
		return left + (right-left)*float64(t.Sub(t0))/float64(span)
	}
	bottom := float64(chartH - padB)
	w.text(left, bottom+16, "start", "tick", t0.Format(layout))
	w.text(right, bottom+16, "end", "tick", t1.Format(layout))
	if showAvg {
		y := valueY(a, avg)
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="mean"><title>average %s</title></line>`, left, y, right, y, html.EscapeString(a.format(avg)))
	}
	markers := 0
	for _, s := range ss {
		markers += len(s.points)
	}
	for _, s := range ss {
		if len(s.points) == 0 {
			continue
		}
		w.f(`<polyline class="line %s" points="`, s.class)
		for i, p := range s.points {
			if i > 0 {
				w.WriteByte(' ')
			}
			w.f("%.1f,%.1f", x(p.t), valueY(a, p.v))
		}
		w.f(`"><title>%s</title></polyline>`, html.EscapeString(s.name))
		if markers > maxMarkers {
			continue
		}
		for _, p := range s.points {
			if p.href != "" {
				w.f(`<a href="%s">`, html.EscapeString(p.href))
			}
			w.f(`<circle cx="%.1f" cy="%.1f" r="3" class="dot %s"><title>%s</title></circle>`, x(p.t), valueY(a, p.v), s.class, html.EscapeString(p.label))
			if p.href != "" {
				w.f(`</a>`)
			}
		}
	}
	w.f(`</svg>`)
	return template.HTML(w.String())
}

// histogram draws how many of values fall in each tenth of the axis, as bars along
// the axis (which it shares with the timeline beside it).
func histogram(id string, values []float64, a axis) template.HTML {
	var counts [histBins]int
	for _, v := range values {
		i := int(math.Min(v, a.max) / a.max * histBins)
		counts[min(max(i, 0), histBins-1)]++
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	var w svgWriter
	w.f(`<svg id="%s" class="histogram" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, html.EscapeString(id), histW, chartH, histW, chartH)
	left, right := 4.0, float64(histW-36)
	w.yAxis(a, left, right, false)
	w.text(left, float64(chartH-padB)+16, "start", "tick", "batches")
	band := float64(chartH-padT-padB) / histBins
	for i, n := range counts {
		if n == 0 {
			continue
		}
		lo, hi := a.max*float64(i)/histBins, a.max*float64(i+1)/histBins
		y := valueY(a, hi)
		length := (right - left) * float64(n) / float64(most)
		what := "batches"
		if n == 1 {
			what = "batch"
		}
		w.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s to %s: %d %s</title></rect>`,
			left, y+0.5, length, band-1, html.EscapeString(a.format(lo)), html.EscapeString(a.format(hi)), n, what)
		w.text(left+length+4, y+band/2+4, "start", "count", fmt.Sprint(n))
	}
	w.f(`</svg>`)
	return template.HTML(w.String())
}
