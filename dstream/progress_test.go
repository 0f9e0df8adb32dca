package dstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// progressLine is what a test compares of a report: the facts, with the ETA.
type progressLine struct {
	Op, Subject      string
	Completed, Total int64
	Unit             string
	Started, At      time.Duration // since epoch
	ETA              time.Duration // -1: unknown
	Done             bool
	Err              string
}

func lines(ps []dstream.Progress) []progressLine {
	var out []progressLine
	for _, p := range ps {
		l := progressLine{Op: p.Op, Subject: p.Subject, Completed: p.Completed, Total: p.Total, Unit: p.Unit,
			Started: p.Started.Sub(epoch), At: p.At.Sub(epoch), ETA: -1, Done: p.Done}
		if eta, ok := p.ETA(); ok {
			l.ETA = eta
		}
		if p.Err != nil {
			l.Err = p.Err.Error()
		}
		out = append(out, l)
	}
	return out
}

func (r *progressRecorder) reports() []dstream.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dstream.Progress(nil), r.got...)
}

// Long work reports its progress when it starts, then at most every
// ProgressInterval by the Context's clock as work is added, and when it ends,
// with the ETA its rate gives; each report is a log line too.
func TestProgressIsReportedAtStartAtAPaceAndAtTheEnd(t *testing.T) {
	for _, every := range []time.Duration{0, 2 * time.Second} {
		t.Run(every.String(), func(t *testing.T) {
			clock := dstream.NewManualClock(epoch)
			var logs bytes.Buffer
			pr := &progressRecorder{}
			opts := []dstream.Opt{dstream.WithClock(clock), dstream.WithListener(pr),
				dstream.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			pace := 5 * time.Second // the default
			if every > 0 {
				opts, pace = append(opts, dstream.ProgressInterval(every)), every
			}
			c := dstream.NewContext(opts...)
			r := c.StartProgress("test.restore", "counts task 1", 100, "records")
			start := progressLine{Op: "test.restore", Subject: "counts task 1", Total: 100, Unit: "records", ETA: -1}
			want := []progressLine{start}
			at := func(d time.Duration, completed int64, eta time.Duration) progressLine {
				l := start
				l.At, l.Completed, l.ETA = d, completed, eta
				return l
			}
			r.Add(10) // no time has passed: no report
			clock.Advance(pace - time.Millisecond)
			r.Add(10) // still within the pace
			clock.Advance(time.Millisecond)
			r.Add(10) // 30 done in one pace: 70 left take 7/3 paces
			want = append(want, at(pace, 30, pace*70/30))
			r.Add(10) // just reported
			clock.Advance(pace)
			r.Add(30) // 70 done in two paces: 30 left take 6/7 of a pace
			want = append(want, at(2*pace, 70, 2*pace*30/70))
			clock.Advance(pace)
			r.Add(30) // 100: the end, which Done reports
			end := at(3*pace, 100, -1)
			end.Done = true
			want = append(want, end)
			r.Done(nil)
			r.Add(1) // after the end: nothing
			r.Done(errors.New("late"))
			if diff := cmp.Diff(want, lines(pr.reports())); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
			got := strings.Split(strings.TrimSpace(logs.String()), "\n")
			wantLogs := []string{
				`msg="test.restore: started" subject="counts task 1" completed=0 total=100 percent=0 unit=records elapsed=0s`,
				`msg="test.restore: progress" subject="counts task 1" completed=30 total=100 percent=30 unit=records elapsed=` + pace.String() + ` eta=` + (pace * 70 / 30).Round(100*time.Millisecond).String(),
				`msg="test.restore: progress" subject="counts task 1" completed=70 total=100 percent=70 unit=records elapsed=` + (2 * pace).String() + ` eta=` + (2 * pace * 30 / 70).Round(100*time.Millisecond).String(),
				`msg="test.restore: done" subject="counts task 1" completed=100 total=100 percent=100 unit=records elapsed=` + (3 * pace).String(),
			}
			if len(got) != len(wantLogs) {
				t.Fatalf("log:\n%s\nwant %d lines", logs.String(), len(wantLogs))
			}
			for i, w := range wantLogs {
				if !strings.Contains(got[i], "level=INFO "+w) {
					t.Errorf("log line %d: %s\nwant it to hold: level=INFO %s", i, got[i], w)
				}
			}
		})
	}
}

// Work that fails reports its failure and logs it as a warning; work whose total
// is not known reports no percentage and no ETA; work that ends before its total
// says so.
func TestProgressOfFailedUnknownAndShortWork(t *testing.T) {
	clock := dstream.NewManualClock(epoch)
	var logs bytes.Buffer
	pr := &progressRecorder{}
	c := dstream.NewContext(dstream.WithClock(clock), dstream.WithListener(pr),
		dstream.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	failed := c.StartProgress("test.a", "a", 0, "records")
	clock.Advance(time.Minute)
	failed.Add(5)
	failed.Done(errors.New("broker gone"))
	short := c.StartProgress("test.b", "b", 10, "batches")
	short.Add(4)
	short.Done(nil)
	var nilReporter *dstream.ProgressReporter
	nilReporter.Add(1) // does nothing
	nilReporter.Done(nil)
	want := []progressLine{
		{Op: "test.a", Subject: "a", Unit: "records", ETA: -1},
		{Op: "test.a", Subject: "a", Completed: 5, Unit: "records", At: time.Minute, ETA: -1},
		{Op: "test.a", Subject: "a", Completed: 5, Unit: "records", At: time.Minute, ETA: -1, Done: true, Err: "broker gone"},
		{Op: "test.b", Subject: "b", Total: 10, Unit: "batches", Started: time.Minute, At: time.Minute, ETA: -1},
		{Op: "test.b", Subject: "b", Completed: 4, Total: 10, Unit: "batches", Started: time.Minute, At: time.Minute, ETA: -1, Done: true},
	}
	if diff := cmp.Diff(want, lines(pr.reports())); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	for _, w := range []string{
		`level=INFO msg="test.a: progress" subject=a completed=5 unit=records elapsed=1m0s`,
		`level=WARN msg="test.a: failed" subject=a completed=5 unit=records elapsed=1m0s error="broker gone"`,
		`level=INFO msg="test.b: ended early" subject=b completed=4 total=10 percent=40 unit=batches elapsed=0s`,
	} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log:\n%s\nwant a line holding %s", logs.String(), w)
		}
	}
}

