package dstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// recorder is a Listener that records events as strings and keeps the
// completed batches.
type recorder struct {
	mu        sync.Mutex
	events    []string
	completed []dstream.BatchInfo
	done      chan struct{} // receives one value per completed batch
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func sec(t time.Time) int64 { return int64(t.Sub(epoch) / time.Second) }

func (r *recorder) OnBatchSubmitted(b dstream.BatchInfo) { r.add("submitted %d", sec(b.Time)) }
func (r *recorder) OnBatchStarted(b dstream.BatchInfo)   { r.add("started %d", sec(b.Time)) }
func (r *recorder) OnBatchCompleted(b dstream.BatchInfo) {
	r.add("completed %d err=%v", sec(b.Time), b.Err != nil)
	r.mu.Lock()
	r.completed = append(r.completed, b)
	r.mu.Unlock()
	r.done <- struct{}{}
}

// awaitBatch waits (bounded) until the next batch has completed.
func (r *recorder) awaitBatch(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("no batch completed within 5s")
	}
}
func (r *recorder) OnOutputStarted(o dstream.OutputInfo) {
	r.add("output %d %s started %d", o.Index, o.Op, sec(o.Batch))
}
func (r *recorder) OnOutputCompleted(o dstream.OutputInfo) {
	r.add("output %d %s completed %d err=%v", o.Index, o.Op, sec(o.Batch), o.Err != nil)
}

func TestListenersSeeMetricsInOrder(t *testing.T) {
	rec := recorder{done: make(chan struct{}, 2)}
	var logs bytes.Buffer
	h := newHarness(t, dstream.WithListener(&rec), dstream.WithListener(dstream.SlogListener(slog.New(slog.NewTextHandler(&logs, nil)))))
	a, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1, 2, 3}, []int{4})
	b, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{5})
	const work = 300 * time.Millisecond
	dstream.ForeachRDD(a, func(context.Context, *rdd.RDD[int], time.Time) error {
		h.clock.Advance(work) // the output takes 300ms of clock time
		return nil
	})
	boom := errors.New("boom")
	dstream.ForeachRDD(b, func(_ context.Context, _ *rdd.RDD[int], bt time.Time) error {
		if sec(bt) == 2 {
			return boom
		}
		return nil
	})
	h.start(context.Background())
	// One batch at a time: each completes before the clock moves on, so the
	// events of different batches do not interleave.
	h.batches(1)
	rec.awaitBatch(t)
	h.batches(1)
	rec.awaitBatch(t)
	if err := h.result(); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	want := []string{
		"submitted 1", "started 1",
		"output 0 dstream.ForeachRDD started 1", "output 0 dstream.ForeachRDD completed 1 err=false",
		"output 1 dstream.ForeachRDD started 1", "output 1 dstream.ForeachRDD completed 1 err=false",
		"completed 1 err=false",
		"submitted 2", "started 2",
		"output 0 dstream.ForeachRDD started 2", "output 0 dstream.ForeachRDD completed 2 err=false",
		"output 1 dstream.ForeachRDD started 2", "output 1 dstream.ForeachRDD completed 2 err=true",
		"completed 2 err=true",
	}
	if diff := cmp.Diff(want, rec.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if len(rec.completed) != 2 {
		t.Fatalf("%d completed batches, want 2", len(rec.completed))
	}
	first, second := rec.completed[0], rec.completed[1]
	if diff := cmp.Diff(map[string]dstream.InputInfo{"dstream.QueueStream#1": {Records: 3}, "dstream.QueueStream#2": {Records: 1}}, first.Inputs); diff != "" {
		t.Errorf("batch 1 records (-want +got):\n%s", diff)
	}
	if first.NumRecords != 4 || second.NumRecords != 1 {
		t.Errorf("NumRecords = %d, %d; want 4, 1", first.NumRecords, second.NumRecords)
	}
	for i, b := range rec.completed {
		if b.ProcessingDelay() != work || b.SchedulingDelay() != 0 || b.TotalDelay() != work {
			t.Errorf("batch %d: delays scheduling=%v processing=%v total=%v, want 0, %v, %v",
				i+1, b.SchedulingDelay(), b.ProcessingDelay(), b.TotalDelay(), work, work)
		}
	}
	var be *dstream.BatchError
	if !errors.As(second.Err, &be) || !errors.Is(second.Err, boom) {
		t.Errorf("batch 2 Err = %v, want a *BatchError wrapping boom", second.Err)
	}
	if !strings.Contains(logs.String(), "batch completed") || !strings.Contains(logs.String(), "batch failed") ||
		!strings.Contains(logs.String(), "processing_delay=300ms") {
		t.Errorf("slog listener logged:\n%s", logs.String())
	}
}

// countingSource is a source whose batch k (from 1) holds k records, and
// that records the batches the Context reports completed.
type countingSource struct {
	eng       *rdd.Engine
	n         int
	completed []dstream.BatchInfo
}

func (s *countingSource) Start(context.Context) error { return nil }
func (s *countingSource) Stop() error                 { return nil }
func (s *countingSource) Batch(context.Context, time.Time) (*rdd.RDD[int], dstream.InputInfo, error) {
	s.n++
	return rdd.Parallelize(s.eng, make([]int, s.n), 1), dstream.InputInfo{Records: int64(s.n)}, nil
}
func (s *countingSource) BatchCompleted(b dstream.BatchInfo) { s.completed = append(s.completed, b) }

