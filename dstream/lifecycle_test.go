package dstream_test

// Lifecycle guarantees on the manual clock: failures, graceful stop,
// cancellation, listener delays, and stateful streams read only at some
// batches.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// recordingSource is a Source that serves data[k] as batch k and records
// the calls it gets; failAt makes Batch fail for that batch.
type recordingSource struct {
	eng    *rdd.Engine
	data   map[int][]int
	failAt int

	mu     sync.Mutex
	events []string
}

var errSource = errors.New("source broke")

func (s *recordingSource) record(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *recordingSource) Start(context.Context) error { s.record("start"); return nil }
func (s *recordingSource) Stop() error                 { s.record("stop"); return nil }
func (s *recordingSource) Batch(_ context.Context, t time.Time) (*rdd.RDD[int], dstream.InputInfo, error) {
	k := int(sec(t))
	s.record(fmt.Sprintf("batch %d", k))
	if k == s.failAt {
		return nil, dstream.InputInfo{}, errSource
	}
	return rdd.Parallelize(s.eng, s.data[k], 2), dstream.InputInfo{Records: int64(len(s.data[k]))}, nil
}

func (s *recordingSource) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// batchListener sends every completed batch on a channel.
type batchListener struct {
	dstream.BaseListener
	completed chan dstream.BatchInfo
}

func newBatchListener() *batchListener {
	return &batchListener{completed: make(chan dstream.BatchInfo, 64)}
}

func (l *batchListener) OnBatchCompleted(b dstream.BatchInfo) { l.completed <- b }

// await waits (bounded) for the next completed batch.
func (l *batchListener) await(t *testing.T) dstream.BatchInfo {
	t.Helper()
	select {
	case b := <-l.completed:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch completed within 10s")
		return dstream.BatchInfo{}
	}
}

// waitClosed waits (bounded) until ch is closed.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

func TestFailurePropagation(t *testing.T) {
	const panicky = "boom"
	boom := errors.New(panicky)
	// Each case builds a graph on the source's stream whose batch fail
	// fails, and says what the error must name besides the batch time.
	tests := []struct {
		name     string
		build    func(in *dstream.DStream[int]) *dstream.DStream[int]
		fail     int    // the batch that fails
		op       string // BatchError.Op
		cause    string // what the cause must name
		panicOp  string // the *rdd.PanicError's Op, if the cause is a panic
		sourceAt int    // the batch the source fails, if any
	}{
		{name: "panic in a Map function", build: func(in *dstream.DStream[int]) *dstream.DStream[int] {
			return dstream.Map(in, func(x int) int {
				if x == 2 {
					panic(panicky)
				}
				return x
			})
		}, fail: 2, op: "dstream.ForeachRDD", cause: "rdd.Map", panicOp: "rdd.Map"},
		{name: "error from a MapPartitions function", build: func(in *dstream.DStream[int]) *dstream.DStream[int] {
			return dstream.MapPartitions(in, func(_ context.Context, _ int, xs iter.Seq[int], yield func(int) bool) error {
				for x := range xs {
					if x == 2 {
						return boom
					}
					if !yield(x) {
						return nil
					}
				}
				return nil
			})
		}, fail: 2, op: "dstream.ForeachRDD", cause: "rdd.MapPartitions (partition 1): boom"},
		{name: "panic in a window's reduce function, at the window's slide", build: func(in *dstream.DStream[int]) *dstream.DStream[int] {
			return dstream.ReduceByWindow(in, func(a, b int) int {
				if a == 3 || b == 3 {
					panic(panicky)
				}
				return a + b
			}, 2*interval, 2*interval)
		}, fail: 4, op: "dstream.ForeachRDD", cause: panicky},
		{name: "panic in a MapWithState function", build: func(in *dstream.DStream[int]) *dstream.DStream[int] {
			pairs := dstream.Map(in, func(x int) ops.KV[int, int] { return ops.Pair(x%2, x) })
			mapped, _ := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, _ int, v ops.Maybe[int], _ *dstream.State[int]) ops.Maybe[int] {
				if v.Value == 3 {
					panic(panicky)
				}
				return v
			}))
			return mapped
			// The state is computed before the outputs: its operator fails.
		}, fail: 3, op: "dstream.MapWithState", cause: panicky},
		{name: "panic in a Transform function", build: func(in *dstream.DStream[int]) *dstream.DStream[int] {
			return dstream.Transform(in, func(r *rdd.RDD[int], t time.Time) *rdd.RDD[int] {
				if sec(t) == 2 {
					panic(panicky)
				}
				return r
			})
		}, fail: 2, op: "dstream.ForeachRDD", cause: "dstream.Transform", panicOp: "dstream.Transform"},
		{name: "panic in a TransformWith function", build: func(in *dstream.DStream[int]) *dstream.DStream[int] {
			return dstream.TransformWith(in, in, func(a, _ *rdd.RDD[int], t time.Time) *rdd.RDD[int] {
				if sec(t) == 3 {
					panic(panicky)
				}
				return a
			})
		}, fail: 3, op: "dstream.ForeachRDD", cause: "dstream.TransformWith", panicOp: "dstream.TransformWith"},
		{name: "source error", build: func(in *dstream.DStream[int]) *dstream.DStream[int] { return in },
			fail: 2, op: "test.Source#1", cause: errSource.Error(), sourceAt: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			l := newBatchListener()
			h := newHarness(t, dstream.WithListener(l))
			src := &recordingSource{eng: h.c.Engine(), failAt: tt.sourceAt,
				data: map[int][]int{1: {1}, 2: {2}, 3: {3}, 4: {4}, 5: {5}}}
			var got collector[int]
			dstream.ForeachRDD(tt.build(dstream.FromSource(h.c, "test.Source", src)), got.foreach)
			h.start(context.Background())
			h.batches(tt.fail)
			err := h.result()

			var be *dstream.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("Run = %v, want a *BatchError", err)
			}
			wantTime := epoch.Add(time.Duration(tt.fail) * interval)
			if !be.Time.Equal(wantTime) || be.Op != tt.op {
				t.Errorf("BatchError time %v, op %q; want %v, %q", be.Time, be.Op, wantTime, tt.op)
			}
			for _, s := range []string{wantTime.Format(time.RFC3339Nano), tt.op, tt.cause} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if tt.panicOp != "" {
				var pe *rdd.PanicError
				if !errors.As(err, &pe) || pe.Op != tt.panicOp || pe.Value != panicky {
					t.Errorf("Run = %v, want it to wrap a *rdd.PanicError of %s with value %q", err, tt.panicOp, panicky)
				}
			}
			// The outputs ran for the batches before the failure, and no
			// batch after it was read.
			for _, bt := range got.times {
				if !bt.Before(wantTime) {
					t.Errorf("an output ran for batch %v, at or after the failed one", bt)
				}
			}
			calls := src.calls()
			if len(calls) == 0 || calls[0] != "start" || calls[len(calls)-1] != "stop" ||
				strings.Contains(strings.Join(calls, ","), fmt.Sprintf("batch %d", tt.fail+1)) {
				t.Errorf("source calls %q: want start first, stop last, and no batch after %d", calls, tt.fail)
			}
		})
	}
}

