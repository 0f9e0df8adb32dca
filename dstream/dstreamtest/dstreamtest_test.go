package dstreamtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/rdd"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestRunMapAndFilter(t *testing.T) {
	dstreamtest.Run(t,
		[][]int{{1, 2, 3, 4}, {5}, nil, {6, 7}},
		func(s *dstream.DStream[int]) *dstream.DStream[int] {
			even := dstream.Filter(s, func(x int) bool { return x%2 == 0 })
			return dstream.Map(even, func(x int) int { return 10 * x })
		},
		[][]int{{20, 40}, nil, {}, {60}})
}

func TestRunFlatMapUnordered(t *testing.T) {
	dstreamtest.Run(t,
		[][]string{{"a b", "c a"}, {"d"}},
		func(s *dstream.DStream[string]) *dstream.DStream[string] { return dstream.FlatMap(s, strings.Fields) },
		[][]string{{"c", "a", "b", "a"}, {"d"}},
		dstreamtest.Unordered(), dstreamtest.Parallelism(3))
}

func TestRunWantsMoreBatchesThanInputs(t *testing.T) {
	got := dstreamtest.RunBatches(t, [][]int{{1}}, double, 3)
	if diff := cmp.Diff([][]int{{2}, nil, nil}, got); diff != "" {
		t.Errorf("RunBatches (-want +got):\n%s", diff)
	}
	dstreamtest.Run(t, [][]int{{1}}, double, [][]int{{2}, nil, {}})
}

func TestRunInterval(t *testing.T) {
	const d = 500 * time.Millisecond
	dstreamtest.Run(t,
		[][]int{{1}, {2}, {3}},
		func(s *dstream.DStream[int]) *dstream.DStream[int] { return dstream.Window(s, 2*d, d) },
		[][]int{{1}, {1, 2}, {2, 3}, {3}},
		dstreamtest.Interval(d), dstreamtest.Unordered())
}

func TestRunCmpOptions(t *testing.T) {
	dstreamtest.Run(t,
		[][]float64{{1, 2}},
		func(s *dstream.DStream[float64]) *dstream.DStream[float64] {
			return dstream.Map(s, func(x float64) float64 { return x / 3 })
		},
		[][]float64{{0.333, 0.667}},
		dstreamtest.CmpOptions(cmpopts.EquateApprox(0, 0.001)))
}

func TestRun2UsesOneInput(t *testing.T) {
	dstreamtest.Run2(t,
		[][]int{{1, 2}, {3}},
		[][]string{{"ignored"}},
		func(a *dstream.DStream[int], _ *dstream.DStream[string]) *dstream.DStream[string] {
			return dstream.Map(a, func(x int) string { return fmt.Sprint(x) })
		},
		[][]string{{"1", "2"}, {"3"}})
}

func TestRun2ReadsBothInputs(t *testing.T) {
	dstreamtest.Run2(t,
		[][]int{{1, 2}, nil, {3}},
		[][]string{{"x"}, {"y", "z"}},
		func(a *dstream.DStream[int], b *dstream.DStream[string]) *dstream.DStream[string] {
			// Input streams generate their batch before any output is prepared,
			// so b's RDD at t is there when a's batch at t is transformed.
			return dstream.Transform(a, func(r *rdd.RDD[int], t time.Time) *rdd.RDD[string] {
				bs, err := dstream.Slice(b, t, t)
				if err != nil {
					panic(err)
				}
				nums := rdd.Map(r, func(x int) string { return fmt.Sprint(x) })
				return rdd.Union(append([]*rdd.RDD[string]{nums}, bs...)...)
			})
		},
		[][]string{{"1", "2", "x"}, {"y", "z"}, {"3"}},
		dstreamtest.Unordered())
}

