package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// perBatchInput has empty batches (one of them the first), a value in one
// batch only and repeated values.
var perBatchInput = [][]int{nil, {3, 1, 3}, {7}, nil, {2, 2, 2, 5}}

// collectPerBatch runs build's stream on a manual clock for n batches and
// returns what it held at each batch, in batch order.
func collectPerBatch[U any](t *testing.T, n int, build func(c *dstream.Context) *dstream.DStream[U]) [][]U {
	t.Helper()
	h := newHarness(t)
	var got collector[U]
	dstream.ForeachRDD(build(h.c), got.foreach)
	h.start(context.Background())
	h.batches(n)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if diff := cmp.Diff(batchTimes(n), got.times); diff != "" {
		t.Fatalf("batch times (-want +got):\n%s", diff)
	}
	return got.data
}

// anyOrder compares slices of T as multisets.
func anyOrder[T any]() cmp.Option {
	return cmpopts.SortSlices(func(a, b T) bool { return fmt.Sprint(a) < fmt.Sprint(b) })
}

var equateEmpty = cmpopts.EquateEmpty()

func TestMapPartitions(t *testing.T) {
	leakcheck.Check(t)
	got := collectPerBatch(t, len(perBatchInput), func(c *dstream.Context) *dstream.DStream[string] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, perBatchInput...)
		return dstream.MapPartitions(in, func(_ context.Context, _ int, in iter.Seq[int], yield func(string) bool) error {
			for x := range in {
				if !yield(strconv.Itoa(10 * x)) {
					return nil
				}
			}
			return nil
		})
	})
	want := make([][]string, len(perBatchInput))
	for i, b := range perBatchInput {
		for _, x := range b {
			want[i] = append(want[i], strconv.Itoa(10*x))
		}
	}
	if diff := cmp.Diff(want, got, anyOrder[string](), equateEmpty); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestFlatMapSeqAndYield(t *testing.T) {
	leakcheck.Check(t)
	// x gives x and 10x; the two operators must agree with each other and
	// with the input.
	want := make([][]int, len(perBatchInput))
	for i, b := range perBatchInput {
		for _, x := range b {
			want[i] = append(want[i], x, 10*x)
		}
	}
	seq := collectPerBatch(t, len(perBatchInput), func(c *dstream.Context) *dstream.DStream[int] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, perBatchInput...)
		return dstream.FlatMapSeq(in, func(x int) iter.Seq[int] { return slices.Values([]int{x, 10 * x}) })
	})
	yielded := collectPerBatch(t, len(perBatchInput), func(c *dstream.Context) *dstream.DStream[int] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, perBatchInput...)
		return dstream.FlatMapYield(in, func(x int, yield func(int) bool) { _ = yield(x) && yield(10*x) })
	})
	for name, got := range map[string][][]int{"FlatMapSeq": seq, "FlatMapYield": yielded} {
		if diff := cmp.Diff(want, got, anyOrder[int](), equateEmpty); diff != "" {
			t.Errorf("%s: batches (-want +got):\n%s", name, diff)
		}
	}
}

// TestMapPartitionsStopsUnderPrint checks that f's yield returns false once
// the output operation has what it wants (Print reads the first n+1
// elements), and not before.
func TestMapPartitionsStopsUnderPrint(t *testing.T) {
	leakcheck.Check(t)
	d := dstreamtest.NewDriver(dstreamtest.Parallelism(1))
	defer d.Close()
	in, _ := dstreamtest.Input(d.Context(), []int{1})
	var calls, falseAt atomic.Int64
	tens := dstream.MapPartitions(in, func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
		for x := range in {
			for i := range 1000 {
				c := calls.Add(1)
				if !yield(10*x + i) {
					falseAt.Store(c)
					return nil
				}
			}
		}
		return nil
	})
	var out strings.Builder
	dstream.PrintTo(tens, &out, 2)
	if _, err := d.Step(); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if want := "10\n11\n...\n"; !strings.Contains(out.String(), want) {
		t.Errorf("Print wrote %q, want %q after the header", out.String(), want)
	}
	if calls.Load() != 3 || falseAt.Load() != 3 {
		t.Errorf("yield called %d times, false at call %d; want false at the 3rd, the last", calls.Load(), falseAt.Load())
	}
}

