package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// hCheckBalanced checks that parts are near-equal: their sizes differ by at
// most one.
func hCheckBalanced[T any](t *testing.T, parts [][]T) {
	t.Helper()
	lo, hi := math.MaxInt, -1
	for _, p := range parts {
		lo, hi = min(lo, len(p)), max(hi, len(p))
	}
	if len(parts) > 0 && hi-lo > 1 {
		t.Errorf("partition sizes range from %d to %d, want near-equal", lo, hi)
	}
}

func TestParallelize(t *testing.T) {
	ctx := context.Background()
	for _, e := range hEngines() {
		for _, size := range []int{0, 1, 3, 10, 1000, 3001} {
			for _, n := range []int{1, 2, 3, 7, 16} {
				t.Run(fmt.Sprintf("%s/len%d/n%d", e.name, size, n), func(t *testing.T) {
					data := make([]int, size)
					for i := range data {
						data[i] = i * 7 % 5 // many zeros and repeats
					}
					want := append([]int{}, data...)
					r := rdd.Parallelize(e.eng, data, n)
					if r.Name() != "rdd.Parallelize" {
						t.Errorf("Name() = %q", r.Name())
					}
					if r.Engine() != e.eng {
						t.Errorf("Engine() is not the engine given")
					}
					if r.Err() != nil {
						t.Errorf("Err() = %v", r.Err())
					}
					if r.NumPartitions() != n {
						t.Errorf("NumPartitions() = %d, want %d", r.NumPartitions(), n)
					}
					parts, err := rdd.CollectPartitions(ctx, r)
					if err != nil {
						t.Fatal(err)
					}
					if len(parts) != n {
						t.Fatalf("got %d partitions, want %d", len(parts), n)
					}
					// Contiguous split: concatenating the partitions in order gives
					// the input back.
					hDiff(t, "concatenated partitions", want, hConcat(parts))
					hCheckBalanced(t, parts)
					got, err := rdd.Collect(ctx, r)
					if err != nil {
						t.Fatal(err)
					}
					hDiff(t, "Collect", want, got)
				})
			}
		}
	}
}