// ProgressInterval must be positive.
func TestProgressIntervalMustBePositive(t *testing.T) {
	h := newHarness(t, dstream.ProgressInterval(0))
	in, _ := dstream.QueueStream[int](h.c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	err := h.c.Run(context.Background())
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "ProgressInterval(0s)") {
		t.Errorf("Run: %v, want ErrInvalid naming ProgressInterval(0s)", err)
	}
}

// A Context resumed from a checkpoint reports the restore of its state (in bytes
// of the saved state) at GetOrCreate, then, in Run, its catch-up of the batches
// due since the checkpoint (here 20: it was down for 20 intervals), at a steady
// pace, and the end once the last due batch is processed.
func TestAResumedContextReportsItsRestoreAndCatchUp(t *testing.T) {
	dir := t.TempDir()
	var clock *dstream.ManualClock
	catchingUp := false
	build := func(c *dstream.Context) error {
		in, q := dstream.QueueStream[string](c, dstream.OneAtATime)
		q.Push([]string{"a", "b"})
		q.Push([]string{"a"})
		counts := dstream.UpdateStateByKey(dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), sumUpdate)
		dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
			// Each batch the second run has due takes one interval.
			if catchingUp && bt.Sub(epoch) <= 23*interval {
				clock.Advance(interval)
			}
			_, err := rdd.Count(ctx, r)
			return err
		})
		return nil
	}
	opts := func(pr *progressRecorder) []dstream.Opt {
		return []dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(clock), dstream.CheckpointInterval(interval),
			dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))), dstream.WithListener(pr), dstream.ProgressInterval(2 * interval)}
	}
	// The first run: batches 1 to 3, its state saved after each.
	clock = dstream.NewManualClock(epoch)
	first := &progressRecorder{}
	c, err := dstream.GetOrCreate(dir, build, opts(first)...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: clock, c: c}
	h.runBatches(3)
	if got := first.reports(); len(got) != 0 {
		t.Errorf("a fresh start reported progress: %+v", got)
	}

	// The second run starts 20 intervals after its last batch.
	clock = dstream.NewManualClock(epoch.Add(23 * interval))
	pr := &progressRecorder{}
	c, err = dstream.GetOrCreate(dir, build, opts(pr)...)
	if err != nil {
		t.Fatal(err)
	}
	restore := lines(pr.reports())
	if len(restore) != 2 || restore[0].Total <= 0 {
		t.Fatalf("the restore's reports: %+v, want its start and its end, of a total > 0", restore)
	}
	size := restore[0].Total
	start := progressLine{Op: "dstream.restore", Subject: dir, Total: size, Unit: "bytes", Started: 23 * interval, At: 23 * interval, ETA: -1}
	end := start
	end.Completed, end.Done = size, true
	if diff := cmp.Diff([]progressLine{start, end}, restore); diff != "" {
		t.Errorf("the restore's reports (-want +got):\n%s", diff)
	}

	catchingUp = true
	caughtUp := make(chan struct{})
	pr.done = func(p dstream.Progress) {
		if p.Op == "dstream.catchup" {
			close(caughtUp)
		}
	}
	h = &harness{t: t, clock: clock, c: c}
	h.start(context.Background())
	select {
	case <-caughtUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the catch-up did not end within 10s")
	}
	c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	// Batches 4 to 23 were due; batch k ends at k+1 intervals, so the catch-up
	// is at 2 batches, at 25, and so on every 2 intervals (the pace).
	catchup := progressLine{Op: "dstream.catchup", Subject: dir, Total: 20, Unit: "batches", Started: 23 * interval, At: 23 * interval, ETA: -1}
	want := []progressLine{catchup}
	for n := int64(2); n < 20; n += 2 {
		l := catchup
		l.Completed, l.At = n, time.Duration(23+n)*interval
		l.ETA = time.Duration(20-n) * interval // one batch an interval
		want = append(want, l)
	}
	catchup.Completed, catchup.At, catchup.Done = 20, 43*interval, true
	want = append(want, catchup)
	if diff := cmp.Diff(want, lines(pr.reports()[2:])); diff != "" {
		t.Errorf("the catch-up's reports (-want +got):\n%s", diff)
	}
}

