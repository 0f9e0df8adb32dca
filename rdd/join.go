package rdd

import (
	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// CoGroup returns, for every key of a or b, all of a's values and all of
// b's values for it. Both inputs are shuffled by the same partitioner
// (default: a partitioner one of the inputs already has, else hash over the
// larger partition count, at most 4 times the Engine's parallelism: see
// Partitions); an input already partitioned that way is read in place,
// without a shuffle. Keys come out in first-seen order per partition, or in
// key hash order in a partition that spilled beyond the memory budget (see
// MemoryBudget); each key's values keep their input order.
func CoGroup[K comparable, V, W any](a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, ops.CoGrouped[V, W]]] {
	return cogroup("rdd.CoGroup", a, b, opts, func(k K, g *ops.CoGrouped[V, W], yield func(ops.KV[K, ops.CoGrouped[V, W]]) bool) bool {
		return yield(ops.KV[K, ops.CoGrouped[V, W]]{Key: k, Value: *g})
	})
}

// Join returns a pair (k, (v, w)) for every v of a and w of b with the same
// key k (an inner join, like a nested-loop join per key). See CoGroup for
// the partitioning.
func Join[K comparable, V, W any](a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, ops.Joined[V, W]]] {
	return cogroup("rdd.Join", a, b, opts, func(k K, g *ops.CoGrouped[V, W], yield func(ops.KV[K, ops.Joined[V, W]]) bool) bool {
		for _, v := range g.Left {
			for _, w := range g.Right {
				if !yield(ops.KV[K, ops.Joined[V, W]]{Key: k, Value: ops.Joined[V, W]{Left: v, Right: w}}) {
					return false
				}
			}
		}
		return true
	})
}

// LeftOuterJoin is Join that also keeps the pairs of a whose key is not in
// b, with None on the right.
func LeftOuterJoin[K comparable, V, W any](a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, ops.Joined[V, ops.Maybe[W]]]] {
	type out = ops.KV[K, ops.Joined[V, ops.Maybe[W]]]
	return cogroup("rdd.LeftOuterJoin", a, b, opts, func(k K, g *ops.CoGrouped[V, W], yield func(out) bool) bool {
		for _, v := range g.Left {
			if len(g.Right) == 0 && !yield(out{Key: k, Value: ops.Joined[V, ops.Maybe[W]]{Left: v}}) {
				return false
			}
			for _, w := range g.Right {
				if !yield(out{Key: k, Value: ops.Joined[V, ops.Maybe[W]]{Left: v, Right: ops.Some(w)}}) {
					return false
				}
			}
		}
		return true
	})
}

// RightOuterJoin is Join that also keeps the pairs of b whose key is not in
// a, with None on the left.
func RightOuterJoin[K comparable, V, W any](a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, ops.Joined[ops.Maybe[V], W]]] {
	type out = ops.KV[K, ops.Joined[ops.Maybe[V], W]]
	return cogroup("rdd.RightOuterJoin", a, b, opts, func(k K, g *ops.CoGrouped[V, W], yield func(out) bool) bool {
		if len(g.Left) == 0 {
			for _, w := range g.Right {
				if !yield(out{Key: k, Value: ops.Joined[ops.Maybe[V], W]{Right: w}}) {
					return false
				}
			}
		}
		for _, v := range g.Left {
			for _, w := range g.Right {
				if !yield(out{Key: k, Value: ops.Joined[ops.Maybe[V], W]{Left: ops.Some(v), Right: w}}) {
					return false
				}
			}
		}
		return true
	})
}

// FullOuterJoin is Join that also keeps the pairs of either side whose key
// is missing on the other, with None there.
func FullOuterJoin[K comparable, V, W any](a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, ops.Joined[ops.Maybe[V], ops.Maybe[W]]]] {
	type joined = ops.Joined[ops.Maybe[V], ops.Maybe[W]]
	type out = ops.KV[K, joined]
	return cogroup("rdd.FullOuterJoin", a, b, opts, func(k K, g *ops.CoGrouped[V, W], yield func(out) bool) bool {
		for _, v := range g.Left {
			if len(g.Right) == 0 && !yield(out{Key: k, Value: joined{Left: ops.Some(v)}}) {
				return false
			}
			for _, w := range g.Right {
				if !yield(out{Key: k, Value: joined{Left: ops.Some(v), Right: ops.Some(w)}}) {
					return false
				}
			}
		}
		if len(g.Left) == 0 {
			for _, w := range g.Right {
				if !yield(out{Key: k, Value: joined{Right: ops.Some(w)}}) {
					return false
				}
			}
		}
		return true
	})
}

