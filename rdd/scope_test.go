package rdd_test

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"
	"testing"

	"github.com/spatedev/spate/rdd"
)

// yieldProbe is the body of a user function that produces elements: push
// yields 0, 1, … and records how yield answered.
type yieldProbe struct {
	calls   atomic.Int64 // calls of yield
	falseAt atomic.Int64 // the call that first returned false; 0: none
	cancel  func()       // if set, called at the cancelAt-th call
}

const cancelAt = 5000

// push yields 0, 1, … up to n (without end if n < 0), returning at the
// first false.
func (pr *yieldProbe) push(n int, yield func(int) bool) {
	for i := 0; n < 0 || i < n; i++ {
		c := pr.calls.Add(1)
		if c == cancelAt && pr.cancel != nil {
			pr.cancel()
		}
		if !yield(i) {
			pr.falseAt.Store(c)
			return
		}
	}
}

// yieldProducers are the user functions that get a yield: each makes an
// RDD of one partition whose elements pr.push(n) produces.
func yieldProducers() map[string]func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int] {
	one := func(eng *rdd.Engine) *rdd.RDD[int] { return rdd.Parallelize(eng, []int{0}, 1) }
	return map[string]func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int]{
		"MapPartitions": func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int] {
			return rdd.MapPartitions(one(eng), func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				for range in {
					pr.push(n, yield)
				}
				return nil
			})
		},
		"ZipPartitions": func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int] {
			return rdd.ZipPartitions(one(eng), one(eng), func(_ context.Context, _ int, a, b iter.Seq[int], yield func(int) bool) error {
				pr.push(n, yield)
				return nil
			})
		},
		"ZipPartitionsN": func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int] {
			return rdd.ZipPartitionsN([]*rdd.RDD[int]{one(eng)}, func(_ context.Context, _ int, _ []iter.Seq[int], yield func(int) bool) error {
				pr.push(n, yield)
				return nil
			})
		},
		"Generate": func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int] {
			return rdd.Generate(eng, "test.Generate", 1, func(_ context.Context, _ int, yield func(int) bool) error {
				pr.push(n, yield)
				return nil
			})
		},
		"FlatMapSeq iterator": func(eng *rdd.Engine, pr *yieldProbe, n int) *rdd.RDD[int] {
			return rdd.FlatMapSeq(one(eng), func(int) iter.Seq[int] {
				return func(yield func(int) bool) { pr.push(n, yield) }
			})
		},
	}
}

// TestYieldStops checks the convention of every user function that gets a
// yield: yield returns false at the element after which the consumer wants
// no more (Take, First, IsEmpty, a MapPartitions downstream that stops
// reading), never before, so that no element is lost or given twice; it
// returns true throughout for a consumer that reads everything.
func TestYieldStops(t *testing.T) {
	const n = 100
	consumers := []struct {
		name    string
		run     func(ctx context.Context, r *rdd.RDD[int]) (any, error)
		want    any
		falseAt int64 // 0: yield never returns false
	}{
		{"Take", func(ctx context.Context, r *rdd.RDD[int]) (any, error) { return rdd.Take(ctx, r, 3) }, []int{0, 1, 2}, 3},
		{"First", func(ctx context.Context, r *rdd.RDD[int]) (any, error) { return rdd.First(ctx, r) }, 0, 1},
		{"IsEmpty", func(ctx context.Context, r *rdd.RDD[int]) (any, error) { return rdd.IsEmpty(ctx, r) }, false, 1},
		{"MapPartitions that reads two", func(ctx context.Context, r *rdd.RDD[int]) (any, error) {
			return rdd.Collect(ctx, rdd.MapPartitions(r, func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				next, stop := iter.Pull(in)
				defer stop()
				for range 2 {
					if x, ok := next(); !ok || !yield(x) {
						return nil
					}
				}
				return nil
			}))
		}, []int{0, 1}, 2},
		{"MapPartitions that breaks its loop", func(ctx context.Context, r *rdd.RDD[int]) (any, error) {
			return rdd.Collect(ctx, rdd.MapPartitions(r, func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				for x := range in {
					if !yield(x) || x == 1 {
						break
					}
				}
				return nil
			}))
		}, []int{0, 1}, 2},
		{"Collect", func(ctx context.Context, r *rdd.RDD[int]) (any, error) { return rdd.Collect(ctx, r) }, hSeq(0, n), 0},
		{"Count", func(ctx context.Context, r *rdd.RDD[int]) (any, error) { return rdd.Count(ctx, r) }, int64(n), 0},
	}
	for name, produce := range yieldProducers() {
		for _, c := range consumers {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				pr := &yieldProbe{}
				got, err := c.run(context.Background(), produce(rdd.NewEngine(), pr, n))
				if err != nil {
					t.Fatal(err)
				}
				hDiff(t, c.name, c.want, got)
				if at := pr.falseAt.Load(); at != c.falseAt {
					t.Errorf("yield first returned false at call %d, want %d (0: never)", at, c.falseAt)
				}
				want := c.falseAt
				if want == 0 {
					want = n
				}
				if calls := pr.calls.Load(); calls != want {
					t.Errorf("yield was called %d times, want %d", calls, want)
				}
			})
		}
	}
}

// TestYieldStopsOnCancel checks that yield returns false once the action's
// context is cancelled, within the engine's cancellation check interval
// (1024 elements), so that a function that would yield without end
// returns; the action then fails with the context's error, whatever the
// function returned.
func TestYieldStopsOnCancel(t *testing.T) {
	for name, produce := range yieldProducers() {
		if name == "FlatMapSeq iterator" {
			continue // one per parent element: cancellation is checked between them
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr := &yieldProbe{cancel: cancel}
			_, err := rdd.Count(ctx, produce(rdd.NewEngine(), pr, -1))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Count = %v, want context.Canceled", err)
			}
			if at := pr.falseAt.Load(); at < cancelAt || at > cancelAt+1024 {
				t.Errorf("yield first returned false at call %d, want between %d (the cancel) and %d", at, cancelAt, cancelAt+1024)
			}
		})
	}
}