func TestParallelizeDefaultPartitions(t *testing.T) {
	eng := rdd.NewEngine(rdd.Parallelism(3))
	// 0 partitions: the parallelism (a negative count is invalid:
	// TestNegativeSourcePartitions).
	if got := rdd.Parallelize(eng, hSeq(0, 10), 0).NumPartitions(); got != 3 {
		t.Errorf("Parallelize(n=0).NumPartitions() = %d, want the parallelism 3", got)
	}
	if got := rdd.Range(eng, 0, 10, 1, 0).NumPartitions(); got != 3 {
		t.Errorf("Range(n=0).NumPartitions() = %d, want the parallelism 3", got)
	}
	// A nil engine means the default one.
	r := rdd.Parallelize(nil, []string{"", "a"}, 0)
	if r.Engine() != rdd.Default() {
		t.Errorf("Parallelize(nil engine).Engine() is not rdd.Default()")
	}
	if got, want := r.NumPartitions(), rdd.Default().Parallelism(); got != want {
		t.Errorf("NumPartitions() = %d, want the default parallelism %d", got, want)
	}
	got, err := rdd.Collect(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	hDiff(t, "Collect", []string{"", "a"}, got)
}

func TestParallelizeDoesNotCopy(t *testing.T) {
	data := []int{1, 2, 3}
	r := rdd.Parallelize(rdd.NewEngine(), data, 2)
	data[0] = 100 // documented: seen by later actions
	got, err := rdd.Collect(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	hDiff(t, "Collect", []int{100, 2, 3}, got)
	// ... but the results of actions are the caller's own.
	got[1] = -5
	parts, err := rdd.CollectPartitions(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	parts[1][0] = -6
	hDiff(t, "input after modifying results", []int{100, 2, 3}, data)
}

func TestFromPartitions(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		orig := hClone(c.parts)
		r := rdd.FromPartitions(eng, c.parts)
		if r.Name() != "rdd.FromPartitions" {
			t.Errorf("Name() = %q", r.Name())
		}
		hCheckParts(t, r, orig)
		hDiff(t, "input after actions", orig, c.parts)
	})
	t.Run("nil", func(t *testing.T) {
		r := rdd.FromPartitions[string](nil, nil)
		if r.Engine() != rdd.Default() {
			t.Errorf("Engine() is not rdd.Default()")
		}
		hCheckParts(t, r, [][]string{})
	})
	t.Run("zero strings", func(t *testing.T) {
		hCheckParts(t, rdd.FromPartitions(rdd.NewEngine(), [][]string{{"", ""}, {}, {"x", ""}}), [][]string{{"", ""}, {}, {"x", ""}})
	})
}

func TestEmpty(t *testing.T) {
	ctx := context.Background()
	for _, e := range hEngines() {
		t.Run(e.name, func(t *testing.T) {
			r := rdd.Empty[int](e.eng)
			if r.Name() != "rdd.Empty" || r.Err() != nil {
				t.Errorf("Name() = %q, Err() = %v", r.Name(), r.Err())
			}
			hCheckParts(t, r, [][]int{})
			if empty, err := rdd.IsEmpty(ctx, r); err != nil || !empty {
				t.Errorf("IsEmpty = %v, %v; want true, nil", empty, err)
			}
			if got, err := rdd.Take(ctx, r, 3); err != nil || len(got) != 0 {
				t.Errorf("Take = %v, %v; want [], nil", got, err)
			}
			if _, err := rdd.First(ctx, r); !errors.Is(err, rdd.ErrEmpty) {
				t.Errorf("First error = %v, want rdd.ErrEmpty", err)
			}
			if _, err := rdd.Reduce(ctx, r, func(a, b int) int { return a + b }); !errors.Is(err, rdd.ErrEmpty) {
				t.Errorf("Reduce error = %v, want rdd.ErrEmpty", err)
			}
			if got, err := rdd.Fold(ctx, r, 0, func(a, b int) int { return a + b }); err != nil || got != 0 {
				t.Errorf("Fold = %v, %v; want 0, nil", got, err)
			}
			if got := rdd.Empty[string](nil).Engine(); got != rdd.Default() {
				t.Errorf("Empty(nil).Engine() is not rdd.Default()")
			}
		})
	}
}

// hRangeRef is the Range reference: a plain loop that stops on overflow.
func hRangeRef(start, end, step int64) []int64 {
	out := []int64{}
	for v := start; (step > 0 && v < end) || (step < 0 && v > end); {
		out = append(out, v)
		next := v + step
		if (step > 0 && next < v) || (step < 0 && next > v) {
			break // the next value is past the int64 range, so past end
		}
		v = next
	}
	return out
}

func TestRange(t *testing.T) {
	const (
		maxI = math.MaxInt64
		minI = math.MinInt64
	)
	tests := []struct {
		start, end, step int64
		n                int
	}{
		{0, 10, 1, 3},
		{0, 10, 3, 2},
		{10, 0, -3, 2},
		{5, 5, 1, 2},
		{0, 10, -1, 2},
		{10, 0, 1, 2},
		{-5, 5, 2, 4},
		{0, 3, 1, 8},
		{0, 5000, 1, 3},
		{-1, 0, 1, 1},
		{0, 1, 100, 1},
		{maxI - 10, maxI, 3, 2},
		{minI, minI + 10, 4, 3},
		{minI + 5, minI, -2, 1},
		{0, maxI, 1 << 62, 2},
		{minI, maxI, 1 << 62, 3},
		{maxI, minI, -(1 << 62), 2},
		{0, minI, minI, 1},
		{maxI, minI, minI, 2},
		{0, maxI, maxI, 2},
	}
	for _, e := range hEngines() {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d,%d,%d,n%d", e.name, tt.start, tt.end, tt.step, tt.n), func(t *testing.T) {
				r := rdd.Range(e.eng, tt.start, tt.end, tt.step, tt.n)
				if err := r.Err(); err != nil {
					t.Fatalf("Err() = %v", err)
				}
				if r.Name() != "rdd.Range" || r.NumPartitions() != tt.n {
					t.Errorf("Name() = %q, NumPartitions() = %d", r.Name(), r.NumPartitions())
				}
				parts, err := rdd.CollectPartitions(context.Background(), r)
				if err != nil {
					t.Fatal(err)
				}
				want := hRangeRef(tt.start, tt.end, tt.step)
				hDiff(t, "concatenated partitions", want, hConcat(parts))
				hCheckBalanced(t, parts)
				if n, err := rdd.Count(context.Background(), r); err != nil || n != int64(len(want)) {
					t.Errorf("Count = %d, %v; want %d", n, err, len(want))
				}
			})
		}
	}
}

