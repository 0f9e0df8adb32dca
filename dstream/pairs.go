package dstream

import (
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// ReduceByKey merges the values of each key in every batch with the
// associative and commutative function f (rdd.ReduceByKey per batch, with
// opts): one pair per key present in the batch.
func ReduceByKey[K comparable, V any](s *DStream[ops.KV[K, V]], f func(a, b V) V, opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, V]] {
	checkFn(s, "dstream.ReduceByKey", f == nil)
	checkShuffle(s, "dstream.ReduceByKey", opts)
	return derive("dstream.ReduceByKey", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, V]] {
		return rdd.ReduceByKey(r, f, opts...)
	})
}

// MapValues applies f to the value of every pair, keys unchanged
// (rdd.MapValues per batch). It keeps the batch's partitioner: over a keyed
// stream (kafka.Keyed), the stateful operators after it still work per task.
func MapValues[K comparable, V, W any](s *DStream[ops.KV[K, V]], f func(V) W) *DStream[ops.KV[K, W]] {
	checkFn(s, "dstream.MapValues", f == nil)
	return derive("dstream.MapValues", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, W]] {
		return rdd.MapValues(r, f)
	})
}

// FlatMapValues pairs each key with every value f returns for its value
// (rdd.FlatMapValues per batch). It keeps the batch's partitioner, as
// MapValues does.
func FlatMapValues[K comparable, V, W any](s *DStream[ops.KV[K, V]], f func(V) []W) *DStream[ops.KV[K, W]] {
	checkFn(s, "dstream.FlatMapValues", f == nil)
	return derive("dstream.FlatMapValues", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, W]] {
		return rdd.FlatMapValues(r, f)
	})
}

// Keys returns the keys of every batch's pairs (rdd.Keys per batch), one per
// pair: a key twice in a batch comes twice. Spark's DStream has no keys; it is
// its transform(_.keys).
func Keys[K comparable, V any](s *DStream[ops.KV[K, V]]) *DStream[K] {
	return derive("dstream.Keys", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[K] { return rdd.Keys(r) })
}

// Values returns the values of every batch's pairs (rdd.Values per batch).
// Spark's DStream has no values; it is its transform(_.values).
func Values[K comparable, V any](s *DStream[ops.KV[K, V]]) *DStream[V] {
	return derive("dstream.Values", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[V] { return rdd.Values(r) })
}

// GroupByKey collects the values of each key in every batch into a slice
// (rdd.GroupByKey per batch, with opts).
func GroupByKey[K comparable, V any](s *DStream[ops.KV[K, V]], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, []V]] {
	checkShuffle(s, "dstream.GroupByKey", opts)
	return derive("dstream.GroupByKey", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, []V]] {
		return rdd.GroupByKey(r, opts...)
	})
}

// CombineByKey aggregates the values of each key in every batch with agg
// (rdd.CombineByKey per batch, with opts). An aggregator with a nil
// function is a construction error reported by Run.
func CombineByKey[K comparable, V, C any](s *DStream[ops.KV[K, V]], agg ops.Aggregator[V, C], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, C]] {
	checkFn(s, "dstream.CombineByKey", !agg.Valid())
	checkShuffle(s, "dstream.CombineByKey", opts)
	return derive("dstream.CombineByKey", s, func(r *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, C]] {
		return rdd.CombineByKey(r, agg, opts...)
	})
}

// Join returns, for every batch time, the pairs of values of each key
// present in both streams' batches (rdd.Join per batch, with opts). The
// streams must belong to the same Context.
func Join[K comparable, V, W any](a *DStream[ops.KV[K, V]], b *DStream[ops.KV[K, W]], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, ops.Joined[V, W]]] {
	checkShuffle2(a, b, "dstream.Join", opts)
	return derive2("dstream.Join", a, b, func(ra *rdd.RDD[ops.KV[K, V]], rb *rdd.RDD[ops.KV[K, W]], _ time.Time) *rdd.RDD[ops.KV[K, ops.Joined[V, W]]] {
		return rdd.Join(ra, rb, opts...)
	})
}

// LeftOuterJoin returns, for every batch time, each value of a's batch
// with each matching value of b's batch, or None when b's batch lacks the
// key (rdd.LeftOuterJoin per batch, with opts). The streams must belong to
// the same Context.
func LeftOuterJoin[K comparable, V, W any](a *DStream[ops.KV[K, V]], b *DStream[ops.KV[K, W]], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, ops.Joined[V, ops.Maybe[W]]]] {
	checkShuffle2(a, b, "dstream.LeftOuterJoin", opts)
	return derive2("dstream.LeftOuterJoin", a, b, func(ra *rdd.RDD[ops.KV[K, V]], rb *rdd.RDD[ops.KV[K, W]], _ time.Time) *rdd.RDD[ops.KV[K, ops.Joined[V, ops.Maybe[W]]]] {
		return rdd.LeftOuterJoin(ra, rb, opts...)
	})
}

// RightOuterJoin returns, for every batch time, each value of b's batch
// with each matching value of a's batch, or None when a's batch lacks the
// key (rdd.RightOuterJoin per batch, with opts). The streams must belong to
// the same Context.
func RightOuterJoin[K comparable, V, W any](a *DStream[ops.KV[K, V]], b *DStream[ops.KV[K, W]], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, ops.Joined[ops.Maybe[V], W]]] {
	checkShuffle2(a, b, "dstream.RightOuterJoin", opts)
	return derive2("dstream.RightOuterJoin", a, b, func(ra *rdd.RDD[ops.KV[K, V]], rb *rdd.RDD[ops.KV[K, W]], _ time.Time) *rdd.RDD[ops.KV[K, ops.Joined[ops.Maybe[V], W]]] {
		return rdd.RightOuterJoin(ra, rb, opts...)
	})
}

// FullOuterJoin returns, for every batch time, the pairs of values of each
// key present in either stream's batch, with None for the side that lacks
// it (rdd.FullOuterJoin per batch, with opts). The streams must belong to
// the same Context.
func FullOuterJoin[K comparable, V, W any](a *DStream[ops.KV[K, V]], b *DStream[ops.KV[K, W]], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, ops.Joined[ops.Maybe[V], ops.Maybe[W]]]] {
	checkShuffle2(a, b, "dstream.FullOuterJoin", opts)
	return derive2("dstream.FullOuterJoin", a, b, func(ra *rdd.RDD[ops.KV[K, V]], rb *rdd.RDD[ops.KV[K, W]], _ time.Time) *rdd.RDD[ops.KV[K, ops.Joined[ops.Maybe[V], ops.Maybe[W]]]] {
		return rdd.FullOuterJoin(ra, rb, opts...)
	})
}

// CoGroup returns, for every batch time, each key present in either
// stream's batch with all its values on each side (rdd.CoGroup per batch,
// with opts). The streams must belong to the same Context.
func CoGroup[K comparable, V, W any](a *DStream[ops.KV[K, V]], b *DStream[ops.KV[K, W]], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, ops.CoGrouped[V, W]]] {
	checkShuffle2(a, b, "dstream.CoGroup", opts)
	return derive2("dstream.CoGroup", a, b, func(ra *rdd.RDD[ops.KV[K, V]], rb *rdd.RDD[ops.KV[K, W]], _ time.Time) *rdd.RDD[ops.KV[K, ops.CoGrouped[V, W]]] {
		return rdd.CoGroup(ra, rb, opts...)
	})
}