func TestMapPartitionsErrorFailsTheBatch(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1})
	boom := errors.New("boom")
	out := dstream.MapPartitions(in, func(context.Context, int, iter.Seq[int], func(int) bool) error { return boom })
	var got collector[int]
	dstream.ForeachRDD(out, got.foreach)
	h.start(context.Background())
	h.batches(1)
	if err := h.result(); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want an error wrapping boom", err)
	}
}

func TestRepartition(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, perBatchInput...)
	var parts []int
	var got collector[int]
	dstream.ForeachRDD(dstream.Repartition(in, 3), func(ctx context.Context, r *rdd.RDD[int], bt time.Time) error {
		parts = append(parts, r.NumPartitions())
		return got.foreach(ctx, r, bt)
	})
	h.runBatches(len(perBatchInput))
	if diff := cmp.Diff(perBatchInput, got.data, anyOrder[int](), equateEmpty); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	for i, n := range parts {
		if n != 3 {
			t.Errorf("batch %d has %d partitions, want 3", i+1, n)
		}
	}
}

func TestUnionOfThreeStreams(t *testing.T) {
	leakcheck.Check(t)
	inputs := [3][][]string{
		{{"a1", "a2"}, nil, {"a3"}, nil},
		{nil, {"b1"}, {"b2", "b3"}, nil},
		{{"c1"}, nil, {"c2"}, nil},
	}
	got := collectPerBatch(t, 4, func(c *dstream.Context) *dstream.DStream[string] {
		var ss []*dstream.DStream[string]
		for _, in := range inputs {
			s, _ := dstream.QueueStream(c, dstream.OneAtATime, in...)
			ss = append(ss, s)
		}
		return dstream.Union(ss...)
	})
	// rdd.Union keeps argument order: the batch is the streams' batches
	// concatenated.
	want := make([][]string, 4)
	for k := range want {
		for _, in := range inputs {
			want[k] = append(want[k], in[k]...)
		}
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestUnionAcrossContexts(t *testing.T) {
	leakcheck.Check(t)
	c1 := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(dstream.NewManualClock(epoch)))
	c2 := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(dstream.NewManualClock(epoch)))
	a, _ := dstream.QueueStream(c1, dstream.OneAtATime, []int{1})
	b, _ := dstream.QueueStream(c2, dstream.OneAtATime, []int{2})
	dstream.ForeachRDD(dstream.Union(a, b), func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	for i, c := range []*dstream.Context{c1, c2} {
		err := c.Run(context.Background())
		if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "dstream.Union") {
			t.Errorf("context %d: Run = %v, want an error wrapping ErrInvalid naming dstream.Union", i+1, err)
		}
	}
}

