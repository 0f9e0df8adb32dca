package rdd_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// ---- invalid arguments ----

func TestInvalidArguments(t *testing.T) {
	eng := rdd.NewEngine(rdd.Parallelism(2))
	ints := rdd.Parallelize(eng, []int{1, 2, 3}, 2)
	kvs := rdd.Parallelize(eng, []hKV{{Key: "a", Value: 1}}, 1)
	var nilInts *rdd.RDD[int]
	var nilKVs *rdd.RDD[hKV]
	id := func(x int) int { return x }
	tests := []struct {
		name string
		op   string // the operator the error must name
		r    *rdd.RDD[int]
	}{
		{"Map nil function", "rdd.Map", rdd.Map[int, int](ints, nil)},
		{"FlatMap nil function", "rdd.FlatMap", rdd.FlatMap[int, int](ints, nil)},
		{"FlatMapSeq nil function", "rdd.FlatMapSeq", rdd.FlatMapSeq[int, int](ints, nil)},
		{"FlatMapYield nil function", "rdd.FlatMapYield", rdd.FlatMapYield[int, int](ints, nil)},
		{"Filter nil function", "rdd.Filter", rdd.Filter(ints, nil)},
		{"MapPartitions nil function", "rdd.MapPartitions", rdd.MapPartitions[int, int](ints, nil)},
		{"MapValues nil function", "rdd.MapValues", rdd.Values(rdd.MapValues[string, int, int](kvs, nil))},
		{"FlatMapValues nil function", "rdd.FlatMapValues", rdd.Values(rdd.FlatMapValues[string, int, int](kvs, nil))},
		{"Map nil RDD", "rdd.Map", rdd.Map(nilInts, id)},
		{"FlatMap nil RDD", "rdd.FlatMap", rdd.FlatMap(nilInts, func(x int) []int { return nil })},
		{"FlatMapSeq nil RDD", "rdd.FlatMapSeq", rdd.FlatMapSeq(nilInts, func(x int) iter.Seq[int] { return nil })},
		{"FlatMapYield nil RDD", "rdd.FlatMapYield", rdd.FlatMapYield(nilInts, func(int, func(int) bool) {})},
		{"Filter nil RDD", "rdd.Filter", rdd.Filter(nilInts, func(int) bool { return true })},
		{"MapPartitions nil RDD", "rdd.MapPartitions", rdd.MapPartitions(nilInts, func(context.Context, int, iter.Seq[int], func(int) bool) error { return nil })},
		{"MapValues nil RDD", "rdd.MapValues", rdd.Values(rdd.MapValues(nilKVs, id))},
		{"FlatMapValues nil RDD", "rdd.FlatMapValues", rdd.Values(rdd.FlatMapValues(nilKVs, func(v int) []int { return nil }))},
		{"Keys nil RDD", "rdd.Keys", rdd.Map(rdd.Keys(nilKVs), func(string) int { return 0 })},
		{"Values nil RDD", "rdd.Values", rdd.Values(nilKVs)},
		{"Glom nil RDD", "rdd.Glom", rdd.Map(rdd.Glom(nilInts), func(s []int) int { return len(s) })},
		{"Sample nil RDD", "rdd.Sample", rdd.Sample(nilInts, rdd.WithoutReplacement, 0.5, 1)},
		{"Coalesce nil RDD", "rdd.Coalesce", rdd.Coalesce(nilInts, 1)},
		{"Coalesce 0 partitions", "rdd.Coalesce", rdd.Coalesce(ints, 0)},
		{"Coalesce -1 partitions", "rdd.Coalesce", rdd.Coalesce(ints, -1)},
		{"Union of nothing", "rdd.Union", rdd.Union[int]()},
		{"Union with a nil RDD", "rdd.Union", rdd.Union(ints, nilInts)},
		{"Range step 0", "rdd.Range", rdd.Map(rdd.Range(eng, 0, 10, 0, 2), func(x int64) int { return int(x) })},
		{"Sample fraction", "rdd.Sample", rdd.Sample(ints, rdd.WithoutReplacement, 2, 1)},
		// The root cause is reported through valid children.
		{"behind a chain", "rdd.Filter", rdd.Map(rdd.Coalesce(rdd.Filter(ints, nil), 1), id)},
		{"behind a union", "rdd.FlatMap", rdd.Union(ints, rdd.FlatMap[int, int](ints, nil))},
		{"behind persist", "rdd.Map", rdd.Map[int, int](ints, nil).Persist()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hCheckInvalid(t, tc.r.Err(), tc.op)
			for _, a := range hActions() {
				err := a.run(context.Background(), tc.r)
				hCheckInvalid(t, err, tc.op)
				if !strings.Contains(err.Error(), a.name) {
					t.Errorf("%s: error %q does not name the action", a.name, err)
				}
			}
		})
	}
}