func TestReexports(t *testing.T) {
	clock := dstreamtest.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	in, q := dstreamtest.QueueStream(c, dstream.OneAtATime, []int{1})
	var mu sync.Mutex
	var got [][]int
	dstream.ForeachRDD(in, func(ctx context.Context, r *rdd.RDD[int], _ time.Time) error {
		b, err := rdd.Collect(ctx, r)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b)
		return err
	})
	q.Push([]int{2})
	d := dstreamtest.Drive(c, clock)
	defer d.Close()
	for range 2 {
		if _, err := d.Advance(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([][]int{{1}, {2}}, got); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func double(s *dstream.DStream[int]) *dstream.DStream[int] {
	return dstream.Map(s, func(x int) int { return 2 * x })
}

// fakeTB records what a helper reports. Its Fatalf ends the calling
// goroutine with runtime.Goexit, as testing's does, so the helper must run
// in a goroutine of its own (see check).
type fakeTB struct {
	testing.TB // nil: calling any other method panics
	mu         sync.Mutex
	errors     []string
	fatals     []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

// check runs helper with a fakeTB in a goroutine and returns the fake and
// whether helper returned (false when it called Fatalf).
func check(helper func(testing.TB)) (f *fakeTB, returned bool) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		helper(f)
		returned = true
	}()
	<-done
	return f, returned
}

func TestRunReportsEachDifferingBatch(t *testing.T) {
	f, returned := check(func(tb testing.TB) {
		dstreamtest.Run(tb, [][]int{{1, 2}, {3}, {4}}, double, [][]int{{2, 4}, {7}, {8}, {9}})
	})
	if !returned || len(f.fatals) != 0 {
		t.Fatalf("Run stopped the test (%q); a mismatch is an Errorf", f.fatals)
	}
	if len(f.errors) != 2 {
		t.Fatalf("Run reported %d errors, want 2 (batches 2 and 4): %q", len(f.errors), f.errors)
	}
	for i, want := range []string{"batch 2 (time 2026-01-01T00:00:02Z)", "batch 4 (time 2026-01-01T00:00:04Z)"} {
		if !strings.Contains(f.errors[i], want) || !strings.Contains(f.errors[i], "(-want +got)") {
			t.Errorf("error %d = %q, want it to contain %q and a diff", i, f.errors[i], want)
		}
	}
}

func TestRunComparesInOrderByDefault(t *testing.T) {
	swapped := [][]string{{"b", "a"}}
	flat := func(s *dstream.DStream[string]) *dstream.DStream[string] { return dstream.FlatMap(s, strings.Fields) }
	f, _ := check(func(tb testing.TB) { dstreamtest.Run(tb, [][]string{{"a b"}}, flat, swapped) })
	if len(f.errors) != 1 || !strings.Contains(f.errors[0], "batch 1 ") {
		t.Errorf("ordered Run of a reordered batch reported %q, want one error for batch 1", f.errors)
	}
	f, _ = check(func(tb testing.TB) {
		dstreamtest.Run(tb, [][]string{{"a b"}}, flat, [][]string{{"a", "b", "b"}}, dstreamtest.Unordered())
	})
	if len(f.errors) != 1 || !strings.Contains(f.errors[0], "batch 1 ") {
		t.Errorf("unordered Run with a missing element reported %q, want one error for batch 1", f.errors)
	}
}

func TestRunFatal(t *testing.T) {
	tests := []struct {
		name string
		run  func(testing.TB)
		want string
	}{
		{"nil stream", func(tb testing.TB) {
			dstreamtest.Run(tb, [][]int{{1}}, func(*dstream.DStream[int]) *dstream.DStream[int] { return nil }, nil)
		}, "nil stream"},
		{"nil op", func(tb testing.TB) {
			dstreamtest.Run[int, int](tb, [][]int{{1}}, nil, nil)
		}, "nil op"},
		{"nil op2", func(tb testing.TB) {
			dstreamtest.Run2[int, int, int](tb, [][]int{{1}}, nil, nil, nil)
		}, "nil op"},
		{"invalid graph", func(tb testing.TB) {
			dstreamtest.Run(tb, [][]int{{1}}, func(s *dstream.DStream[int]) *dstream.DStream[int] {
				return dstream.Map[int, int](s, nil)
			}, [][]int{{1}})
		}, "dstream.Map: invalid argument"},
		{"failing batch", func(tb testing.TB) {
			dstreamtest.Run2(tb, [][]int{{1}, {2}}, [][]int{{3}}, func(a, _ *dstream.DStream[int]) *dstream.DStream[int] {
				return dstream.Transform(a, func(r *rdd.RDD[int], _ time.Time) *rdd.RDD[int] {
					return rdd.Map(r, func(x int) int {
						if x == 2 {
							panic("two")
						}
						return x
					})
				})
			}, [][]int{{1}, {2}})
		}, "dstreamtest: Run: dstream: batch 2026-01-01T00:00:02Z"},
		{"bad interval", func(tb testing.TB) {
			dstreamtest.Run(tb, [][]int{{1}}, double, nil, dstreamtest.Interval(0))
		}, "dstreamtest: invalid argument: Interval(0s), want > 0"},
		{"bad parallelism", func(tb testing.TB) {
			dstreamtest.RunBatches(tb, [][]int{{1}}, double, 1, dstreamtest.Parallelism(0))
		}, "dstreamtest: invalid argument: Parallelism(0), want at least 1"},
		{"a clock in ContextOptions", func(tb testing.TB) {
			dstreamtest.Run(tb, [][]int{{1}}, double, nil, dstreamtest.ContextOptions(dstream.WithClock(dstream.RealClock())))
		}, "the Driver's manual clock is the Context's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, returned := check(tt.run)
			if returned {
				t.Errorf("the helper returned after Fatalf")
			}
			if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], tt.want) {
				t.Errorf("Fatalf calls = %q, want one containing %q", f.fatals, tt.want)
			}
			if len(f.errors) != 0 {
				t.Errorf("Errorf calls = %q, want none", f.errors)
			}
		})
	}
}