func TestCount(t *testing.T) {
	leakcheck.Check(t)
	// One batch more than queued: the drained queue gives an RDD with no
	// partitions at all, which still counts 0.
	got := collectPerBatch(t, len(perBatchInput)+1, func(c *dstream.Context) *dstream.DStream[int64] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, perBatchInput...)
		return dstream.Count(in)
	})
	var want [][]int64
	for _, b := range append(perBatchInput, nil) {
		want = append(want, []int64{int64(len(b))})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestReduce(t *testing.T) {
	leakcheck.Check(t)
	// One batch more than queued: the drained queue's RDD has no partitions.
	got := collectPerBatch(t, len(perBatchInput)+1, func(c *dstream.Context) *dstream.DStream[int] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, perBatchInput...)
		return dstream.Reduce(in, ops.Sum[int])
	})
	want := make([][]int, len(perBatchInput)+1)
	for i, b := range perBatchInput {
		if len(b) == 0 {
			continue // an empty batch reduces to an empty RDD
		}
		sum := 0
		for _, x := range b {
			sum += x
		}
		want[i] = []int{sum}
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestCountByValue(t *testing.T) {
	leakcheck.Check(t)
	got := collectPerBatch(t, len(perBatchInput), func(c *dstream.Context) *dstream.DStream[ops.KV[int, int64]] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, perBatchInput...)
		return dstream.CountByValue(in, rdd.Partitions[int](3))
	})
	for i, b := range perBatchInput {
		want := map[int]int64{}
		for _, x := range b {
			want[x]++
		}
		if diff := cmp.Diff(want, kvMap(t, got[i]), equateEmpty); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestTransformWith(t *testing.T) {
	leakcheck.Check(t)
	nums := [][]int{{1, 2}, nil, {3}}
	words := [][]string{{"x"}, {"y", "z"}, nil}
	got := collectPerBatch(t, 3, func(c *dstream.Context) *dstream.DStream[string] {
		a, _ := dstream.QueueStream(c, dstream.OneAtATime, nums...)
		b, _ := dstream.QueueStream(c, dstream.OneAtATime, words...)
		return dstream.TransformWith(a, b, func(ra *rdd.RDD[int], rb *rdd.RDD[string], bt time.Time) *rdd.RDD[string] {
			stamp := func(s string) string { return s + "@" + bt.Format("05") }
			return rdd.Map(rdd.Union(rdd.Map(ra, strconv.Itoa), rb), stamp)
		})
	})
	want := make([][]string, 3)
	for k := range want {
		stamp := "@" + batchTimes(3)[k].Format("05")
		for _, x := range nums[k] {
			want[k] = append(want[k], strconv.Itoa(x)+stamp)
		}
		for _, w := range words[k] {
			want[k] = append(want[k], w+stamp)
		}
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

// validationCase builds a graph with one construction error on c.
type validationCase struct {
	name  string
	build func(c *dstream.Context)
	want  string
}

// checkValidation runs each case's Context and checks Run reports the
// case's error, naming the operator, before any batch.
func checkValidation(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			c := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(dstream.NewManualClock(epoch)))
			tt.build(c)
			err := c.Run(context.Background())
			if !errors.Is(err, dstream.ErrInvalid) {
				t.Fatalf("Run = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// discard registers an output that ignores s's batches.
func discard[T any](s *dstream.DStream[T]) {
	dstream.ForeachRDD(s, func(context.Context, *rdd.RDD[T], time.Time) error { return nil })
}

func TestPerBatchValidation(t *testing.T) {
	ints := func(c *dstream.Context) *dstream.DStream[int] {
		s, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
		return s
	}
	checkValidation(t, []validationCase{
		{"nil MapPartitions function", func(c *dstream.Context) {
			discard(dstream.MapPartitions[int, int](ints(c), nil))
		}, "dstream.MapPartitions: invalid argument: nil function"},
		{"Repartition to 0", func(c *dstream.Context) {
			discard(dstream.Repartition(ints(c), 0))
		}, "dstream.Repartition: invalid argument: partition count 0"},
		{"nil Reduce function", func(c *dstream.Context) {
			discard(dstream.Reduce(ints(c), nil))
		}, "dstream.Reduce: invalid argument: nil function"},
		{"nil TransformWith function", func(c *dstream.Context) {
			discard(dstream.TransformWith[int, int, int](ints(c), ints(c), nil))
		}, "dstream.TransformWith: invalid argument: nil function"},
		{"nil TransformWith stream", func(c *dstream.Context) {
			discard(dstream.TransformWith(nil, ints(c), func(_ *rdd.RDD[int], rb *rdd.RDD[int], _ time.Time) *rdd.RDD[int] { return rb }))
		}, "dstream.TransformWith: invalid argument: nil stream"},
		{"nil Union stream", func(c *dstream.Context) {
			discard(dstream.Union(ints(c), nil, ints(c)))
		}, "dstream.Union: invalid argument: nil stream"},
		{"Union of different slides", func(c *dstream.Context) {
			in := ints(c)
			discard(dstream.Union(in, dstream.Window(in, 2*interval, 2*interval)))
		}, "dstream.Union: invalid argument: stream 1 slides every 2s"},
	})
}