// TestPanicInForeachRDD checks that a panicking output function fails its
// batch like an error would, and that Run ends cleanly.
func TestPanicInForeachRDD(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2})
	dstream.ForeachRDD(in, func(_ context.Context, _ *rdd.RDD[int], bt time.Time) error {
		if sec(bt) == 2 {
			panic("output broke")
		}
		return nil
	})
	h.start(context.Background())
	h.batches(2)
	err := h.result()
	var be *dstream.BatchError
	var pe *rdd.PanicError
	if !errors.As(err, &be) || !be.Time.Equal(epoch.Add(2*interval)) || be.Op != "dstream.ForeachRDD" ||
		!errors.As(err, &pe) || pe.Value != "output broke" {
		t.Fatalf("Run = %v, want a *BatchError of batch 2 and dstream.ForeachRDD wrapping the panic", err)
	}
}

// TestListenerDelaysUnderManualClock has the first batch's output take
// 1.5s of clock time, so that the second batch, generated meanwhile, waits
// 0.5s in the queue, and checks every delay and record count the listener
// gets.
func TestListenerDelaysUnderManualClock(t *testing.T) {
	leakcheck.Check(t)
	l := newBatchListener()
	var outs outputRecorder
	h := newHarness(t, dstream.WithListener(l), dstream.WithListener(&outs))
	in, q := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1, 2}, []int{3}, nil)
	q.PushRDD(rdd.Parallelize(h.c.Engine(), []int{4, 5}, 1)) // batch 4: records unknown
	started, release := make(chan struct{}), make(chan struct{})
	dstream.ForeachRDD(in, func(_ context.Context, _ *rdd.RDD[int], bt time.Time) error {
		if sec(bt) == 1 {
			close(started)
			<-release
		}
		return nil
	})
	h.start(context.Background())
	h.batches(1) // batch 1 at 1s starts at once and blocks
	waitClosed(t, started, "batch 1's output started")
	h.batches(1)       // batch 2 at 2s queues behind it
	h.awaitGenerator() // batch 2 is queued
	h.clock.Advance(interval / 2)
	close(release) // batch 1 ends at 2.5s; batch 2 runs then
	first, second := l.await(t), l.await(t)
	h.clock.Advance(interval / 2) // batch 3 at 3s
	third := l.await(t)
	h.batches(1) // batch 4 at 4s
	fourth := l.await(t)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}

	at := func(s float64) time.Time { return epoch.Add(time.Duration(s * float64(time.Second))) }
	type delays struct {
		Time                          time.Time
		Submitted, Started, Ended     time.Time
		Scheduling, Processing, Total time.Duration
		Inputs                        map[string]dstream.InputInfo
		NumRecords                    int64
	}
	of := func(b dstream.BatchInfo) delays {
		return delays{b.Time, b.SubmissionTime, b.ProcessingStart, b.ProcessingEnd,
			b.SchedulingDelay(), b.ProcessingDelay(), b.TotalDelay(), b.Inputs, b.NumRecords}
	}
	const input = "dstream.QueueStream#1"
	half := interval / 2
	want := []delays{
		{at(1), at(1), at(1), at(2.5), 0, 3 * half, 3 * half, map[string]dstream.InputInfo{input: {Records: 2}}, 2},
		{at(2), at(2), at(2.5), at(2.5), half, 0, half, map[string]dstream.InputInfo{input: {Records: 1}}, 1},
		{at(3), at(3), at(3), at(3), 0, 0, 0, map[string]dstream.InputInfo{input: {Records: 0}}, 0},
		{at(4), at(4), at(4), at(4), 0, 0, 0, map[string]dstream.InputInfo{input: {Records: -1}}, 0},
	}
	if diff := cmp.Diff(want, []delays{of(first), of(second), of(third), of(fourth)}); diff != "" {
		t.Errorf("batch infos (-want +got):\n%s", diff)
	}
	wantOuts := []string{"1 0 1s-2.5s", "2 0 2.5s-2.5s", "3 0 3s-3s", "4 0 4s-4s"}
	if diff := cmp.Diff(wantOuts, outs.get()); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