func TestDriverOutputIsThereWhenStepReturns(t *testing.T) {
	d := dstreamtest.NewDriver(dstreamtest.Parallelism(3))
	defer d.Close()
	in, q := dstreamtest.Input(d.Context(), []int{1, 2})
	out := dstreamtest.Collect(dstream.Map(in, func(x int) int { return 10 * x }))
	for k, want := range [][]int{{10, 20}, nil, {30}} {
		if k == 2 {
			q.Push([]int{3})
		}
		b, err := d.Step()
		if err != nil {
			t.Fatalf("Step %d: %v", k+1, err)
		}
		bt := b.Time
		if wantT := epoch.Add(time.Duration(k+1) * time.Second); !bt.Equal(wantT) {
			t.Errorf("Step %d returned %v, want %v", k+1, bt, wantT)
		}
		if diff := cmp.Diff(want, out.At(bt), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", k+1, diff)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestDriverStepReportsTheFailedBatch(t *testing.T) {
	d := dstreamtest.NewDriver()
	defer d.Close()
	in, _ := dstreamtest.Input(d.Context(), []int{1}, []int{2})
	dstream.ForeachRDD(in, func(ctx context.Context, r *rdd.RDD[int], _ time.Time) error {
		xs, err := rdd.Collect(ctx, r)
		if err == nil && len(xs) == 1 && xs[0] == 2 {
			err = errors.New("two")
		}
		return err
	})
	if _, err := d.Step(); err != nil {
		t.Fatalf("Step 1: %v", err)
	}
	_, err := d.Step()
	var be *dstream.BatchError
	if !errors.As(err, &be) || !be.Time.Equal(epoch.Add(2*time.Second)) {
		t.Fatalf("Step 2 = %v, want the *dstream.BatchError of batch 2", err)
	}
	if _, err := d.Step(); err == nil {
		t.Errorf("Step after a failed batch succeeded, want an error")
	}
}

// A Context built elsewhere (here as dstream.GetOrCreate would) is driven
// the same way.
func TestDrive(t *testing.T) {
	clock := dstreamtest.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(2*time.Second), dstream.WithClock(clock))
	in, _ := dstreamtest.Input(c, []string{"x"})
	out := dstreamtest.Collect(in)
	d := dstreamtest.Drive(c, clock)
	defer d.Close()
	b, err := d.Step()
	if err != nil {
		t.Fatal(err)
	}
	bt := b.Time
	if got := out.At(bt); !bt.Equal(clock.Now()) || len(got) != 1 {
		t.Errorf("batch %v (clock %v) = %q, want [x] at the clock's time", bt, clock.Now(), got)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
}

// batchCounter counts the completed batches.
type batchCounter struct {
	dstream.BaseListener
	mu sync.Mutex
	n  int
}

func (l *batchCounter) OnBatchCompleted(dstream.BatchInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
}

func TestContextOptions(t *testing.T) {
	l := &batchCounter{}
	dstreamtest.Run(t, [][]int{{1}, {2}, {3}}, double, [][]int{{2}, {4}, {6}},
		dstreamtest.ContextOptions(dstream.WithListener(l)))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n != 3 {
		t.Errorf("the listener of ContextOptions heard %d batches, want 3", l.n)
	}
}
