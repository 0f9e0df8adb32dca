package rdd

import (
	"container/heap"
	"context"
	"fmt"
	"iter"
	"runtime/debug"
	"slices"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// Collect runs the job and returns every element, partition by partition in
// partition order, each partition in its own order.
func Collect[T any](ctx context.Context, r *RDD[T]) ([]T, error) {
	parts, err := collectParts(ctx, "rdd.Collect", r)
	if err != nil {
		return nil, err
	}
	return slices.Concat(parts...), nil
}

// CollectPartitions runs the job and returns each partition's elements.
func CollectPartitions[T any](ctx context.Context, r *RDD[T]) ([][]T, error) {
	parts, err := collectParts(ctx, "rdd.CollectPartitions", r)
	if err != nil {
		return nil, err
	}
	for i, p := range parts {
		parts[i] = slices.Clone(p)
	}
	return parts, nil
}

// collectParts returns each partition's elements. The slices may be shared
// with the RDD (sources, shuffle outputs): callers copy them.
func collectParts[T any](ctx context.Context, action string, r *RDD[T]) ([][]T, error) {
	if r == nil {
		return nil, fmt.Errorf("%s: %w", action, validate(r))
	}
	parts := make([][]T, r.nparts)
	err := runJob(ctx, action, r, nil, func(tc *task, p int) error {
		var part []T
		s, ok, err := r.materialized(tc, p, func(t T) bool {
			part = append(part, t)
			return true
		})
		if ok {
			part = s
		}
		parts[p] = part
		return err
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}

// perPartition runs fn over every partition of r and returns each
// partition's result, in partition order.
func perPartition[T, A any](ctx context.Context, action string, r *RDD[T], fn func(tc *task, p int) (A, error)) ([]A, error) {
	if r == nil {
		return nil, fmt.Errorf("%s: %w", action, validate(r))
	}
	res := make([]A, r.nparts)
	err := runJob(ctx, action, r, nil, func(tc *task, p int) error {
		a, err := fn(tc, p)
		res[p] = a
		return err
	})
	return res, err
}

// Count returns the number of elements. If the job fails, it returns 0 and
// the error, never the count of the partitions that succeeded.
func Count[T any](ctx context.Context, r *RDD[T]) (int64, error) {
	counts, err := perPartition(ctx, "rdd.Count", r, func(tc *task, p int) (int64, error) {
		var n int64
		err := r.iter(tc, p, func(T) bool { n++; return true })
		return n, err
	})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	return total, nil
}

// Reduce combines all elements with the associative and commutative
// function f. It returns ErrEmpty (wrapped) for an RDD with no elements.
func Reduce[T any](ctx context.Context, r *RDD[T], f func(a, b T) T) (T, error) {
	var zero T
	if f == nil {
		return zero, invalid("rdd.Reduce", "nil function")
	}
	res, err := perPartition(ctx, "rdd.Reduce", r, func(tc *task, p int) (ops.Maybe[T], error) {
		var acc ops.Maybe[T]
		err := r.iter(tc, p, func(t T) bool {
			tc.cur = nil // f is the action's
			if acc.Ok {
				acc.Value = f(acc.Value, t)
			} else {
				acc = ops.Some(t)
			}
			return true
		})
		return acc, err
	})
	if err != nil {
		return zero, err
	}
	var acc ops.Maybe[T]
	err = merge("rdd.Reduce", func() {
		for _, m := range res {
			switch {
			case !m.Ok:
			case acc.Ok:
				acc.Value = f(acc.Value, m.Value)
			default:
				acc = m
			}
		}
	})
	if err != nil {
		return zero, err
	}
	if !acc.Ok {
		return zero, fmt.Errorf("rdd.Reduce: %w", ErrEmpty)
	}
	return acc.Value, nil
}

// Fold combines all elements with f, starting each partition and the final
// merge from zero (Spark's fold). zero must be neutral for f and must be a
// value, not a shared pointer, slice or map. If the job fails, it returns
// T's zero value (not zero, the fold of no elements) and the error.
func Fold[T any](ctx context.Context, r *RDD[T], zero T, f func(a, b T) T) (T, error) {
	if f == nil {
		var none T
		return none, invalid("rdd.Fold", "nil function")
	}
	return aggregate(ctx, "rdd.Fold", r, zero, f, f)
}

// Aggregate folds each partition's elements into a U with seqOp, starting
// from zero, then merges the partition results with combOp, starting from
// zero (Spark's aggregate). zero must be a value, not a shared pointer,
// slice or map. If the job fails, it returns U's zero value (not zero) and
// the error.
func Aggregate[T, U any](ctx context.Context, r *RDD[T], zero U, seqOp func(U, T) U, combOp func(U, U) U) (U, error) {
	if seqOp == nil || combOp == nil {
		var none U
		return none, invalid("rdd.Aggregate", "nil function")
	}
	return aggregate(ctx, "rdd.Aggregate", r, zero, seqOp, combOp)
}

func aggregate[T, U any](ctx context.Context, action string, r *RDD[T], zero U, seqOp func(U, T) U, combOp func(U, U) U) (U, error) {
	var none U
	res, err := perPartition(ctx, action, r, func(tc *task, p int) (U, error) {
		acc := zero
		err := r.iter(tc, p, func(t T) bool {
			tc.cur = nil // seqOp is the action's
			acc = seqOp(acc, t)
			return true
		})
		return acc, err
	})
	if err != nil {
		return none, err
	}
	acc := zero
	err = merge(action, func() {
		for _, u := range res {
			acc = combOp(acc, u)
		}
	})
	if err != nil {
		return none, err
	}
	return acc, nil
}

// Foreach calls f for every element, in parallel across partitions (so f
// must be safe for concurrent use). The first error stops the job and is
// returned as a *TaskError.
func Foreach[T any](ctx context.Context, r *RDD[T], f func(context.Context, T) error) error {
	if f == nil {
		return invalid("rdd.Foreach", "nil function")
	}
	_, err := perPartition(ctx, "rdd.Foreach", r, func(tc *task, p int) (struct{}, error) {
		var ferr error
		err := r.iter(tc, p, func(t T) bool {
			tc.cur = nil
			ferr = f(tc.ctx, t)
			return ferr == nil
		})
		if ferr != nil {
			return struct{}{}, &TaskError{Op: "rdd.Foreach", Partition: p, Err: ferr}
		}
		return struct{}{}, err
	})
	return err
}

// ForeachPartition calls f once per partition with the partition index and
// its elements as a single-use iterator, in parallel across partitions: the
// place for per-partition set-up such as a connection or a transaction. The
// first error stops the job and is returned as a *TaskError.
func ForeachPartition[T any](ctx context.Context, r *RDD[T], f func(ctx context.Context, part int, in iter.Seq[T]) error) error {
	if f == nil {
		return invalid("rdd.ForeachPartition", "nil function")
	}
	_, err := perPartition(ctx, "rdd.ForeachPartition", r, func(tc *task, p int) (struct{}, error) {
		run := newPartRun[struct{}](scope{tc, nil}, p, nil, checkCancel) // f is the action's
		return struct{}{}, run.finish(f(tc.ctx, p, in(run, r)))
	})
	return err
}

// Take returns the first n elements in partition order. Like Spark it scans
// one partition first, then more partitions at a time until it has n, and
// each task stops computing its partition once it has enough (shuffle
// stages upstream still run whole).
func Take[T any](ctx context.Context, r *RDD[T], n int) ([]T, error) {
	return take(ctx, "rdd.Take", r, n)
}

func take[T any](ctx context.Context, action string, r *RDD[T], n int) ([]T, error) {
	if r == nil {
		return nil, fmt.Errorf("%s: %w", action, validate(r))
	}
	if n <= 0 {
		if err := validate(r); err != nil {
			return nil, fmt.Errorf("%s: %w", action, err)
		}
		return []T{}, nil
	}
	out := make([]T, 0, min(n, 1024))
	err := runJobWaves(ctx, action, r, func(run runFunc) error {
		for scanned, batch := 0, 1; scanned < r.nparts && len(out) < n; batch *= 4 {
			parts := indexes(min(batch, r.nparts-scanned))
			for i := range parts {
				parts[i] += scanned
			}
			want := n - len(out)
			got := make([][]T, len(parts))
			first := scanned
			err := run(parts, func(tc *task, p int) error {
				var part []T
				err := r.iter(tc, p, func(t T) bool {
					part = append(part, t)
					return len(part) < want
				})
				got[p-first] = part
				return err
			})
			if err != nil {
				return err
			}
			for _, part := range got {
				out = append(out, part[:min(len(part), n-len(out))]...)
			}
			scanned += len(parts)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// First returns the first element, or ErrEmpty (wrapped) if there is none.
func First[T any](ctx context.Context, r *RDD[T]) (T, error) {
	var zero T
	got, err := take(ctx, "rdd.First", r, 1)
	if err != nil {
		return zero, err
	}
	if len(got) == 0 {
		return zero, fmt.Errorf("rdd.First: %w", ErrEmpty)
	}
	return got[0], nil
}

// IsEmpty reports whether the RDD has no elements. It stops at the first
// element it finds. If the job fails, it returns false and the error: a
// failure says nothing about emptiness.
func IsEmpty[T any](ctx context.Context, r *RDD[T]) (bool, error) {
	got, err := take(ctx, "rdd.IsEmpty", r, 1)
	if err != nil {
		return false, err
	}
	return len(got) == 0, nil
}

// TakeOrdered returns the n smallest elements by compare, smallest first.
// Each partition keeps only its n smallest, so memory stays O(n) per task.
func TakeOrdered[T any](ctx context.Context, r *RDD[T], n int, compare func(a, b T) int) ([]T, error) {
	return takeOrdered(ctx, "rdd.TakeOrdered", r, n, compare)
}

// Top returns the n largest elements by compare, largest first.
func Top[T any](ctx context.Context, r *RDD[T], n int, compare func(a, b T) int) ([]T, error) {
	if compare == nil {
		return nil, invalid("rdd.Top", "nil function")
	}
	return takeOrdered(ctx, "rdd.Top", r, n, func(a, b T) int { return compare(b, a) })
}

func takeOrdered[T any](ctx context.Context, action string, r *RDD[T], n int, compare func(a, b T) int) ([]T, error) {
	if compare == nil {
		return nil, invalid(action, "nil function")
	}
	if n < 0 {
		return nil, invalid(action, "n = %d < 0", n)
	}
	res, err := perPartition(ctx, action, r, func(tc *task, p int) ([]T, error) {
		h := &boundedHeap[T]{n: n, cmp: compare}
		err := r.iter(tc, p, func(t T) bool {
			tc.cur = nil // compare is the action's
			h.offer(t)
			return true
		})
		return h.items, err
	})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(res...)
	if err := merge(action, func() { slices.SortStableFunc(all, compare) }); err != nil {
		return nil, err
	}
	return all[:min(n, len(all))], nil
}

// boundedHeap keeps the n smallest items offered: a max-heap by cmp.
type boundedHeap[T any] struct {
	items []T
	n     int
	cmp   func(a, b T) int
}

// The heap.Interface methods.
func (h *boundedHeap[T]) Len() int           { return len(h.items) }
func (h *boundedHeap[T]) Less(i, j int) bool { return h.cmp(h.items[i], h.items[j]) > 0 }
func (h *boundedHeap[T]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *boundedHeap[T]) Push(x any)         { h.items = append(h.items, x.(T)) }
func (h *boundedHeap[T]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

func (h *boundedHeap[T]) offer(t T) {
	switch {
	case h.n == 0:
	case len(h.items) < h.n:
		heap.Push(h, t)
	case h.cmp(t, h.items[0]) < 0:
		h.items[0] = t
		heap.Fix(h, 0)
	}
}

// CountByKey returns how many pairs each key has, counted per partition and
// merged in the caller.
func CountByKey[K comparable, V any](ctx context.Context, r *RDD[ops.KV[K, V]]) (map[K]int64, error) {
	return countBy(ctx, "rdd.CountByKey", r, func(kv ops.KV[K, V]) K { return kv.Key })
}

// CountByValue returns how many times each element occurs.
func CountByValue[T comparable](ctx context.Context, r *RDD[T]) (map[T]int64, error) {
	return countBy(ctx, "rdd.CountByValue", r, ops.Identity[T])
}

func countBy[T any, K comparable](ctx context.Context, action string, r *RDD[T], key func(T) K) (map[K]int64, error) {
	res, err := perPartition(ctx, action, r, func(tc *task, p int) (map[K]int64, error) {
		m := map[K]int64{}
		err := r.iter(tc, p, func(t T) bool {
			m[key(t)]++
			return true
		})
		return m, err
	})
	if err != nil {
		return nil, err
	}
	total := map[K]int64{}
	for _, m := range res {
		for k, n := range m {
			total[k] += n
		}
	}
	return total, nil
}

// CollectAsMap returns the pairs as a map. When a key occurs more than once,
// the last pair in partition order wins (Spark keeps one arbitrarily).
func CollectAsMap[K comparable, V any](ctx context.Context, r *RDD[ops.KV[K, V]]) (map[K]V, error) {
	parts, err := collectParts(ctx, "rdd.CollectAsMap", r)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	m := make(map[K]V, n)
	for _, p := range parts {
		for _, kv := range p {
			m[kv.Key] = kv.Value
		}
	}
	return m, nil
}

// Lookup returns the values of key, in partition order. If the RDD has a
// partitioner over K (after a shuffle), only the key's partition is
// computed.
func Lookup[K comparable, V any](ctx context.Context, r *RDD[ops.KV[K, V]], key K) ([]V, error) {
	const action = "rdd.Lookup"
	if r == nil {
		return nil, fmt.Errorf("%s: %w", action, validate(r))
	}
	var parts []int
	if p, ok := partOf[K](&r.info); ok && p.NumPartitions() == r.nparts {
		q, err := safePartition(p, key)
		if err == nil {
			err = shuffleexec.CheckPartition(q, r.nparts, key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", action, err)
		}
		parts = []int{q}
	}
	res := make([][]V, r.nparts)
	err := runJob(ctx, action, r, parts, func(tc *task, p int) error {
		return r.iter(tc, p, func(kv ops.KV[K, V]) bool {
			if kv.Key == key {
				res[p] = append(res[p], kv.Value)
			}
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(res...), nil
}

// safePartition asks a user partitioner for key's partition outside any
// task, turning a panic into an error.
func safePartition[K any](p shuffle.Partitioner[K], key K) (q int, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Op: "rdd.Lookup", Partition: -1, Value: v, Stack: debug.Stack()}
		}
	}()
	return p.Partition(key), nil
}

// merge runs f, an action's merge of its partitions' results in the
// caller's goroutine, turning a panic in the user function it calls into a
// *PanicError of the action, outside any partition (-1).
func merge(action string, f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Op: action, Partition: -1, Value: v, Stack: debug.Stack()}
		}
	}()
	f()
	return nil
}
