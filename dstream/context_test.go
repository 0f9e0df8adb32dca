package dstream_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/rdd"
)

const interval = time.Second

// harness drives a Context on a manual clock with a dstreamtest.Driver,
// and fails the test where the Driver's waits fail. The Driver is made
// when Run starts, so that a test may first replace c with a Context it
// built on clock (with GetOrCreate, say).
type harness struct {
	t     *testing.T
	clock *dstream.ManualClock
	c     *dstream.Context
	d     *dstreamtest.Driver // nil until start
}

func newHarness(t *testing.T, opts ...dstream.Opt) *harness {
	clock := dstream.NewManualClock(epoch)
	opts = append([]dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(clock),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2)))}, opts...)
	return &harness{t: t, clock: clock, c: dstream.NewContext(opts...)}
}

// start starts Run under ctx; nothing it starts outlives the test.
func (h *harness) start(ctx context.Context) {
	h.t.Helper()
	h.d = dstreamtest.Drive(h.c, h.clock)
	h.t.Cleanup(h.d.Close)
	if err := h.d.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// batches moves the clock to the next batch time, n times, each time once
// the generator waits for its next batch (so batch k is generated before
// the clock moves on); it does not wait for the batches to complete. A
// batch whose time has come is generated even if Stop follows at once.
func (h *harness) batches(n int) {
	h.t.Helper()
	for range n {
		if _, err := h.d.Advance(); err != nil {
			h.t.Fatal(err)
		}
	}
}

// step runs the next batch and returns what listeners heard of it, failing
// the test if it fails.
func (h *harness) step() dstream.BatchInfo {
	h.t.Helper()
	b, err := h.d.Step()
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// awaitGenerator waits until the generator waits for its next batch: every
// batch due is generated.
func (h *harness) awaitGenerator() {
	h.t.Helper()
	if err := h.d.AwaitScheduler(); err != nil {
		h.t.Fatal(err)
	}
}

// runBatches starts Run, runs n batches, stops gracefully and fails the
// test if Run returns an error.
func (h *harness) runBatches(n int) {
	h.t.Helper()
	h.start(context.Background())
	h.batches(n)
	h.c.Stop()
	if err := h.result(); err != nil {
		h.t.Fatal(err)
	}
}

// result waits (bounded) for Run to return, and returns its error; Run not
// returning fails the test.
func (h *harness) result() error {
	h.t.Helper()
	err := h.d.Wait()
	if errors.Is(err, dstreamtest.ErrTimeout) {
		h.t.Fatal(err)
	}
	return err
}

// collector records the batches an output operation sees.
type collector[T any] struct {
	mu    sync.Mutex
	times []time.Time
	data  [][]T
}

func (c *collector[T]) foreach(ctx context.Context, r *rdd.RDD[T], t time.Time) error {
	got, err := rdd.Collect(ctx, r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.times, c.data = append(c.times, t), append(c.data, got)
	return nil
}

func batchTimes(n int) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = epoch.Add(time.Duration(i+1) * interval)
	}
	return ts
}

func TestRunProcessesQueuedBatchesInOrder(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1, 2, 3}, []int{4}, nil, []int{5, 6})
	doubled := dstream.Map(dstream.Filter(in, func(x int) bool { return x != 4 }), func(x int) int { return 2 * x })
	var got collector[int]
	dstream.ForeachRDD(doubled, got.foreach)
	h.start(context.Background())
	h.batches(5)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatalf("Run = %v, want nil after Stop", err)
	}
	want := [][]int{{2, 4, 6}, nil, nil, {10, 12}, nil}
	if diff := cmp.Diff(want, got.data); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(batchTimes(5), got.times); diff != "" {
		t.Errorf("batch times (-want +got):\n%s", diff)
	}
}

func TestQueueAllAtOnceAndPushWhileRunning(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, q := dstream.QueueStream(h.c, dstream.AllAtOnce, []string{"a"}, []string{"b", "c"})
	var got collector[string]
	dstream.ForeachRDD(in, got.foreach)
	h.start(context.Background())
	h.batches(1)
	h.awaitGenerator() // batch 1 is generated: the push goes to batch 2
	q.Push([]string{"d"})
	h.batches(2)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b", "c"}, {"d"}, nil}
	if diff := cmp.Diff(want, got.data); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestOutputsRunInRegistrationOrderAndShareTheBatchRDD(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2})
	var mu sync.Mutex
	var order []string
	rdds := map[time.Time][]*rdd.RDD[int]{}
	for _, name := range []string{"first", "second"} {
		dstream.ForeachRDD(in, func(_ context.Context, r *rdd.RDD[int], bt time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			rdds[bt] = append(rdds[bt], r)
			return nil
		})
	}
	h.runBatches(2)
	if diff := cmp.Diff([]string{"first", "second", "first", "second"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	for bt, rs := range rdds {
		if len(rs) != 2 || rs[0] != rs[1] {
			t.Errorf("batch %v: outputs saw different RDDs %v; an input's batch must be computed once", bt, rs)
		}
	}
}

func TestFailingBatchStopsRun(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2}, []int{3})
	boom := errors.New("boom")
	var seen []time.Time
	dstream.ForeachRDD(in, func(_ context.Context, _ *rdd.RDD[int], bt time.Time) error {
		seen = append(seen, bt)
		if len(seen) == 2 {
			return boom
		}
		return nil
	})
	h.start(context.Background())
	h.batches(2)
	err := h.result()
	var be *dstream.BatchError
	if !errors.As(err, &be) || !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want a *BatchError wrapping boom", err)
	}
	if !be.Time.Equal(epoch.Add(2*interval)) || be.Op != "dstream.ForeachRDD" {
		t.Errorf("BatchError = %+v, want batch %v and op dstream.ForeachRDD", be, epoch.Add(2*interval))
	}
	if !strings.Contains(err.Error(), be.Time.Format(time.RFC3339Nano)) {
		t.Errorf("error %q does not name the batch time", err)
	}
	if len(seen) != 2 {
		t.Errorf("output ran for %d batches, want 2 (none after the failure)", len(seen))
	}
}