func TestSourceIsToldOfCompletedBatchesAndStop(t *testing.T) {
	h := newHarness(t)
	src := &countingSource{eng: h.c.Engine()}
	in := dstream.FromSource(h.c, "test.Counting", dstream.Source[int](src))
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	select {
	case <-h.c.Stopping():
		t.Error("Stopping is closed before Stop")
	default:
	}
	h.runBatches(3)
	var got []string
	for _, b := range src.completed {
		got = append(got, fmt.Sprintf("%d:%d", sec(b.Time), b.NumRecords))
	}
	if diff := cmp.Diff([]string{"1:1", "2:2", "3:3"}, got); diff != "" {
		t.Errorf("completed batches (-want +got):\n%s", diff)
	}
	select {
	case <-h.c.Stopping():
	default:
		t.Error("Stopping is not closed after Stop")
	}
}

// panicky panics on every event.
type panicky struct{}

func (panicky) OnBatchSubmitted(dstream.BatchInfo)   { panic("submitted") }
func (panicky) OnBatchStarted(dstream.BatchInfo)     { panic("started") }
func (panicky) OnBatchCompleted(dstream.BatchInfo)   { panic("completed") }
func (panicky) OnOutputStarted(dstream.OutputInfo)   { panic("output started") }
func (panicky) OnOutputCompleted(dstream.OutputInfo) { panic("output completed") }

func TestAPanickingListenerIsLoggedAndTheJobGoesOn(t *testing.T) {
	var logs bytes.Buffer
	var after infos
	h := newHarness(t, dstream.WithListener(panicky{}), dstream.WithListener(&after),
		dstream.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2})
	var got collector[int]
	dstream.ForeachRDD(in, got.foreach)
	h.runBatches(2)
	if len(got.data) != 2 || len(after.get()) != 2 {
		t.Fatalf("%d batches output, %d heard by the next listener; want 2 and 2", len(got.data), len(after.get()))
	}
	for _, event := range []string{"OnBatchSubmitted", "OnBatchStarted", "OnOutputStarted", "OnOutputCompleted", "OnBatchCompleted"} {
		if !strings.Contains(logs.String(), "event="+event) {
			t.Errorf("no log of the panic in %s:\n%s", event, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "dstream_test.panicky") {
		t.Errorf("the log does not name the listener:\n%s", logs.String())
	}
}

// failingStop is a source whose Stop fails: the Context logs it.
type failingStop struct{ countingSource }

func (*failingStop) Stop() error { return errors.New("cannot stop") }

func TestNilLoggersMeanTheDefault(t *testing.T) {
	h := newHarness(t, dstream.WithLogger(nil), dstream.WithListener(dstream.SlogListener(nil)))
	src := &failingStop{countingSource{eng: h.c.Engine()}}
	in := dstream.FromSource(h.c, "test.FailingStop", dstream.Source[int](src))
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	h.start(context.Background())
	h.batches(1)
	h.c.Stop()
	// The source's failure to stop is logged (with the default logger) and is
	// Run's error: the run would otherwise have ended well.
	if err := h.result(); err == nil || err.Error() != "dstream: stopping test.FailingStop#1: cannot stop" {
		t.Fatalf("Run: %v; want the source's failure to stop", err)
	}
}

// A listener added while the Context runs hears the batches after it; each
// completed batch says how many keys each stateful stream holds, by its name.
func TestAListenerAddedWhileRunningHearsTheStateKeys(t *testing.T) {
	h := newHarness(t)
	in, q := dstream.QueueStream[string](h.c, dstream.OneAtATime)
	counts := dstream.UpdateStateByKey(dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }),
		func(vs []int, st ops.Maybe[int]) ops.Maybe[int] { return ops.Some(st.Value + len(vs)) })
	dstream.ForeachRDD(dstream.Named(counts, "counts"), func(context.Context, *rdd.RDD[ops.KV[string, int]], time.Time) error { return nil })
	first := &recorder{done: make(chan struct{}, 10)}
	h.c.AddListener(first)
	q.Push([]string{"a", "b"})
	q.Push([]string{"a", "c", "d"})
	h.start(context.Background())
	h.batches(1)
	first.awaitBatch(t)
	if got := h.c.StartTime(); !got.Equal(epoch) {
		t.Errorf("StartTime %v, want %v (the clock when Run started)", got, epoch)
	}
	late := &recorder{done: make(chan struct{}, 10)}
	h.c.AddListener(late)
	h.batches(1)
	first.awaitBatch(t)
	late.awaitBatch(t)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(first.completed[0].StateKeys, first.completed[1].StateKeys); got != "map[counts:2] map[counts:4]" {
		t.Errorf("state keys per batch: %s, want map[counts:2] map[counts:4]", got)
	}
	if len(late.completed) != 1 || sec(late.completed[0].Time) != 2 {
		t.Errorf("the listener added after batch 1 heard %d batches, want batch 2 only", len(late.completed))
	}
}

// progressRecorder hears the progress of long work, and calls done, if set, with
// each report of an end.
type progressRecorder struct {
	dstream.BaseListener
	mu   sync.Mutex
	got  []dstream.Progress
	done func(dstream.Progress)
}

func (r *progressRecorder) OnProgress(p dstream.Progress) {
	r.mu.Lock()
	r.got = append(r.got, p)
	done := r.done
	r.mu.Unlock()
	if done != nil && p.Done {
		done(p)
	}
}

// ReportProgress reaches the listeners that hear progress, and only those.
func TestReportProgressReachesProgressListeners(t *testing.T) {
	pr := &progressRecorder{}
	c := dstream.NewContext(dstream.WithListener(&recorder{}), dstream.WithListener(pr))
	p := dstream.Progress{Op: "test.restore", Subject: "counts task 1", Completed: 5, Total: 10, Unit: "records", Started: epoch}
	c.ReportProgress(p)
	p.Completed, p.Done = 10, true
	c.ReportProgress(p)
	if len(pr.got) != 2 || pr.got[0].Completed != 5 || !pr.got[1].Done {
		t.Errorf("heard %+v, want the two reports in order", pr.got)
	}
}
