package rdd

import (
	"context"
	"math"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// Parallelize returns an RDD over data split into n contiguous partitions of
// near-equal size (0: the engine's parallelism; a negative n is invalid; a nil
// engine: Default).
// Like Spark's parallelize it does not copy data: changes made to the slice
// before an action are seen by the action, so do not modify it while the
// RDD is in use.
func Parallelize[T any](e *Engine, data []T, n int) *RDD[T] {
	e = orDefault(e)
	if n < 0 {
		return newRDD[T]("rdd.Parallelize", e, 0).fail(invalid("rdd.Parallelize", "partition count %d < 0", n))
	}
	if n == 0 {
		n = e.parallelism
	}
	parts := make([][]T, n)
	for i := range n {
		parts[i] = data[i*len(data)/n : (i+1)*len(data)/n]
	}
	r := FromPartitions(e, parts)
	r.name = "rdd.Parallelize"
	return r
}

// FromPartitions returns an RDD whose partition i is parts[i]. Like
// Parallelize it does not copy the slices.
func FromPartitions[T any](e *Engine, parts [][]T) *RDD[T] {
	r := newRDD[T]("rdd.FromPartitions", e, len(parts))
	r.setWhole(func(_ *task, p int) ([]T, error) { return parts[p], nil })
	return r
}

// Generate returns an RDD of n partitions whose partition p is produced by f:
// a source that reads an external system, as a custom RDD's compute does in
// Spark (the Kafka streams read one offset range per partition this way).
// f gets the action's context and the partition index, and calls yield for
// each element in order, returning as soon as yield returns false (the
// consumer needs no more, as under Take, or the action is cancelled). An
// error from f fails the job as a *TaskError naming the partition; a
// cancelled action fails with the context's error. name names the RDD in
// errors and in DebugString, e.g. "kafka.DirectStream".
func Generate[T any](e *Engine, name string, n int, f func(ctx context.Context, part int, yield func(T) bool) error) *RDD[T] {
	r := newRDD[T](name, e, max(n, 0))
	if n < 0 {
		return r.fail(invalid(name, "partition count %d < 0", n))
	}
	if f == nil {
		return r.fail(invalid(name, "nil function"))
	}
	me := &r.info
	r.compute = func(tc *task, p int, yield func(T) bool) error {
		run := newPartRun(scope{tc, me}, p, yield, checkCancel)
		return run.finish(f(tc.ctx, p, run.yield))
	}
	return r
}

// GeneratePartitioned is Generate for a source whose pairs are already
// placed by a partitioner: the RDD has p.NumPartitions() partitions, f
// yields partition q's pairs, and the RDD's Partitioner is p, so keyed
// operators over it with an equal partitioner (their default) do not
// shuffle. f must yield only pairs whose key p places in q: the RDD does not
// check it (the Kafka keyed stream, which uses this, checks each record's
// placement itself). Spark has no public equivalent; its sources that know
// their placement (a ShuffledRDD read back) set their partitioner this way.
func GeneratePartitioned[K comparable, V any](e *Engine, name string, p shuffle.Partitioner[K], f func(ctx context.Context, part int, yield func(ops.KV[K, V]) bool) error) *RDD[ops.KV[K, V]] {
	if p == nil {
		return newRDD[ops.KV[K, V]](name, e, 0).fail(invalid(name, "nil partitioner"))
	}
	r := Generate(e, name, p.NumPartitions(), f)
	r.part = p
	return r
}

// Empty returns an RDD with no partitions and no elements.
func Empty[T any](e *Engine) *RDD[T] {
	r := newRDD[T]("rdd.Empty", e, 0)
	r.compute = func(*task, int, func(T) bool) error { return nil }
	return r
}

// Range returns the RDD of start, start+step, start+2·step, … up to but
// excluding end (Spark's sc.range), in n partitions of contiguous values
// (0: the engine's parallelism; a negative n is invalid). step must not be 0; a negative step
// counts down. The range may not hold more than math.MaxInt64 values.
func Range(e *Engine, start, end, step int64, n int) *RDD[int64] {
	e = orDefault(e)
	if n < 0 {
		return newRDD[int64]("rdd.Range", e, 0).fail(invalid("rdd.Range", "partition count %d < 0", n))
	}
	if n == 0 {
		n = e.parallelism
	}
	r := newRDD[int64]("rdd.Range", e, n)
	if step == 0 {
		return r.fail(invalid(r.name, "step is 0"))
	}
	// count = ⌈|end-start| / |step|⌉, in uint64 so that no difference
	// overflows; the values themselves are computed modulo 2⁶⁴ below, which
	// gives the right int64 since every value lies between start and end.
	var count uint64
	switch {
	case step > 0 && end > start:
		count = (uint64(end)-uint64(start)-1)/uint64(step) + 1
	case step < 0 && end < start:
		count = (uint64(start)-uint64(end)-1)/-uint64(step) + 1
	}
	if count > math.MaxInt64 {
		return r.fail(invalid(r.name, "range [%d, %d) step %d has more than %d values", start, end, step, int64(math.MaxInt64)))
	}
	r.compute = func(tc *task, p int, yield func(int64) bool) error {
		q, rem := int64(count)/int64(n), int64(count)%int64(n)
		lo := q*int64(p) + min(int64(p), rem)
		hi := lo + q
		if int64(p) < rem {
			hi++
		}
		for i := lo; i < hi; i++ {
			if err := tc.tick(); err != nil {
				return err
			}
			if !yield(start + i*step) {
				return nil
			}
		}
		return nil
	}
	return r
}