func TestValidRDDHasNoError(t *testing.T) {
	eng := rdd.NewEngine()
	r := rdd.Union(rdd.Map(rdd.Range(eng, 0, 3, 1, 1), func(x int64) int { return int(x) }), rdd.Empty[int](eng))
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

func TestNilRDDActions(t *testing.T) {
	var r *rdd.RDD[int]
	for _, a := range hActions() {
		if a.name == "rdd.CountByKey" || a.name == "rdd.CollectAsMap" || a.name == "rdd.Lookup" {
			continue // these run over Map(r), an invalid node of its own
		}
		err := a.run(context.Background(), r)
		hCheckInvalid(t, err, a.name)
	}
	var kv *rdd.RDD[ops.KV[int, int]]
	_, err := rdd.CountByKey(context.Background(), kv)
	hCheckInvalid(t, err, "rdd.CountByKey")
	_, err = rdd.CollectAsMap(context.Background(), kv)
	hCheckInvalid(t, err, "rdd.CollectAsMap")
	_, err = rdd.Lookup(context.Background(), kv, 1)
	hCheckInvalid(t, err, "rdd.Lookup")
	if r.Err() == nil || !errors.Is(r.Err(), rdd.ErrInvalid) {
		t.Errorf("nil RDD's Err() = %v", r.Err())
	}
	// Lifecycle methods on a nil RDD do not panic either.
	if r.Persist() != nil || r.Cache() != nil || r.Unpersist() != nil || r.IsPersisted() {
		t.Error("Persist/Cache/Unpersist/IsPersisted on a nil RDD")
	}
}

func TestNilActionArguments(t *testing.T) {
	ctx := context.Background()
	r := rdd.Parallelize(rdd.NewEngine(), []int{1, 2}, 2)
	_, err := rdd.Reduce[int](ctx, r, nil)
	hCheckInvalid(t, err, "rdd.Reduce")
	_, err = rdd.Fold[int](ctx, r, 0, nil)
	hCheckInvalid(t, err, "rdd.Fold")
	_, err = rdd.Aggregate[int, int](ctx, r, 0, nil, ops.Sum[int])
	hCheckInvalid(t, err, "rdd.Aggregate")
	_, err = rdd.Aggregate[int, int](ctx, r, 0, ops.Sum[int], nil)
	hCheckInvalid(t, err, "rdd.Aggregate")
	hCheckInvalid(t, rdd.Foreach[int](ctx, r, nil), "rdd.Foreach")
	hCheckInvalid(t, rdd.ForeachPartition[int](ctx, r, nil), "rdd.ForeachPartition")
	_, err = rdd.TakeOrdered[int](ctx, r, 1, nil)
	hCheckInvalid(t, err, "rdd.TakeOrdered")
	_, err = rdd.Top[int](ctx, r, 1, nil)
	hCheckInvalid(t, err, "rdd.Top")
	var nilCtx context.Context
	for _, a := range hActions() {
		hCheckInvalid(t, a.run(nilCtx, r), a.name)
	}
}

// ---- panics in user code ----

// hBoom marks the element on which test functions fail; it is in
// partition 2 of hFailParts.
const hBoom = -999

func hFailParts() [][]int { return [][]int{{1, 2}, {3, 4}, {5, hBoom, 7}, {8}} }

var errHBoom = errors.New("boom")

func TestPanics(t *testing.T) {
	boom := func(x int) {
		if x == hBoom {
			panic("boom")
		}
	}
	id := func(x int) int { return x }
	collect := func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.Collect(ctx, r); return err }
	// dropLast drops the 7 that ends partition 2: its Filter's code runs
	// last in the partition, after the element before it was passed on.
	dropLast := func(r *rdd.RDD[int]) *rdd.RDD[int] { return rdd.Filter(r, func(x int) bool { return x != 7 }) }
	tests := []struct {
		name string
		run  func(ctx context.Context, r *rdd.RDD[int]) error
		op   string
	}{
		{"Map", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(r, func(x int) int { boom(x); return x }))
		}, "rdd.Map"},
		{"Filter after Map", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Filter(rdd.Map(r, id), func(x int) bool { boom(x); return true }))
		}, "rdd.Filter"},
		{"Map after Filter", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.Filter(r, func(int) bool { return true }), func(x int) int { boom(x); return x }))
		}, "rdd.Map"},
		{"FlatMap", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.FlatMap(r, func(x int) []int { boom(x); return []int{x} }), id))
		}, "rdd.FlatMap"},
		{"FlatMapSeq inner iterator", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.FlatMapSeq(r, func(x int) iter.Seq[int] {
				return func(yield func(int) bool) {
					if yield(x) {
						boom(x) // after the downstream Map ran
					}
				}
			}), id))
		}, "rdd.FlatMapSeq"},
		{"MapPartitions after its loop", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.MapPartitions(rdd.Map(r, id), func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				seen := false
				for x := range in {
					seen = seen || x == hBoom
					if !yield(x) {
						return nil
					}
				}
				if seen {
					panic("boom")
				}
				return nil
			}))
		}, "rdd.MapPartitions"},
		{"MapPartitions before its loop", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.MapPartitions(rdd.Map(r, id), func(_ context.Context, part int, in iter.Seq[int], yield func(int) bool) error {
				if part == 2 {
					boom(hBoom)
				}
				for x := range in {
					if !yield(x) {
						return nil
					}
				}
				return nil
			}))
		}, "rdd.MapPartitions"},
		{"MapPartitions after a yield, with a Map downstream", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.MapPartitions(r, func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				for x := range in {
					if !yield(x) {
						return nil
					}
					boom(x)
				}
				return nil
			}), id))
		}, "rdd.MapPartitions"},
		{"MapPartitions after its loop, over a Filter that dropped the last element", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.MapPartitions(dropLast(r), func(_ context.Context, part int, in iter.Seq[int], yield func(int) bool) error {
				for x := range in {
					if !yield(x) {
						return nil
					}
				}
				if part == 2 {
					boom(hBoom)
				}
				return nil
			}))
		}, "rdd.MapPartitions"},
		{"ZipPartitions between its inputs", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.ZipPartitions(dropLast(r), r, func(_ context.Context, part int, a, b iter.Seq[int], yield func(int) bool) error {
				for range a {
				}
				if part == 2 {
					boom(hBoom)
				}
				for x := range b {
					if !yield(x) {
						return nil
					}
				}
				return nil
			}))
		}, "rdd.ZipPartitions"},
		{"ZipPartitionsN after a yield", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.ZipPartitionsN([]*rdd.RDD[int]{r, r}, func(_ context.Context, _ int, ins []iter.Seq[int], yield func(int) bool) error {
				for x := range ins[1] {
					if !yield(x) {
						return nil
					}
					boom(x)
				}
				return nil
			}), id))
		}, "rdd.ZipPartitionsN"},
		{"Generate after a yield", func(ctx context.Context, r *rdd.RDD[int]) error {
			gen := rdd.Generate(r.Engine(), "test.Generate", 4, func(_ context.Context, part int, yield func(int) bool) error {
				for _, x := range hFailParts()[part] {
					if !yield(x) {
						return nil
					}
					boom(x)
				}
				return nil
			})
			return collect(ctx, rdd.Map(gen, id))
		}, "test.Generate"},
		{"FlatMapSeq function", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.FlatMapSeq(rdd.Map(r, id), func(x int) iter.Seq[int] {
				boom(x)
				return slices.Values([]int{x})
			}), id))
		}, "rdd.FlatMapSeq"},
		{"FlatMapYield function", func(ctx context.Context, r *rdd.RDD[int]) error {
			return collect(ctx, rdd.Map(rdd.FlatMapYield(rdd.Map(r, id), func(x int, yield func(int) bool) {
				if yield(x) {
					boom(x) // after the downstream Map ran
				}
			}), id))
		}, "rdd.FlatMapYield"},
		{"MapValues", func(ctx context.Context, r *rdd.RDD[int]) error {
			kv := rdd.Map(r, func(x int) ops.KV[int, int] { return ops.Pair(x, x) })
			return collect(ctx, rdd.Values(rdd.MapValues(kv, func(v int) int { boom(v); return v })))
		}, "rdd.MapValues"},
		{"FlatMapValues", func(ctx context.Context, r *rdd.RDD[int]) error {
			kv := rdd.Map(r, func(x int) ops.KV[int, int] { return ops.Pair(x, x) })
			return collect(ctx, rdd.Values(rdd.FlatMapValues(kv, func(v int) []int { boom(v); return nil })))
		}, "rdd.FlatMapValues"},
		{"MapValuesWithKey", func(ctx context.Context, r *rdd.RDD[int]) error {
			kv := rdd.Map(r, func(x int) ops.KV[int, int] { return ops.Pair(x, x) })
			return collect(ctx, rdd.Values(rdd.MapValuesWithKey(kv, func(_, v int) int { boom(v); return v })))
		}, "rdd.MapValuesWithKey"},
		{"Map under Count", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Count(ctx, rdd.Map(r, func(x int) int { boom(x); return x }))
			return err
		}, "rdd.Map"},
		{"Map under Take", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Take(ctx, rdd.Map(r, func(x int) int { boom(x); return x }), 100)
			return err
		}, "rdd.Map"},
		{"Foreach", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.Foreach(ctx, rdd.Map(r, id), func(_ context.Context, x int) error { boom(x); return nil })
		}, "rdd.Foreach"},
		{"ForeachPartition", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.ForeachPartition(ctx, rdd.Map(r, id), func(_ context.Context, _ int, in iter.Seq[int]) error {
				for x := range in {
					boom(x)
				}
				return nil
			})
		}, "rdd.ForeachPartition"},
		{"ForeachPartition after its loop, over a Filter that dropped the last element", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.ForeachPartition(ctx, dropLast(r), func(_ context.Context, part int, in iter.Seq[int]) error {
				for range in {
				}
				if part == 2 {
					boom(hBoom)
				}
				return nil
			})
		}, "rdd.ForeachPartition"},
		{"Reduce", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Reduce(ctx, rdd.Map(r, id), func(a, b int) int { boom(a); boom(b); return a + b })
			return err
		}, "rdd.Reduce"},
		{"Aggregate", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Aggregate(ctx, rdd.Map(r, id), 0, func(a, x int) int { boom(x); return a + x }, ops.Sum[int])
			return err
		}, "rdd.Aggregate"},
		{"TakeOrdered", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.TakeOrdered(ctx, rdd.Map(r, id), 3, func(a, b int) int { boom(a); boom(b); return hCmpInt(a, b) })
			return err
		}, "rdd.TakeOrdered"},
	}
	for _, e := range hEngines() {
		for _, tc := range tests {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				leakcheck.Check(t)
				err := tc.run(context.Background(), rdd.FromPartitions(e.eng, hFailParts()))
				var pe *rdd.PanicError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *rdd.PanicError", err)
				}
				if pe.Op != tc.op || pe.Partition != 2 || pe.Value != "boom" {
					t.Errorf("PanicError{Op: %q, Partition: %d, Value: %v}, want {%q, 2, boom}", pe.Op, pe.Partition, pe.Value, tc.op)
				}
				if !bytes.Contains(pe.Stack, []byte("rdd_test.")) {
					t.Errorf("stack does not show the panicking test function:\n%s", pe.Stack)
				}
				if msg := err.Error(); !strings.Contains(msg, tc.op) || !strings.Contains(msg, "partition 2") || !strings.Contains(msg, "boom") {
					t.Errorf("error message %q lacks the operator, partition or value", msg)
				}
				// The process and the engine keep working.
				if got, err := rdd.Count(context.Background(), rdd.FromPartitions(e.eng, hFailParts())); err != nil || got != 8 {
					t.Errorf("Count after the panic = %d, %v", got, err)
				}
			})
		}
	}
}

