package rdd_test

// Helpers shared by the tests of sources, narrow operators, actions and
// execution. Every name starts with h so that it cannot clash with the
// helpers of the wide-operator tests.

import (
	stdcmp "cmp"
	"context"
	"errors"
	"iter"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// hDeadline bounds every wait in these tests: a wait that lasts longer is a
// hang, reported as a failure instead of blocking the suite.
const hDeadline = 10 * time.Second

// hCase is one input layout: the partitions of a source RDD.
type hCase[T any] struct {
	name  string
	parts [][]T
}

// hSeq returns lo, lo+1, …, hi-1.
func hSeq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// hIntCases returns fresh int layouts covering the shapes every operator must
// handle: no partitions, only empty partitions, one partition, more
// partitions than elements, skew (one partition larger than the sources'
// cancellation check interval), zero values, and a plain mix.
func hIntCases() []hCase[int] {
	return []hCase[int]{
		{"no partitions", [][]int{}},
		{"empty partitions", [][]int{{}, {}, {}}},
		{"one partition", [][]int{{3, 1, 4, 1, 5, 9, 2, 6}}},
		{"more partitions than elements", [][]int{{}, {7}, {}, {}, {-2}, {}}},
		{"skewed", [][]int{hSeq(-1000, 2500), {}, {42}, {}}},
		{"zero values", [][]int{{0, 0}, {0, 1, 0}, {}}},
		{"mixed", [][]int{{5, -3, 8}, {2, 2, 7}, {-1, 0, 11}, {4}}},
	}
}

// hKV is the keyed element type of the keyed tests.
type hKV = ops.KV[string, int]

// hKVCases returns fresh keyed layouts, including the zero key "" and zero
// values, and repeated keys across partitions.
func hKVCases() []hCase[hKV] {
	skewed := make([]hKV, 0, 2000)
	for i := range 2000 {
		skewed = append(skewed, ops.Pair("k"+strconv.Itoa(i%7), i))
	}
	return []hCase[hKV]{
		{"no partitions", [][]hKV{}},
		{"empty partitions", [][]hKV{{}, {}}},
		{"one partition", [][]hKV{{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "a", Value: 3}}}},
		{"zero keys and values", [][]hKV{{{Key: "", Value: 0}, {Key: "a", Value: 0}}, {{Key: "", Value: 5}}, {}}},
		{"more partitions than elements", [][]hKV{{}, {{Key: "x", Value: 1}}, {}, {}, {{Key: "x", Value: 2}}}},
		{"skewed", [][]hKV{skewed, {}, {{Key: "k3", Value: -9}}}},
	}
}

// hEngines returns the engines every case runs on: the sequential path
// (parallelism 1) and the errgroup path (parallelism 4 on any machine).
func hEngines() []struct {
	name string
	eng  *rdd.Engine
} {
	return []struct {
		name string
		eng  *rdd.Engine
	}{
		{"par1", rdd.NewEngine(rdd.Parallelism(1))},
		{"par4", rdd.NewEngine(rdd.Parallelism(4))},
	}
}

// hEach runs f as a subtest for every engine and case.
func hEach[T any](t *testing.T, cases []hCase[T], f func(t *testing.T, eng *rdd.Engine, c hCase[T])) {
	t.Helper()
	for _, e := range hEngines() {
		for _, c := range cases {
			t.Run(e.name+"/"+c.name, func(t *testing.T) { f(t, e.eng, c) })
		}
	}
}

// hConcat concatenates parts with a plain loop.
func hConcat[T any](parts [][]T) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hPerPart applies ref to every partition.
func hPerPart[T, U any](parts [][]T, ref func(p int, part []T) []U) [][]U {
	out := make([][]U, len(parts))
	for p, part := range parts {
		out[p] = ref(p, part)
	}
	return out
}

// hDiff reports a difference between want and got; nil and empty slices and
// maps are equal.
func hDiff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// hCheckParts checks r's partitions against want with CollectPartitions,
// Collect (partition order kept), Count and NumPartitions.
func hCheckParts[T any](t *testing.T, r *rdd.RDD[T], want [][]T) {
	t.Helper()
	ctx := context.Background()
	if got := r.NumPartitions(); got != len(want) {
		t.Errorf("NumPartitions() = %d, want %d", got, len(want))
	}
	parts, err := rdd.CollectPartitions(ctx, r)
	if err != nil {
		t.Fatalf("CollectPartitions: %v", err)
	}
	hDiff(t, "CollectPartitions", want, parts)
	all, err := rdd.Collect(ctx, r)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	hDiff(t, "Collect", hConcat(want), all)
	n, err := rdd.Count(ctx, r)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	if want := len(hConcat(want)); n != int64(want) {
		t.Errorf("Count = %d, want %d", n, want)
	}
}