func TestCancelEndsRun(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream[int](h.c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	h.start(ctx)
	h.batches(1)
	cancel()
	if err := h.result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
}

func TestStopFinishesGeneratedBatches(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2}, []int{3})
	release := make(chan struct{})
	var got collector[int]
	dstream.ForeachRDD(in, func(ctx context.Context, r *rdd.RDD[int], bt time.Time) error {
		if bt.Equal(epoch.Add(interval)) {
			<-release // the first batch is slow: the others queue behind it
		}
		return got.foreach(ctx, r, bt)
	})
	h.start(context.Background())
	h.batches(3)
	h.c.Stop()
	close(release)
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]int{{1}, {2}, {3}}, got.data); diff != "" {
		t.Errorf("a graceful stop must finish the generated batches (-want +got):\n%s", diff)
	}
}

func TestRunValidates(t *testing.T) {
	tests := []struct {
		name  string
		build func() *dstream.Context
		want  []string
	}{
		{"no interval and no output", func() *dstream.Context {
			return dstream.NewContext(dstream.WithClock(dstream.NewManualClock(epoch)))
		}, []string{"batch interval", "no output operation"}},
		{"nil functions", func() *dstream.Context {
			c := dstream.NewContext(dstream.BatchInterval(interval))
			in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
			dstream.ForeachRDD(dstream.Map[int, int](in, nil), nil)
			dstream.ForeachRDD(dstream.Filter(in, nil), func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
			dstream.Print(dstream.FlatMapSeq[int, int](in, nil), 1)
			dstream.Print(dstream.FlatMapYield[int, int](in, nil), 1)
			return c
		}, []string{"dstream.Map: invalid argument: nil function", "dstream.ForeachRDD: invalid argument: nil function", "dstream.Filter: invalid argument: nil function",
			"dstream.FlatMapSeq: invalid argument: nil function", "dstream.FlatMapYield: invalid argument: nil function"}},
		{"bad print", func() *dstream.Context {
			c := dstream.NewContext(dstream.BatchInterval(interval))
			in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
			dstream.PrintTo(in, nil, 0)
			return c
		}, []string{"dstream.Print"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build().Run(context.Background())
			if !errors.Is(err, dstream.ErrInvalid) {
				t.Fatalf("Run = %v, want an error wrapping ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream[int](h.c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	h.c.Stop() // before Run: Run returns at once
	if err := h.c.Run(context.Background()); err != nil {
		t.Fatalf("Run after Stop = %v, want nil", err)
	}
	if err := h.c.Run(context.Background()); !errors.Is(err, dstream.ErrAlreadyRan) {
		t.Fatalf("second Run = %v, want ErrAlreadyRan", err)
	}
}

func TestPrint(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1, 2, 3}, []int{4})
	var buf bytes.Buffer
	dstream.PrintTo(in, &buf, 2)
	h.runBatches(2)
	rule := "-------------------------------------------"
	want := rule + "\nTime: 1767225601000 ms\n" + rule + "\n1\n2\n...\n\n" +
		rule + "\nTime: 1767225602000 ms\n" + rule + "\n4\n\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
}

func TestTransform(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []string{"a b", "b"})
	words := dstream.FlatMap(in, strings.Fields)
	counted := dstream.Transform(words, func(r *rdd.RDD[string], bt time.Time) *rdd.RDD[string] {
		return rdd.Map(rdd.Distinct(r), func(w string) string { return w + "@" + bt.Format("05") })
	})
	var got collector[string]
	dstream.ForeachRDD(counted, got.foreach)
	h.runBatches(1)
	if len(got.data) != 1 {
		t.Fatalf("got %d batches, want 1", len(got.data))
	}
	if diff := cmp.Diff([]string{"a@01", "b@01"}, got.data[0], cmpSorted); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
}