func TestPanicErrorValue(t *testing.T) {
	r := rdd.Map(rdd.FromPartitions(rdd.NewEngine(), hFailParts()), func(x int) int {
		if x == hBoom {
			panic(errHBoom)
		}
		return x
	})
	_, err := rdd.Collect(context.Background(), r)
	if !errors.Is(err, errHBoom) {
		t.Errorf("error %v does not wrap the error passed to panic", err)
	}
	var pe *rdd.PanicError
	if !errors.As(err, &pe) || pe.Value != errHBoom || pe.Partition != 2 {
		t.Errorf("error %v: want a *PanicError with the panic value and partition 2", err)
	}
}

// TestPanicInMerge checks the functions that actions also call while
// merging partition results: a panic there is an error too, never a crash.
func TestPanicInMerge(t *testing.T) {
	ctx := context.Background()
	// One element per partition: the functions run only in the merge.
	r := rdd.Parallelize(rdd.NewEngine(), []int{1, 2, 3}, 3)
	panics := func(int, int) int { panic("merge") }
	var errs = map[string]error{}
	_, errs["rdd.Reduce"] = rdd.Reduce(ctx, r, panics)
	_, errs["rdd.Fold"] = rdd.Fold(ctx, r, 0, panics)
	_, errs["rdd.Aggregate"] = rdd.Aggregate(ctx, r, 0, ops.Sum[int], panics)
	_, errs["rdd.TakeOrdered"] = rdd.TakeOrdered(ctx, r, 2, func(a, b int) int { panic("merge") })
	_, errs["rdd.Top"] = rdd.Top(ctx, r, 2, func(a, b int) int { panic("merge") })
	for op, err := range errs {
		var pe *rdd.PanicError
		if !errors.As(err, &pe) {
			t.Errorf("%s: error %v is not a *rdd.PanicError", op, err)
			continue
		}
		if pe.Op != op || pe.Value != "merge" || len(pe.Stack) == 0 {
			t.Errorf("%s: PanicError{Op: %q, Value: %v}", op, pe.Op, pe.Value)
		}
	}
}