// SubtractByKey returns the pairs of a whose key does not occur in b.
func SubtractByKey[K comparable, V, W any](a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, V]] {
	return cogroup("rdd.SubtractByKey", a, b, opts, func(k K, g *ops.CoGrouped[V, W], yield func(ops.KV[K, V]) bool) bool {
		if len(g.Right) > 0 {
			return true
		}
		for _, v := range g.Left {
			if !yield(ops.KV[K, V]{Key: k, Value: v}) {
				return false
			}
		}
		return true
	})
}

// cogroupSide returns how partition q of a cogroup reads one input: in place
// when the input is already partitioned by p, else from its shuffle.
func cogroupSide[K comparable, V any](out *info, r *RDD[ops.KV[K, V]], p shuffle.Partitioner[K]) func(tc *task, q int, yield func(ops.KV[K, V]) bool) error {
	if partitionedBy(&r.info, p) {
		out.parents = append(out.parents, r)
		return r.iter
	}
	dep := keyedDep(out, r, p)
	out.shuffles = append(out.shuffles, dep)
	return dep.read
}

// cogroup groups a's and b's values by key in each output partition and
// hands each key's groups to emit.
func cogroup[K comparable, V, W, U any](op string, a *RDD[ops.KV[K, V]], b *RDD[ops.KV[K, W]], opts []ShuffleOpt[K],
	emit func(k K, g *ops.CoGrouped[V, W], yield func(U) bool) bool) *RDD[U] {
	out := child[U](op, 0, a, b)
	if out.err != nil {
		return out
	}
	p, err := partitionerFor(op, opts, &a.info, &b.info)
	if err != nil {
		return out.fail(err)
	}
	out.nparts, out.part = p.NumPartitions(), p
	readA := cogroupSide(&out.info, a, p)
	readB := cogroupSide(&out.info, b, p)
	me := &out.info
	agg := cogroupAgg[V, W]()
	out.compute = func(tc *task, q int, yield func(U) bool) error {
		sp := tc.spiller(me, "cogroup", q)
		defer tc.release(sp)
		red := shuffleexec.NewReducer[K](agg, 0, sp)
		var aerr error
		if err := readA(tc, q, func(kv ops.KV[K, V]) bool {
			aerr = red.Add(kv.Key, side[V, W]{v: kv.Value})
			return aerr == nil
		}); err != nil || aerr != nil {
			return cmpErr(err, taskErr(op, q, aerr))
		}
		if err := readB(tc, q, func(kv ops.KV[K, W]) bool {
			aerr = red.Add(kv.Key, side[V, W]{w: kv.Value, right: true})
			return aerr == nil
		}); err != nil || aerr != nil {
			return cmpErr(err, taskErr(op, q, aerr))
		}
		groups, err := red.Finish(tc.tick, func(kv ops.KV[K, ops.CoGrouped[V, W]]) bool {
			tc.cur = me
			return emit(kv.Key, &kv.Value, yield)
		})
		if err != nil {
			return taskErr(op, q, err)
		}
		for i := range groups {
			if err := tc.tick(); err != nil {
				return err
			}
			tc.cur = me
			if !emit(groups[i].Key, &groups[i].Value, yield) {
				return nil
			}
		}
		return nil
	}
	return out
}

// side is one value of a cogroup's input: a's, or b's when right.
type side[V, W any] struct {
	v     V
	w     W
	right bool
}

// cogroupAgg groups the values of a key by side, each in the order added.
func cogroupAgg[V, W any]() ops.Aggregator[side[V, W], ops.CoGrouped[V, W]] {
	add := func(g ops.CoGrouped[V, W], s side[V, W]) ops.CoGrouped[V, W] {
		if s.right {
			g.Right = append(g.Right, s.w)
		} else {
			g.Left = append(g.Left, s.v)
		}
		return g
	}
	return ops.Aggregator[side[V, W], ops.CoGrouped[V, W]]{
		Create:     func(s side[V, W]) ops.CoGrouped[V, W] { return add(ops.CoGrouped[V, W]{}, s) },
		MergeValue: add,
		MergeCombiners: func(a, b ops.CoGrouped[V, W]) ops.CoGrouped[V, W] {
			a.Left = append(a.Left, b.Left...)
			a.Right = append(a.Right, b.Right...)
			return a
		},
	}
}

// cmpErr returns the first error that is not nil.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