// outputRecorder records every completed output as "batch index
// start-end", in seconds after epoch.
type outputRecorder struct {
	dstream.BaseListener
	mu   sync.Mutex
	outs []string
}

func (r *outputRecorder) OnOutputCompleted(o dstream.OutputInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outs = append(r.outs, fmt.Sprintf("%d %d %v-%v", sec(o.Batch), o.Index, o.Start.Sub(epoch), o.End.Sub(epoch)))
}

func (r *outputRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.outs...)
}

// TestGracefulStopFromAnOutput calls Stop from the output of batch 2
// while batch 3 is queued: Run finishes batch 3, with its state, stops the
// source after its last batch and returns nil.
func TestGracefulStopFromAnOutput(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	src := &recordingSource{eng: h.c.Engine(), data: map[int][]int{1: {1}, 2: {2, 3}, 3: {4}, 4: {5}}}
	in := dstream.FromSource(h.c, "test.Source", src)
	sums := dstream.UpdateStateByKey(dstream.Map(in, func(x int) ops.KV[string, int] { return ops.Pair("sum", x) }),
		func(vs []int, old ops.Maybe[int]) ops.Maybe[int] {
			n := old.OrElse(0)
			for _, v := range vs {
				n += v
			}
			return ops.Some(n)
		})
	started, release := make(chan struct{}), make(chan struct{})
	var got collector[ops.KV[string, int]]
	dstream.ForeachRDD(sums, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
		switch sec(bt) {
		case 1:
			close(started)
			<-release
		case 2:
			h.c.Stop()
		}
		return got.foreach(ctx, r, bt)
	})
	h.start(context.Background())
	h.batches(1)
	waitClosed(t, started, "batch 1's output started")
	h.batches(2)
	h.awaitGenerator() // batches 2 and 3 are queued
	close(release)
	if err := h.result(); err != nil {
		t.Fatalf("Run after Stop = %v, want nil", err)
	}
	want := [][]ops.KV[string, int]{{ops.Pair("sum", 1)}, {ops.Pair("sum", 6)}, {ops.Pair("sum", 10)}}
	if diff := cmp.Diff(want, got.data); diff != "" {
		t.Errorf("state by batch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(batchTimes(3), got.times); diff != "" {
		t.Errorf("batch times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"start", "batch 1", "batch 2", "batch 3", "stop"}, src.calls()); diff != "" {
		t.Errorf("source calls (-want +got):\n%s", diff)
	}
}

// TestCancelAbandonsQueuedBatches cancels Run while batch 1's output runs
// and batches 2 and 3 are queued: the running output sees the cancelled
// context, the queued batches never run, and the source is stopped.
func TestCancelAbandonsQueuedBatches(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	src := &recordingSource{eng: h.c.Engine(), data: map[int][]int{1: {1}, 2: {2}, 3: {3}}}
	in := dstream.FromSource(h.c, "test.Source", src)
	started := make(chan struct{})
	var mu sync.Mutex
	var ran []int64
	dstream.ForeachRDD(in, func(ctx context.Context, _ *rdd.RDD[int], bt time.Time) error {
		mu.Lock()
		ran = append(ran, sec(bt))
		mu.Unlock()
		if sec(bt) == 1 {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.start(ctx)
	h.batches(1)
	waitClosed(t, started, "batch 1's output started")
	h.batches(2)
	h.awaitGenerator() // batches 2 and 3 are queued
	cancel()
	if err := h.result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]int64{1}, ran); diff != "" {
		t.Errorf("batches whose output ran (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"start", "batch 1", "batch 2", "batch 3", "stop"}, src.calls()); diff != "" {
		t.Errorf("source calls (-want +got):\n%s", diff)
	}
}

// TestStatefulStreamsUnderHoppingWindow reads stateful streams only
// through a window of one batch every four, processing every batch before
// the next is generated (so the streams forget what they can as early as
// they can): the state must still be built from every batch.
func TestStatefulStreamsUnderHoppingWindow(t *testing.T) {
	const slide = 4
	for _, tt := range statefulCases() {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			h := newHarness(t)
			in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, windowInput...)
			pairs := dstream.Map(in, func(w string) kv { return ops.Pair(w, 1) })
			got := map[int]map[string]int{}
			dstream.ForeachRDD(dstream.Window(tt.build(pairs), interval, slide*interval),
				func(ctx context.Context, r *rdd.RDD[kv], bt time.Time) error {
					m, err := rdd.CollectAsMap(ctx, r)
					got[int(sec(bt))] = m
					return err
				})
			h.start(context.Background())
			for range windowInput {
				h.step()
			}
			h.c.Stop()
			if err := h.result(); err != nil {
				t.Fatalf("Run = %v", err)
			}
			want := map[int]map[string]int{}
			for k := slide; k <= len(windowInput); k += slide {
				want[k] = tt.want(k)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("windows by batch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStateComputedOnceUnderHoppingWindow reads a MapWithState stream only
// through a window of one batch every four, and has the next batch
// generated while the window's output has not yet computed the state: the
// state RDDs built between windows then rest on one not computed when they
// were built, which must stay persisted until the next window computes
// them, so that no batch's records go through the function twice.
func TestStateComputedOnceUnderHoppingWindow(t *testing.T) {
	leakcheck.Check(t)
	const slide = 4
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, windowInput...)
	pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	var mu sync.Mutex
	calls := map[string]int{} // by "batch key"
	_, snaps := dstream.MapWithState(pairs, dstream.NewStateSpec(func(bt time.Time, key string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
		mu.Lock()
		calls[fmt.Sprintf("%d %s", sec(bt), key)]++
		mu.Unlock()
		n, _ := st.Get()
		_ = st.Update(n + v.Value)
		return ops.None[int]()
	}))
	started, release := make(chan struct{}), make(chan struct{})
	got := map[int]map[string]int{}
	dstream.ForeachRDD(dstream.Window(snaps, interval, slide*interval),
		func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
			if sec(bt) == slide {
				close(started)
				<-release // batch 5 is generated before this window computes the state
			}
			m, err := rdd.CollectAsMap(ctx, r)
			got[int(sec(bt))] = m
			return err
		})
	h.start(context.Background())
	h.batches(slide)
	waitClosed(t, started, "the first window's output started")
	h.batches(1)
	h.awaitGenerator()
	close(release)
	h.batches(len(windowInput) - slide - 1)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	wantCalls := map[string]int{}
	wantState := map[int]map[string]int{}
	running := map[string]int{}
	for k, batch := range windowInput {
		for _, w := range batch {
			wantCalls[fmt.Sprintf("%d %s", k+1, w)]++
			running[w]++
		}
		if (k+1)%slide == 0 {
			wantState[k+1] = maps.Clone(running)
		}
	}
	if diff := cmp.Diff(wantState, got); diff != "" {
		t.Errorf("windows by batch (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("calls of the function by batch and key (-want +got):\n%s", diff)
	}
}

// TestOutputIndexIsRegistrationOrder checks OutputInfo.Index when an
// output has no job at a batch (a window between slides): the outputs
// after it keep their position in registration order.
func TestOutputIndexIsRegistrationOrder(t *testing.T) {
	leakcheck.Check(t)
	var outs outputRecorder
	h := newHarness(t, dstream.WithListener(&outs))
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2})
	discard(dstream.Window(in, 2*interval, 2*interval)) // output 0: every other batch
	discard(in)                                         // output 1: every batch
	h.start(context.Background())
	for range 2 {
		h.step()
	}
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	want := []string{"1 1 1s-1s", "2 0 2s-2s", "2 1 2s-2s"}
	if diff := cmp.Diff(want, outs.get()); diff != "" {
		t.Errorf("completed outputs as \"batch index start-end\" (-want +got):\n%s", diff)
	}
}