func TestPanicCancelsOtherTasks(t *testing.T) {
	leakcheck.Check(t)
	eng := rdd.NewEngine(rdd.Parallelism(2))
	started := hNewSignal()
	var observed atomic.Bool
	r := rdd.MapPartitions(rdd.FromPartitions(eng, [][]int{{0}, {1}, {2}, {3}}),
		func(ctx context.Context, part int, in iter.Seq[int], yield func(int) bool) error {
			switch part {
			case 0:
				started.Fire()
				select {
				case <-ctx.Done():
					observed.Store(true)
					return ctx.Err()
				case <-time.After(hDeadline):
					return errors.New("partition 0 was not cancelled")
				}
			case 1:
				select {
				case <-started.C():
				case <-time.After(hDeadline):
				}
				panic("boom")
			}
			return nil
		})
	err := hAwait(t, hGo(func() error { _, err := rdd.Collect(context.Background(), r); return err }), "Collect")
	var pe *rdd.PanicError
	if !errors.As(err, &pe) || pe.Op != "rdd.MapPartitions" || pe.Partition != 1 {
		t.Fatalf("error %v, want the panic of partition 1 in rdd.MapPartitions", err)
	}
	if !observed.Load() {
		t.Error("partition 0 did not observe the cancellation")
	}
}