// hClone deep-copies a layout, to check later that it was not modified.
func hClone[T any](parts [][]T) [][]T {
	out := make([][]T, len(parts))
	for i, p := range parts {
		out[i] = append([]T{}, p...)
	}
	return out
}

// hGo runs f in a new goroutine and returns a channel that receives its
// result.
func hGo(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// hAwait returns the result sent on ch, failing the test if none comes
// within hDeadline.
func hAwait(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(hDeadline):
		t.Fatalf("%s did not return within %v", what, hDeadline)
		return nil
	}
}

// hWaitClosed waits for ch to be closed, failing the test after hDeadline.
func hWaitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(hDeadline):
		t.Fatalf("%s did not happen within %v", what, hDeadline)
	}
}

// hSignal is a channel closed by the first call of Fire.
type hSignal struct {
	once sync.Once
	ch   chan struct{}
}

func hNewSignal() *hSignal { return &hSignal{ch: make(chan struct{})} }

func (s *hSignal) Fire()              { s.once.Do(func() { close(s.ch) }) }
func (s *hSignal) C() <-chan struct{} { return s.ch }

// hCheckInvalid checks that err wraps rdd.ErrInvalid and names op.
func hCheckInvalid(t *testing.T, err error, op string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want one wrapping rdd.ErrInvalid from %s", op)
	}
	if !errors.Is(err, rdd.ErrInvalid) {
		t.Errorf("error %q does not wrap rdd.ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), op) {
		t.Errorf("error %q does not name %s", err, op)
	}
}

// hAction is an action over an int RDD, reduced to its error.
type hAction struct {
	name string
	run  func(ctx context.Context, r *rdd.RDD[int]) error
}

// hActions returns every action, run over an int RDD (the keyed ones over
// pairs made from it by a Map).
func hActions() []hAction {
	kv := func(r *rdd.RDD[int]) *rdd.RDD[ops.KV[int, int]] {
		return rdd.Map(r, func(x int) ops.KV[int, int] { return ops.Pair(x%3, x) })
	}
	return []hAction{
		{"rdd.Collect", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.Collect(ctx, r); return err }},
		{"rdd.CollectPartitions", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.CollectPartitions(ctx, r)
			return err
		}},
		{"rdd.Count", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.Count(ctx, r); return err }},
		{"rdd.Reduce", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Reduce(ctx, r, ops.Sum[int])
			return err
		}},
		{"rdd.Fold", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Fold(ctx, r, 0, ops.Sum[int])
			return err
		}},
		{"rdd.Aggregate", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.Aggregate(ctx, r, 0, func(n, _ int) int { return n + 1 }, ops.Sum[int])
			return err
		}},
		{"rdd.Foreach", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.Foreach(ctx, r, func(context.Context, int) error { return nil })
		}},
		{"rdd.ForeachPartition", func(ctx context.Context, r *rdd.RDD[int]) error {
			return rdd.ForeachPartition(ctx, r, func(_ context.Context, _ int, in iter.Seq[int]) error {
				for range in {
				}
				return nil
			})
		}},
		{"rdd.Take", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.Take(ctx, r, 5); return err }},
		{"rdd.First", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.First(ctx, r); return err }},
		{"rdd.IsEmpty", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.IsEmpty(ctx, r); return err }},
		{"rdd.TakeOrdered", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.TakeOrdered(ctx, r, 3, hCmpInt)
			return err
		}},
		{"rdd.Top", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.Top(ctx, r, 3, hCmpInt); return err }},
		{"rdd.CountByValue", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.CountByValue(ctx, r)
			return err
		}},
		{"rdd.CountByKey", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.CountByKey(ctx, kv(r))
			return err
		}},
		{"rdd.CollectAsMap", func(ctx context.Context, r *rdd.RDD[int]) error {
			_, err := rdd.CollectAsMap(ctx, kv(r))
			return err
		}},
		{"rdd.Lookup", func(ctx context.Context, r *rdd.RDD[int]) error { _, err := rdd.Lookup(ctx, kv(r), 1); return err }},
	}
}

// hCmpInt and hCmpString order ascending.
var (
	hCmpInt    = stdcmp.Compare[int]
	hCmpString = stdcmp.Compare[string]
)