// clockStepper moves a manual clock by step at every report of work that goes on,
// as if each part of the work took that long.
type clockStepper struct {
	progressRecorder
	clock *dstream.ManualClock
	step  time.Duration
}

func (s *clockStepper) OnProgress(p dstream.Progress) {
	s.progressRecorder.OnProgress(p)
	if !p.Done {
		s.clock.Advance(s.step)
	}
}

// The restore of a large state from a checkpoint reports its progress while it
// loads the keys, in shares of the saved state's bytes.
func TestACheckpointRestoreReportsItsProgressAsItLoadsKeys(t *testing.T) {
	dir := t.TempDir()
	words := make([]string, 10000)
	for i := range words {
		words[i] = fmt.Sprintf("w%05d", i)
	}
	build := func(c *dstream.Context) error {
		in, q := dstream.QueueStream[string](c, dstream.OneAtATime)
		q.Push(words)
		counts := dstream.UpdateStateByKey(dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), sumUpdate)
		dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
			_, err := rdd.Count(ctx, r)
			return err
		})
		return nil
	}
	clock := dstream.NewManualClock(epoch)
	opts := []dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(clock), dstream.CheckpointInterval(interval),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2)))}
	c, err := dstream.GetOrCreate(dir, build, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: clock, c: c}
	h.runBatches(1)

	// Each report takes the pace: every count of keys loaded is reported.
	stepper := &clockStepper{clock: clock, step: 5 * time.Second}
	if _, err := dstream.GetOrCreate(dir, build, append(opts, dstream.WithListener(stepper))...); err != nil {
		t.Fatal(err)
	}
	got := lines(stepper.reports())
	if len(got) == 0 {
		t.Fatal("the restore reported nothing")
	}
	size := got[0].Total // one state, one snapshot: its bytes
	at := func(completed int64, paces int) progressLine {
		return progressLine{Op: "dstream.restore", Subject: dir, Completed: completed, Total: size, Unit: "bytes",
			Started: interval, At: interval + time.Duration(paces)*5*time.Second, ETA: -1}
	}
	want := []progressLine{at(0, 0), at(size*4096/10000, 1), at(size*8192/10000, 2), at(size, 3)}
	for i := 1; i < 3; i++ {
		elapsed := want[i].At - want[i].Started
		want[i].ETA = time.Duration(float64(elapsed) * float64(size-want[i].Completed) / float64(want[i].Completed))
	}
	want[3].Done = true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the restore's reports (-want +got):\n%s", diff)
	}
}