// ---- errors returned by user code ----

func TestTaskErrors(t *testing.T) {
	id := func(x int) int { return x }
	tests := []struct {
		name string
		run  func(ctx context.Context, r *rdd.RDD[int]) error
		op   string
	}{
		{"MapPartitions", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Collect(ctx, rdd.Map(rdd.MapPartitions(r, func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				for x := range in {
					if x == hBoom {
						return errHBoom
					}
					if !yield(x) {
						return nil
					}
				}
				return nil
			}), id))
			return err
		}, "rdd.MapPartitions"},
		{"Foreach", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.Foreach(ctx, rdd.Map(r, id), func(_ context.Context, x int) error {
				if x == hBoom {
					return errHBoom
				}
				return nil
			})
		}, "rdd.Foreach"},
		{"ForeachPartition", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.ForeachPartition(ctx, rdd.Map(r, id), func(_ context.Context, _ int, in iter.Seq[int]) error {
				for x := range in {
					if x == hBoom {
						return errHBoom
					}
				}
				return nil
			})
		}, "rdd.ForeachPartition"},
	}
	for _, e := range hEngines() {
		for _, tc := range tests {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				leakcheck.Check(t)
				err := tc.run(context.Background(), rdd.FromPartitions(e.eng, hFailParts()))
				var te *rdd.TaskError
				if !errors.As(err, &te) {
					t.Fatalf("error %v is not a *rdd.TaskError", err)
				}
				if te.Op != tc.op || te.Partition != 2 || te.Err != errHBoom {
					t.Errorf("TaskError{Op: %q, Partition: %d, Err: %v}, want {%q, 2, boom}", te.Op, te.Partition, te.Err, tc.op)
				}
				if !errors.Is(err, errHBoom) {
					t.Errorf("errors.Is(%v, cause) = false", err)
				}
				if msg := err.Error(); !strings.Contains(msg, tc.op) || !strings.Contains(msg, "partition 2") {
					t.Errorf("error message %q lacks the operator or partition", msg)
				}
			})
		}
	}
}

func TestForeachStopsAtFirstError(t *testing.T) {
	var calls atomic.Int64
	r := rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(1)), hSeq(0, 10_000), 1)
	err := rdd.Foreach(context.Background(), r, func(_ context.Context, x int) error {
		calls.Add(1)
		if x == 9 {
			return errHBoom
		}
		return nil
	})
	if !errors.Is(err, errHBoom) {
		t.Fatalf("error %v", err)
	}
	if calls.Load() != 10 {
		t.Errorf("f called %d times, want 10 (stop at the first error)", calls.Load())
	}
}

