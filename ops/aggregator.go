package ops

import "cmp"

// Aggregator is the shape of a per-key aggregation with map-side combine, as
// in Spark's combineByKey: Create turns the first value seen for a key in a
// partition into a combiner, MergeValue folds a further value into it, and
// MergeCombiners merges two combiners built in different partitions.
//
// MergeValue and MergeCombiners may modify and return their first argument
// (for example append to a slice) but must not keep a reference to their
// second argument's internals unless it is theirs to keep.
type Aggregator[V, C any] struct {
	Create         func(v V) C
	MergeValue     func(c C, v V) C
	MergeCombiners func(a, b C) C
}

// Valid reports whether all three functions are set.
func (a Aggregator[V, C]) Valid() bool {
	return a.Create != nil && a.MergeValue != nil && a.MergeCombiners != nil
}

// Reducing returns the Aggregator of a reduce function f (ReduceByKey): the
// combiner is the value itself.
func Reducing[V any](f func(a, b V) V) Aggregator[V, V] {
	return Aggregator[V, V]{Create: Identity[V], MergeValue: f, MergeCombiners: f}
}

// Folding returns the Aggregator of AggregateByKey: each key starts from
// zero, seqOp folds in a value and combOp merges partial results. zero must
// be a value (not a shared pointer or slice) because every key starts from a
// copy of it.
func Folding[V, U any](zero U, seqOp func(U, V) U, combOp func(U, U) U) Aggregator[V, U] {
	return Aggregator[V, U]{
		Create:         func(v V) U { return seqOp(zero, v) },
		MergeValue:     seqOp,
		MergeCombiners: combOp,
	}
}

// Count returns the Aggregator that counts the values of a key.
func Count[V any]() Aggregator[V, int64] {
	return Aggregator[V, int64]{
		Create:         One[V],
		MergeValue:     func(c int64, _ V) int64 { return c + 1 },
		MergeCombiners: Sum[int64],
	}
}

// Grouping returns the Aggregator that collects the values of a key into a
// slice, in the order they are seen (GroupByKey).
func Grouping[V any]() Aggregator[V, []V] {
	return Aggregator[V, []V]{
		Create:     func(v V) []V { return []V{v} },
		MergeValue: func(c []V, v V) []V { return append(c, v) },
		// Merging copies: a may be read again if a partition is recomputed.
		MergeCombiners: func(a, b []V) []V { return append(a[:len(a):len(a)], b...) },
	}
}

// SumCount is the combiner of [Mean]: a running sum and count.
type SumCount[N Number] struct {
	Sum   N
	Count int64
}

// Mean returns the value's arithmetic mean, or 0 when Count is 0.
func (s SumCount[N]) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.Count)
}

// Mean returns the Aggregator that keeps a key's sum and count, from which
// [SumCount.Mean] gives the average.
func Mean[N Number]() Aggregator[N, SumCount[N]] {
	return Aggregator[N, SumCount[N]]{
		Create:     func(v N) SumCount[N] { return SumCount[N]{Sum: v, Count: 1} },
		MergeValue: func(c SumCount[N], v N) SumCount[N] { return SumCount[N]{Sum: c.Sum + v, Count: c.Count + 1} },
		MergeCombiners: func(a, b SumCount[N]) SumCount[N] {
			return SumCount[N]{Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
		},
	}
}

// MinOf returns the Aggregator that keeps a key's smallest value.
func MinOf[T cmp.Ordered]() Aggregator[T, T] { return Reducing(Min[T]) }

// MaxOf returns the Aggregator that keeps a key's largest value.
func MaxOf[T cmp.Ordered]() Aggregator[T, T] { return Reducing(Max[T]) }
