package ui

import (
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
)

// The page's template, style and script: embedded, so the page works offline.
//
//go:embed assets/page.html assets/ui.css assets/ui.js
var assets embed.FS

var (
	pages  = template.Must(template.New("").ParseFS(assets, "assets/page.html"))
	style  = template.CSS(mustRead("assets/ui.css"))
	script = template.JS(mustRead("assets/ui.js"))
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// shownCompleted is how many completed batches the index's table lists (all that
// are retained with ?all).
const shownCompleted = 50

// page is what every page has.
type page struct {
	Title   string
	Refresh int64 // milliseconds between the script's polls
	V       uint64
	Root    string // the relative path to the index
	Style   template.CSS
	Script  template.JS
}

func (p page) version() uint64 { return p.V }

func (h *handler) page(v uint64, root string) page {
	return page{Title: h.cfg.title, Refresh: h.cfg.refresh.Milliseconds(), V: v, Root: root, Style: style, Script: script}
}

// link is a link to a batch's page, from the index.
type link struct{ Href, Time string }

// batchID is how a batch's time is written in its page's path.
func batchID(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// layouts returns how batch times are written: to the second, or to the
// millisecond when the batch interval is not a whole number of seconds.
func (h *handler) layout() string {
	if h.c.BatchInterval()%time.Second == 0 {
		return "15:04:05"
	}
	return "15:04:05.000"
}

func (h *handler) link(t time.Time) link {
	return link{Href: "batch/" + batchID(t), Time: t.Format(h.layout())}
}

type indexView struct {
	page
	Summary   summaryView
	Work      []workRow
	Finished  []workRow
	Stats     []statRow
	Kafka     []kafkaView
	Active    []batchRow
	Completed []batchRow // the latest first
	Retained  int        // how many completed batches are retained
	Truncated bool       // whether Completed lists fewer
}

type summaryView struct {
	Started                   string // "" before Run
	Interval                  string
	Completed, Failed         string
	Records                   string
	Active                    int
	LastErr, CkptErr, Unavail *errorView
}

type errorView struct {
	Batch link
	Err   string
}

type statRow struct {
	ID, Name, Avg       string
	Timeline, Histogram template.HTML
	Legend              []legendItem
}

type legendItem struct{ Class, Name string }

type kafkaView struct {
	Input      string
	AsOf       link
	TotalLag   string
	Partitions []partitionRow
	Lag        template.HTML
	Rate       template.HTML // "" when rate control held no batch back
	Legend     []legendItem
}

type partitionRow struct {
	Topic                                     string
	Partition                                 int
	From, Until, Records, End, Lag, RateLimit string
}

type batchRow struct {
	Link                        link
	Status                      string
	Records                     string
	Sched, Proc, Total, Outputs string
	Err                         string
}

type workRow struct {
	Op, Subject, Amount string
	Percent             string  // "" when the total is not known
	Value               float64 // the percent, for the progress bar
	Elapsed, ETA, Err   string
	Done                bool
}

func (h *handler) indexView(sn snapshot, all bool) indexView {
	v := indexView{page: h.page(sn.version, ""), Retained: len(sn.done)}
	v.Summary = summaryView{
		Interval: fmtDur(h.c.BatchInterval()), Completed: fmtInt(sn.completed), Failed: fmtInt(sn.failed),
		Records: fmtInt(sn.records), Active: len(sn.active),
	}
	if st := h.c.StartTime(); !st.IsZero() {
		v.Summary.Started = st.Format("2006-01-02 15:04:05 MST")
	}
	if b := sn.lastErr; b != nil {
		v.Summary.LastErr = &errorView{Batch: h.link(b.info.Time), Err: b.info.Err.Error()}
	}
	if b := sn.lastCkptErr; b != nil {
		v.Summary.CkptErr = &errorView{Batch: h.link(b.info.Time), Err: b.info.CheckpointErr.Error()}
	}
	if b := sn.lastUnavail; b != nil {
		var errs []string
		for _, name := range slices.Sorted(maps.Keys(b.info.Inputs)) {
			if err := b.info.Inputs[name].Unavailable; err != nil {
				errs = append(errs, name+": "+err.Error())
			}
		}
		v.Summary.Unavail = &errorView{Batch: h.link(b.info.Time), Err: strings.Join(errs, "; ")}
	}
	for _, w := range sn.work {
		v.Work = append(v.Work, workView(w))
	}
	for _, w := range sn.finished {
		v.Finished = append(v.Finished, workView(w))
	}
	v.Stats = h.stats(sn.done)
	v.Kafka = h.kafka(append(slices.Clone(sn.done), sn.active...))
	for _, b := range sn.active {
		v.Active = append(v.Active, h.batchRow(b))
	}
	shown := sn.done
	if !all && len(shown) > shownCompleted {
		shown, v.Truncated = shown[len(shown)-shownCompleted:], true
	}
	for _, b := range slices.Backward(shown) {
		v.Completed = append(v.Completed, h.batchRow(b))
	}
	return v
}

func (h *handler) batchRow(b *batch) batchRow {
	r := batchRow{Link: h.link(b.info.Time), Status: b.status.String(), Records: fmtInt(b.info.NumRecords), Sched: "—", Proc: "—", Total: "—"}
	if b.status != queued {
		r.Sched = fmtDur(b.info.SchedulingDelay())
	}
	if b.status == completed || b.status == failed {
		r.Proc, r.Total = fmtDur(b.info.ProcessingDelay()), fmtDur(b.info.TotalDelay())
	}
	if b.info.Err != nil {
		r.Err = b.info.Err.Error()
	}
	r.Outputs = outputsText(b)
	return r
}

// outputsText says how the batch's outputs went: "2 ok", "1 ok, 1 failed".
func outputsText(b *batch) string {
	ok, bad, running := b.outputCounts()
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{ok, "ok"}, {bad, "failed"}, {running, "running"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// stats returns the charts' rows: the input rate (of all inputs, then of each when
// there are several), the scheduling delay, the processing time and the total delay
// of the completed batches.
func (h *handler) stats(done []*batch) []statRow {
	if len(done) == 0 {
		return nil
	}
	t0, t1 := done[0].info.Time, done[len(done)-1].info.Time
	layout := h.layout()
	secs := h.c.BatchInterval().Seconds()
	row := func(id, name string, ss []series, format func(float64) string, unit string) statRow {
		var values []float64
		top := 0.0
		for _, s := range ss {
			for _, p := range s.points {
				values = append(values, p.v)
				top = max(top, p.v)
			}
		}
		avg := mean(values)
		a := newAxis(top, format)
		r := statRow{ID: id, Name: name, Avg: "avg " + format(avg) + unit,
			Timeline:  timeline("timeline-"+id, ss, a, t0, t1, layout, avg, len(values) > 0),
			Histogram: histogram("histogram-"+id, values, a)}
		if len(ss) > 1 {
			for _, s := range ss {
				r.Legend = append(r.Legend, legendItem{Class: s.class, Name: s.name})
			}
		}
		return r
	}
	values := func(name string, unit func(float64) string, f func(b *batch) (float64, bool)) series {
		s := series{name: name, class: "s0"}
		for _, b := range done {
			if v, ok := f(b); ok {
				l := h.link(b.info.Time)
				s.points = append(s.points, point{t: b.info.Time, v: v, href: l.Href, label: l.Time + ": " + unit(v)})
			}
		}
		return s
	}
	rate := func(v float64) string { return fmtRate(v) + " records/s" }
	var rows []statRow
	var inputs []string
	for _, b := range done {
		for name := range b.info.Inputs {
			if !slices.Contains(inputs, name) {
				inputs = append(inputs, name)
			}
		}
	}
	slices.Sort(inputs)
	if len(inputs) != 1 {
		all := values("all inputs", rate, func(b *batch) (float64, bool) { return float64(b.info.NumRecords) / secs, true })
		rows = append(rows, row("input-rate", "Input rate (all inputs)", []series{all}, fmtRate, " records/s"))
	}
	for i, name := range inputs {
		s := values(name, rate, func(b *batch) (float64, bool) {
			in, ok := b.info.Inputs[name]
			return float64(in.Records) / secs, ok && in.Records >= 0
		})
		id := "input-rate"
		if len(inputs) > 1 {
			id = "input-rate-" + strconv.Itoa(i)
		}
		rows = append(rows, row(id, "Input rate of "+name, []series{s}, fmtRate, " records/s"))
	}
	delay := func(id, name string, f func(dstream.BatchInfo) time.Duration) statRow {
		s := values(name, fmtSeconds, func(b *batch) (float64, bool) { return f(b.info).Seconds(), true })
		return row(id, name, []series{s}, fmtSeconds, "")
	}
	return append(rows,
		delay("scheduling-delay", "Scheduling delay", dstream.BatchInfo.SchedulingDelay),
		delay("processing-time", "Processing time", dstream.BatchInfo.ProcessingDelay),
		delay("total-delay", "Total delay", dstream.BatchInfo.TotalDelay))
}

// kafka returns a view per input that reads a partitioned log: its partitions as of
// the latest batch that read them, and their lag and rate limit over the batches.
func (h *handler) kafka(batches []*batch) []kafkaView {
	slices.SortFunc(batches, func(a, b *batch) int { return a.info.Time.Compare(b.info.Time) })
	var views []kafkaView
	var names []string
	for _, b := range batches {
		for name, in := range b.info.Inputs {
			if in.Partitions != nil && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	for _, name := range names {
		var last *batch
		lags := map[string]*series{}
		rates := map[string]*series{}
		var keys []string
		limited := false
		for _, b := range batches {
			in, ok := b.info.Inputs[name]
			if !ok || in.Partitions == nil {
				continue
			}
			last = b
			l := h.link(b.info.Time)
			for _, p := range in.Partitions {
				k := p.Topic + "/" + strconv.Itoa(p.Partition)
				if lags[k] == nil {
					keys = append(keys, k)
					lags[k], rates[k] = &series{name: k}, &series{name: k}
				}
				if p.End >= 0 {
					lags[k].points = append(lags[k].points, point{t: b.info.Time, v: float64(p.Lag()), href: l.Href, label: l.Time + " " + k + ": lag " + fmtInt(p.Lag())})
				}
				if p.RateLimit > 0 {
					limited = true
					rates[k].points = append(rates[k].points, point{t: b.info.Time, v: p.RateLimit, href: l.Href, label: l.Time + " " + k + ": limit " + fmtRate(p.RateLimit) + " records/s"})
				}
			}
		}
		v := kafkaView{Input: name, AsOf: h.link(last.info.Time)}
		var total int64
		for _, p := range last.info.Inputs[name].Partitions {
			v.Partitions = append(v.Partitions, partitionRowOf(p))
			total += p.Lag()
		}
		v.TotalLag = fmtInt(total)
		slices.SortFunc(keys, comparePartitions)
		var lagSeries, rateSeries []series
		lagTop, rateTop := 0.0, 0.0
		for i, k := range keys {
			class := "s" + strconv.Itoa(i%8)
			lags[k].class, rates[k].class = class, class
			lagSeries, rateSeries = append(lagSeries, *lags[k]), append(rateSeries, *rates[k])
			for _, p := range lags[k].points {
				lagTop = max(lagTop, p.v)
			}
			for _, p := range rates[k].points {
				rateTop = max(rateTop, p.v)
			}
			v.Legend = append(v.Legend, legendItem{Class: class, Name: k})
		}
		t0, t1 := batches[0].info.Time, batches[len(batches)-1].info.Time
		v.Lag = timeline("lag-"+name, lagSeries, newAxis(lagTop, fmtRate), t0, t1, h.layout(), 0, false)
		if limited {
			v.Rate = timeline("rate-"+name, rateSeries, newAxis(rateTop, fmtRate), t0, t1, h.layout(), 0, false)
		}
		views = append(views, v)
	}
	return views
}

// comparePartitions orders "topic/partition" by topic, then partition number.
func comparePartitions(a, b string) int {
	at, ap, _ := strings.Cut(a, "/")
	bt, bp, _ := strings.Cut(b, "/")
	an, _ := strconv.Atoi(ap)
	bn, _ := strconv.Atoi(bp)
	return cmp.Or(cmp.Compare(at, bt), cmp.Compare(an, bn))
}

func partitionRowOf(p dstream.PartitionInfo) partitionRow {
	r := partitionRow{Topic: p.Topic, Partition: p.Partition, From: fmtInt(p.From), Until: fmtInt(p.Until),
		Records: fmtInt(p.Until - p.From), End: "unknown", Lag: "unknown", RateLimit: "not limited"}
	if p.End >= 0 {
		r.End, r.Lag = fmtInt(p.End), fmtInt(p.Lag())
	}
	if p.RateLimit > 0 {
		r.RateLimit = fmtRate(p.RateLimit) + " records/s"
	}
	return r
}

func workView(w work) workRow {
	p := w.p
	r := workRow{Op: p.Op, Subject: p.Subject, Done: p.Done, Value: -1}
	unit := cmp.Or(p.Unit, "units")
	r.Amount = fmtInt(p.Completed) + " " + unit
	if p.Total > 0 {
		r.Amount = fmtInt(p.Completed) + " of " + fmtInt(p.Total) + " " + unit
		r.Value = math.Min(100, 100*float64(p.Completed)/float64(p.Total))
		r.Percent = strconv.FormatFloat(math.Floor(r.Value), 'f', 0, 64) + "%"
	}
	elapsed := w.heard.Sub(p.Started)
	if !p.Started.IsZero() && elapsed >= 0 {
		r.Elapsed = fmtDur(elapsed)
		if !p.Done && p.Total > 0 && p.Completed > 0 && p.Completed < p.Total {
			left := time.Duration(float64(elapsed) * float64(p.Total-p.Completed) / float64(p.Completed))
			r.ETA = fmtDur(left) + " (at " + w.heard.Add(left).Format("15:04:05") + ")"
		}
	}
	if p.Err != nil {
		r.Err = p.Err.Error()
	}
	return r
}

type batchView struct {
	page
	Found                          bool
	Time, Status                   string
	Retained                       int
	Submitted, Started, Ended      string
	Records                        string
	Sched, Proc, Total, Checkpoint string
	Err, CheckpointErr             string
	Inputs                         []inputRow
	Outputs                        []outputRow
	States                         []stateRow
}

type inputRow struct {
	Name, Records, Unavailable string
	Partitions                 []partitionRow
}

type outputRow struct {
	Index                              int
	Op, Started, Duration, Status, Err string
}

type stateRow struct{ Name, Keys string }

func (h *handler) batchView(t time.Time, b *batch, found bool, v uint64) batchView {
	view := batchView{page: h.page(v, "../"), Found: found, Time: t.Format("2006-01-02 " + h.layout() + " MST"), Retained: h.cfg.retained}
	if !found {
		return view
	}
	info := b.info
	view.Status, view.Records = b.status.String(), fmtInt(info.NumRecords)
	when := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Format("15:04:05.000")
	}
	view.Submitted, view.Started, view.Ended = when(info.SubmissionTime), when(info.ProcessingStart), when(info.ProcessingEnd)
	view.Sched, view.Proc, view.Total, view.Checkpoint = "—", "—", "—", "—"
	if b.status != queued {
		view.Sched = fmtDur(info.SchedulingDelay())
	}
	if b.status == completed || b.status == failed {
		view.Proc, view.Total = fmtDur(info.ProcessingDelay()), fmtDur(info.TotalDelay())
	}
	if info.CheckpointDuration > 0 {
		view.Checkpoint = fmtDur(info.CheckpointDuration)
	}
	if info.Err != nil {
		view.Err = info.Err.Error()
	}
	if info.CheckpointErr != nil {
		view.CheckpointErr = info.CheckpointErr.Error()
	}
	for _, name := range slices.Sorted(maps.Keys(info.Inputs)) {
		in := info.Inputs[name]
		r := inputRow{Name: name, Records: "unknown"}
		if in.Records >= 0 {
			r.Records = fmtInt(in.Records)
		}
		if in.Unavailable != nil {
			r.Unavailable = in.Unavailable.Error()
		}
		for _, p := range in.Partitions {
			r.Partitions = append(r.Partitions, partitionRowOf(p))
		}
		view.Inputs = append(view.Inputs, r)
	}
	for _, o := range b.outputs {
		r := outputRow{Index: o.Index, Op: o.Op, Started: when(o.Start), Duration: "—", Status: "running"}
		if !o.End.IsZero() {
			r.Duration, r.Status = fmtDur(o.End.Sub(o.Start)), "ok"
		}
		if o.Err != nil {
			r.Status, r.Err = "failed", o.Err.Error()
		}
		view.Outputs = append(view.Outputs, r)
	}
	for _, name := range slices.Sorted(maps.Keys(info.StateKeys)) {
		view.States = append(view.States, stateRow{Name: name, Keys: fmtInt(info.StateKeys[name])})
	}
	return view
}

func mean(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}

// fmtInt writes n with thousands separators: 12,345.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRate writes a rate to a tenth below 100 (without a zero tenth), as a whole
// number with thousands separators above.
func fmtRate(v float64) string {
	if v >= 100 {
		return fmtInt(int64(math.Round(v)))
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// fmtSeconds writes a duration given in seconds (see fmtDur).
func fmtSeconds(v float64) string { return fmtDur(time.Duration(v * float64(time.Second))) }

// fmtDur writes a duration as Spark's page does: in ms below a second, in seconds
// below a minute, then as Go does (1m30s).
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < 10*time.Millisecond && d%time.Millisecond != 0:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(math.Round(d.Seconds()*10)/10, 'f', -1, 64) + " s"
	default:
		return d.Round(time.Second).String()
	}
}