func TestFirstFailureCancelsOthers(t *testing.T) {
	leakcheck.Check(t)
	eng := rdd.NewEngine(rdd.Parallelism(2))
	started := hNewSignal()
	var cancelled, ran atomic.Int64
	r := rdd.FromPartitions(eng, [][]int{{0}, {1}, {2}, {3}, {4}, {5}})
	err := hAwait(t, hGo(func() error {
		return rdd.ForeachPartition(context.Background(), r, func(ctx context.Context, part int, in iter.Seq[int]) error {
			ran.Add(1)
			if part == 1 {
				select {
				case <-started.C():
				case <-time.After(hDeadline):
				}
				return errHBoom
			}
			started.Fire()
			select {
			case <-ctx.Done():
				cancelled.Add(1)
				return ctx.Err()
			case <-time.After(hDeadline):
				return errors.New("not cancelled")
			}
		})
	}), "ForeachPartition")
	var te *rdd.TaskError
	if !errors.As(err, &te) || te.Partition != 1 || !errors.Is(err, errHBoom) {
		t.Fatalf("error %v, want partition 1's error", err)
	}
	if cancelled.Load() == 0 {
		t.Error("no other task observed the cancellation")
	}
	if cancelled.Load() != ran.Load()-1 {
		t.Errorf("%d tasks ran besides the failing one, %d observed the cancellation", ran.Load()-1, cancelled.Load())
	}
}

// ---- cancellation ----

// hEndless returns an RDD whose partitions would take practically forever to
// compute (no element passes its final filter) and a signal fired when it
// starts running user code.
func hEndless(eng *rdd.Engine) (*rdd.RDD[int], *hSignal) {
	started := hNewSignal()
	m := rdd.Map(rdd.Range(eng, 0, math.MaxInt64, 1, 4), func(x int64) int {
		started.Fire()
		return int(x)
	})
	return rdd.Filter(m, func(x int) bool { return x < 0 }), started
}

func TestCancelRunningJob(t *testing.T) {
	for _, e := range hEngines() {
		for _, a := range hActions() {
			t.Run(e.name+"/"+a.name, func(t *testing.T) {
				leakcheck.Check(t)
				r, started := hEndless(e.eng)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := hGo(func() error { return a.run(ctx, r) })
				hWaitClosed(t, started.C(), "the job's start")
				cancel()
				err := hAwait(t, done, a.name+" after cancel")
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v does not wrap context.Canceled", err)
				}
				if err != nil && !strings.Contains(err.Error(), a.name) {
					t.Errorf("error %q does not name the action", err)
				}
			})
		}
	}
}

func TestCancelBlockedUserCode(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := hNewSignal()
	r := rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(4)), hSeq(0, 8), 4)
	done := hGo(func() error {
		return rdd.ForeachPartition(ctx, r, func(ctx context.Context, _ int, _ iter.Seq[int]) error {
			started.Fire()
			<-ctx.Done() // the action's (derived) context is cancelled too
			return ctx.Err()
		})
	})
	hWaitClosed(t, started.C(), "the job's start")
	cancel()
	if err := hAwait(t, done, "ForeachPartition"); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, e := range hEngines() {
		for _, a := range hActions() {
			t.Run(e.name+"/"+a.name, func(t *testing.T) {
				leakcheck.Check(t)
				var calls atomic.Int64
				r := rdd.Map(rdd.Parallelize(e.eng, hSeq(0, 100), 4), func(x int) int { calls.Add(1); return x })
				err := hAwait(t, hGo(func() error { return a.run(ctx, r) }), a.name)
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v does not wrap context.Canceled", err)
				}
				if calls.Load() != 0 {
					t.Errorf("user code ran %d times under a cancelled context", calls.Load())
				}
			})
		}
	}
}

func TestDeadline(t *testing.T) {
	leakcheck.Check(t)
	r, _ := hEndless(rdd.NewEngine(rdd.Parallelism(2)))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := hAwait(t, hGo(func() error { _, err := rdd.Count(ctx, r); return err }), "Count")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
}

// ---- parallelism and concurrency ----

func TestParallelismBound(t *testing.T) {
	for _, par := range []int{1, 2, 3} {
		var running, peak atomic.Int64
		eng := rdd.NewEngine(rdd.Parallelism(par))
		if eng.Parallelism() != par {
			t.Fatalf("Parallelism() = %d, want %d", eng.Parallelism(), par)
		}
		r := rdd.MapPartitions(rdd.Parallelize(eng, hSeq(0, 16_000), 16),
			func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				for x := range in {
					if !yield(x) {
						break
					}
					runtime.Gosched()
				}
				running.Add(-1)
				return nil
			})
		got, err := rdd.Count(context.Background(), r)
		if err != nil || got != 16_000 {
			t.Fatalf("Count = %d, %v", got, err)
		}
		if peak.Load() > int64(par) {
			t.Errorf("Parallelism(%d): %d tasks ran at once", par, peak.Load())
		}
	}
	if got := rdd.NewEngine(nil).Parallelism(); got != runtime.GOMAXPROCS(0) {
		t.Errorf("NewEngine(nil option).Parallelism() = %d", got)
	}
}