func TestRangeInvalid(t *testing.T) {
	for _, r := range []*rdd.RDD[int64]{
		rdd.Range(rdd.NewEngine(), 0, 10, 0, 2),
		rdd.Range(rdd.NewEngine(), 0, 0, 0, 1),
		rdd.Range(rdd.NewEngine(), math.MinInt64, math.MaxInt64, 1, 2), // 2⁶⁴-1 values
	} {
		hCheckInvalid(t, r.Err(), "rdd.Range")
		_, err := rdd.Collect(context.Background(), r)
		hCheckInvalid(t, err, "rdd.Range")
		hCheckInvalid(t, err, "rdd.Collect")
	}
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	// Partition p holds p copies of p.
	gen := rdd.Generate(rdd.NewEngine(), "test.Gen", 4, func(_ context.Context, p int, yield func(int) bool) error {
		for range p {
			if !yield(p) {
				return nil
			}
		}
		return nil
	})
	hCheckParts(t, gen, [][]int{nil, {1}, {2, 2}, {3, 3, 3}})
	if gen.Name() != "test.Gen" {
		t.Errorf("Name() = %q", gen.Name())
	}

	// Take stops the function early.
	var produced atomic.Int64
	endless := rdd.Generate(rdd.NewEngine(), "test.Endless", 1, func(_ context.Context, _ int, yield func(int) bool) error {
		for i := 0; ; i++ {
			produced.Add(1)
			if !yield(i) {
				return nil
			}
		}
	})
	got, err := rdd.Take(ctx, endless, 3)
	if err != nil {
		t.Fatal(err)
	}
	hDiff(t, "Take", []int{0, 1, 2}, got)

	// Cancellation ends an endless source.
	cctx, cancel := context.WithCancel(ctx)
	counting := rdd.Generate(rdd.NewEngine(), "test.Endless", 1, func(_ context.Context, _ int, yield func(int) bool) error {
		for i := 0; ; i++ {
			if i == 5000 {
				cancel()
			}
			if !yield(i) {
				return nil
			}
		}
	})
	if _, err := rdd.Count(cctx, counting); !errors.Is(err, context.Canceled) {
		t.Errorf("Count after cancel = %v, want context.Canceled", err)
	}

	// Errors name the RDD and the partition; bad arguments are construction errors.
	boom := errors.New("boom")
	failing := rdd.Generate(rdd.NewEngine(), "test.Failing", 3, func(_ context.Context, p int, _ func(int) bool) error {
		if p == 2 {
			return boom
		}
		return nil
	})
	_, err = rdd.Collect(ctx, failing)
	var te *rdd.TaskError
	if !errors.As(err, &te) || te.Op != "test.Failing" || te.Partition != 2 || !errors.Is(err, boom) {
		t.Errorf("Collect = %v, want a *TaskError from test.Failing, partition 2, wrapping boom", err)
	}
	_, err = rdd.Collect(ctx, rdd.Generate[int](rdd.NewEngine(), "test.Nil", 1, nil))
	hCheckInvalid(t, err, "test.Nil")
	_, err = rdd.Collect(ctx, rdd.Generate(rdd.NewEngine(), "test.Neg", -1, func(context.Context, int, func(int) bool) error { return nil }))
	hCheckInvalid(t, err, "test.Neg")
}

// GeneratePartitioned's RDD is partitioned by its partitioner: a keyed operator
// with that partitioner (its default) does not shuffle, and keeps it.
func TestGeneratePartitioned(t *testing.T) {
	ctx := context.Background()
	p := shuffle.NewHash[int](3)
	gen := rdd.GeneratePartitioned(rdd.NewEngine(), "test.Placed", p, func(_ context.Context, q int, yield func(ops.KV[int, int]) bool) error {
		for k := range 30 {
			if p.Partition(k) == q && !yield(ops.Pair(k, 1)) {
				return nil
			}
		}
		return nil
	})
	if wPart(gen) != any(p) || gen.NumPartitions() != 3 {
		t.Fatalf("partitioner %v over %d partitions, want the given one over 3", wPart(gen), gen.NumPartitions())
	}
	sums := rdd.ReduceByKey(rdd.MapValues(gen, func(v int) int { return 2 * v }), ops.Sum[int])
	if strings.Contains(sums.DebugString(), "+-") {
		t.Errorf("ReduceByKey shuffled a partitioned input:\n%s", sums.DebugString())
	}
	parts, err := rdd.CollectPartitions(ctx, sums)
	if err != nil {
		t.Fatal(err)
	}
	for q, kvs := range parts {
		for _, kv := range kvs {
			if p.Partition(kv.Key) != q || kv.Value != 2 {
				t.Errorf("partition %d holds %v", q, kv)
			}
		}
	}
	bad := rdd.GeneratePartitioned[int, int](rdd.NewEngine(), "test.Nil", nil, nil)
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "nil partitioner") {
		t.Errorf("nil partitioner: %v", err)
	}
}