func TestConcurrentActions(t *testing.T) {
	leakcheck.Check(t)
	for _, e := range hEngines() {
		data := hSeq(0, 20_000)
		r := rdd.Map(rdd.Parallelize(e.eng, data, 8), func(x int) int { return 2 * x })
		wantSum := 0
		for _, x := range data {
			wantSum += 2 * x
		}
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for i := range 12 {
			wg.Go(func() {
				ctx := context.Background()
				switch i % 3 {
				case 0:
					got, err := rdd.Collect(ctx, r)
					if err == nil && (len(got) != len(data) || got[len(got)-1] != 2*data[len(data)-1]) {
						err = errors.New("wrong Collect result")
					}
					errs <- err
				case 1:
					got, err := rdd.Reduce(ctx, r, ops.Sum[int])
					if err == nil && got != wantSum {
						err = errors.New("wrong Reduce result")
					}
					errs <- err
				case 2:
					got, err := rdd.Take(ctx, r, 3)
					if err == nil && (len(got) != 3 || got[2] != 4) {
						err = errors.New("wrong Take result")
					}
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("%s: %v", e.name, err)
			}
		}
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	eng := rdd.NewEngine(rdd.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if _, err := rdd.Count(context.Background(), rdd.Parallelize(eng, hSeq(0, 10), 2)); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "rdd job") || !strings.Contains(out, "action=rdd.Count") {
		t.Errorf("debug log %q lacks the job event", out)
	}
	if rdd.NewEngine(rdd.WithLogger(nil)).Logger() == nil {
		t.Error("WithLogger(nil) left no logger")
	}
}

// ---- persistence ----

func TestPersist(t *testing.T) {
	for _, e := range hEngines() {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			data := hSeq(0, 1000)
			var calls atomic.Int64
			m := rdd.Map(rdd.Parallelize(e.eng, data, 4), func(x int) int { calls.Add(1); return x + 1 })
			want := make([]int, len(data))
			for i, x := range data {
				want[i] = x + 1
			}
			if m.IsPersisted() {
				t.Fatal("IsPersisted() before Persist")
			}
			if m.Persist() != m || !m.IsPersisted() {
				t.Fatal("Persist did not return r or IsPersisted() is false")
			}
			if strings.Contains(m.DebugString(), "(cached)") {
				t.Errorf("DebugString before any action: %s", m.DebugString())
			}
			if n, err := rdd.Count(ctx, m); err != nil || n != 1000 {
				t.Fatalf("Count = %d, %v", n, err)
			}
			got, err := rdd.Collect(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Collect of the persisted RDD", want, got)
			if calls.Load() != 1000 {
				t.Errorf("two actions on a persisted RDD mapped %d elements, want 1000", calls.Load())
			}
			if !strings.Contains(m.DebugString(), "(cached)") {
				t.Errorf("DebugString after an action: %s", m.DebugString())
			}
			// Children read the cache.
			child := rdd.Filter(m, func(x int) bool { return x%2 == 0 })
			if n, err := rdd.Count(ctx, child); err != nil || n != 500 {
				t.Fatalf("Count(child) = %d, %v", n, err)
			}
			// Persisting again keeps the cache.
			m.Persist()
			m.Cache()
			if _, err := rdd.Reduce(ctx, m, ops.Sum[int]); err != nil {
				t.Fatal(err)
			}
			if calls.Load() != 1000 {
				t.Errorf("after child actions and Persist again: %d elements mapped, want 1000", calls.Load())
			}
			// Unpersist: recomputed by every action again.
			if m.Unpersist() != m || m.IsPersisted() {
				t.Fatal("Unpersist did not return r or IsPersisted() is true")
			}
			for range 2 {
				if n, err := rdd.Count(ctx, m); err != nil || n != 1000 {
					t.Fatalf("Count = %d, %v", n, err)
				}
			}
			if calls.Load() != 3000 {
				t.Errorf("two actions after Unpersist: %d elements mapped in all, want 3000", calls.Load())
			}
			// Cache is Persist.
			if m.Cache() != m || !m.IsPersisted() {
				t.Fatal("Cache did not persist")
			}
			got, err = rdd.Collect(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Collect after Cache", want, got)
			if _, err := rdd.Collect(ctx, m); err != nil {
				t.Fatal(err)
			}
			if calls.Load() != 4000 {
				t.Errorf("two actions after Cache: %d elements mapped in all, want 4000", calls.Load())
			}
		})
	}
}

func TestPersistTakeCachesWholePartitions(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	m := rdd.Map(rdd.Parallelize(rdd.NewEngine(), hSeq(0, 1000), 4), func(x int) int { calls.Add(1); return x }).Persist()
	got, err := rdd.Take(ctx, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	hDiff(t, "Take(1)", []int{0}, got)
	if calls.Load() != 250 {
		t.Errorf("Take(1) on a persisted RDD mapped %d elements, want partition 0 whole (250)", calls.Load())
	}
	if _, err := rdd.Take(ctx, m, 200); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 250 {
		t.Errorf("Take(200) from the cached partition mapped %d more elements", calls.Load()-250)
	}
	all, err := rdd.Collect(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	hDiff(t, "Collect", hSeq(0, 1000), all)
	if calls.Load() != 1000 {
		t.Errorf("Collect after Take mapped %d elements in all, want 1000", calls.Load())
	}
}

func TestPersistConcurrentActions(t *testing.T) {
	var calls atomic.Int64
	m := rdd.Map(rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(4)), hSeq(0, 10_000), 8),
		func(x int) int { calls.Add(1); return x }).Persist()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			n, err := rdd.Count(context.Background(), m)
			if err == nil && n != 10_000 {
				err = errors.New("wrong count")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if calls.Load() != 10_000 {
		t.Errorf("8 concurrent actions on a persisted RDD mapped %d elements, want each once (10000)", calls.Load())
	}
}

// TestPersistAfterFailure checks that a failed or cancelled computation of a
// persisted partition is not kept, and that the next action computes it.
func TestPersistAfterFailure(t *testing.T) {
	t.Run("panic", func(t *testing.T) {
		leakcheck.Check(t)
		var failed atomic.Bool
		m := rdd.Map(rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(2)), hSeq(0, 100), 2), func(x int) int {
			if x == 70 && failed.CompareAndSwap(false, true) {
				panic("once")
			}
			return x
		}).Persist()
		_, err := rdd.Collect(context.Background(), m)
		var pe *rdd.PanicError
		if !errors.As(err, &pe) || pe.Partition != 1 {
			t.Fatalf("first Collect: %v, want a panic in partition 1", err)
		}
		var got []int
		err = hAwait(t, hGo(func() (err error) { got, err = rdd.Collect(context.Background(), m); return err }), "Collect after a panic")
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Collect after a panic", hSeq(0, 100), got)
	})
	t.Run("error", func(t *testing.T) {
		var failed atomic.Bool
		mp := rdd.MapPartitions(rdd.Parallelize(rdd.NewEngine(), hSeq(0, 100), 2),
			func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				for x := range in {
					if !yield(x) {
						return nil
					}
				}
				if failed.CompareAndSwap(false, true) {
					return errHBoom
				}
				return nil
			}).Persist()
		if _, err := rdd.Collect(context.Background(), mp); !errors.Is(err, errHBoom) {
			t.Fatalf("first Collect: %v", err)
		}
		got, err := rdd.Collect(context.Background(), mp)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Collect after an error", hSeq(0, 100), got)
	})
	t.Run("cancel", func(t *testing.T) {
		leakcheck.Check(t)
		started, release := hNewSignal(), make(chan struct{})
		var calls atomic.Int64
		m := rdd.Map(rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(1)), hSeq(0, 5000), 1), func(x int) int {
			calls.Add(1)
			if x == 0 {
				started.Fire()
				select {
				case <-release:
				case <-time.After(hDeadline):
				}
			}
			return x
		}).Persist()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := hGo(func() error { _, err := rdd.Count(ctx, m); return err })
		hWaitClosed(t, started.C(), "the job's start")
		cancel()
		close(release)
		if err := hAwait(t, done, "Count"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Count: %v, want context.Canceled", err)
		}
		if n := calls.Load(); n >= 5000 {
			t.Errorf("the cancelled job mapped the whole partition (%d)", n)
		}
		before := calls.Load()
		got, err := rdd.Collect(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Collect after a cancel", hSeq(0, 5000), got)
		if calls.Load()-before != 5000 {
			t.Errorf("Collect after a cancel mapped %d elements, want the whole partition again", calls.Load()-before)
		}
	})
}
