package rdd

import (
	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// CombineByKey is the general per-key aggregation the other ByKey operators
// are built on (Spark's combineByKey): each map task folds its pairs into
// one combiner per key with agg.Create and agg.MergeValue (map-side
// combine), the combiners are shuffled by key, and each reduce task merges
// them with agg.MergeCombiners. The result is partitioned by the partitioner
// (default: the input's own partitioner over K, else hash over the input's
// partition count, at most 4 times the Engine's parallelism: see
// Partitions); if the input is already partitioned by an equal partitioner,
// no shuffle happens.
func CombineByKey[K comparable, V, C any](r *RDD[ops.KV[K, V]], agg ops.Aggregator[V, C], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, C]] {
	return combineByKey("rdd.CombineByKey", r, agg, opts)
}

// ReduceByKey merges the values of each key with the associative and
// commutative function f, combining on the map side before the shuffle.
// Its partitioning is CombineByKey's.
func ReduceByKey[K comparable, V any](r *RDD[ops.KV[K, V]], f func(a, b V) V, opts ...ShuffleOpt[K]) *RDD[ops.KV[K, V]] {
	if f == nil {
		return failed[ops.KV[K, V]]("rdd.ReduceByKey", r, "nil function")
	}
	return combineByKey("rdd.ReduceByKey", r, ops.Reducing(f), opts)
}

// FoldByKey is ReduceByKey with a neutral zero value that starts each key in
// each partition. zero must be a value, not a shared pointer, slice or map.
func FoldByKey[K comparable, V any](r *RDD[ops.KV[K, V]], zero V, f func(a, b V) V, opts ...ShuffleOpt[K]) *RDD[ops.KV[K, V]] {
	if f == nil {
		return failed[ops.KV[K, V]]("rdd.FoldByKey", r, "nil function")
	}
	return combineByKey("rdd.FoldByKey", r, ops.Folding(zero, f, f), opts)
}

// AggregateByKey aggregates the values of each key into a U: seqOp folds a
// value into a partial result that starts from zero, and combOp merges
// partial results. zero must be a value, not a shared pointer, slice or map,
// and should be neutral: how many partial results a key gets (one per map
// task that combines it, fewer when map tasks pass records through
// uncombined) depends on the partitioning.
func AggregateByKey[K comparable, V, U any](r *RDD[ops.KV[K, V]], zero U, seqOp func(U, V) U, combOp func(U, U) U, opts ...ShuffleOpt[K]) *RDD[ops.KV[K, U]] {
	if seqOp == nil || combOp == nil {
		return failed[ops.KV[K, U]]("rdd.AggregateByKey", r, "nil function")
	}
	return combineByKey("rdd.AggregateByKey", r, ops.Folding(zero, seqOp, combOp), opts)
}

// GroupByKey collects the values of each key into a slice, in input order
// within each map task. Prefer ReduceByKey or AggregateByKey when the group
// is only aggregated: they keep one value per key instead of all of them.
func GroupByKey[K comparable, V any](r *RDD[ops.KV[K, V]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, []V]] {
	return combineByKey("rdd.GroupByKey", r, ops.Grouping[V](), opts)
}

// Distinct returns the distinct elements, deduplicated on the map side
// first. The order of the result is not the input order.
func Distinct[T comparable](r *RDD[T], opts ...ShuffleOpt[T]) *RDD[T] {
	pairs := Map(r, func(t T) ops.KV[T, struct{}] { return ops.KV[T, struct{}]{Key: t} })
	keyed := combineByKey("rdd.Distinct", pairs, ops.Reducing(func(a, _ struct{}) struct{} { return a }), opts)
	out := Keys(keyed)
	out.name = "rdd.Distinct"
	return out
}

// failed returns a node carrying a construction error for op over r.
func failed[U, T any](op string, r *RDD[T], why string) *RDD[U] {
	return narrow[U](op, r).fail(invalid(op, "%s", why))
}

func combineByKey[K comparable, V, C any](op string, r *RDD[ops.KV[K, V]], agg ops.Aggregator[V, C], opts []ShuffleOpt[K]) *RDD[ops.KV[K, C]] {
	if r == nil {
		return child[ops.KV[K, C]](op, 0, r)
	}
	out := child[ops.KV[K, C]](op, 0, r)
	if !agg.Valid() {
		return out.fail(invalid(op, "aggregator with a nil function"))
	}
	p, err := partitionerFor(op, opts, &r.info)
	if err != nil {
		return out.fail(err)
	}
	out.nparts, out.part = p.NumPartitions(), p
	me := &out.info
	if partitionedBy(&r.info, p) {
		// Already partitioned by key: combine each partition in place.
		out.parents = []node{r}
		out.setParts(func(tc *task, q int, yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error) {
			sp := tc.spiller(me, "combine", q)
			defer tc.release(sp)
			red := shuffleexec.NewReducer[K](agg, 0, sp)
			var aerr error
			err := r.iter(tc, q, func(kv ops.KV[K, V]) bool {
				tc.cur = me
				aerr = red.Add(kv.Key, kv.Value)
				return aerr == nil
			})
			if err == nil {
				err = taskErr(me.name, q, aerr)
			}
			if err != nil {
				return nil, err
			}
			return finishReduce(tc, me, q, red.Finish, yield)
		})
		return out
	}
	dep := &combineDep[K, V, C]{from: r, owner: me, agg: agg, part: p}
	out.shuffles = []shuffleDep{dep}
	out.setParts(func(tc *task, q int, yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error) {
		outs, _ := tc.job.output(dep).([]*shuffleexec.MapOutput[K, V, C])
		sp := tc.spiller(me, "reduce", q)
		defer tc.release(sp)
		return finishReduce(tc, me, q, func(tick func() error, yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error) {
			return shuffleexec.Reduce(agg, outs, q, sp, tick, yield)
		}, yield)
	})
	return out
}

// finishReduce runs reduce task q of op: its result is a slice, or pushed to
// yield (a partition that spilled). The aggregator runs as op's, the
// downstream operators as theirs; a spill file's failure is a *TaskError.
func finishReduce[K comparable, C any](tc *task, op *info, q int,
	finish func(tick func() error, yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error), yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error) {
	tc.cur = op
	s, err := finish(tc.tick, func(kv ops.KV[K, C]) bool {
		ok := yield(kv)
		tc.cur = op
		return ok
	})
	return s, taskErr(op.name, q, err)
}

// combineDep is the shuffle of an aggregating operator: map-side combine
// (adaptive, see shuffleexec.MapSide), bucketed by the partitioner.
type combineDep[K comparable, V, C any] struct {
	from  *RDD[ops.KV[K, V]]
	owner *info
	agg   ops.Aggregator[V, C]
	part  shuffle.Partitioner[K]
}

func (d *combineDep[K, V, C]) parent() node { return d.from }

func (d *combineDep[K, V, C]) runMap(j *job) error {
	outs := make([]*shuffleexec.MapOutput[K, V, C], d.from.nparts)
	err := j.runTasks(d.owner.name, d.owner.name, indexes(d.from.nparts), func(tc *task, mp int) error {
		m := shuffleexec.NewMapSide(d.agg, d.part)
		sp := tc.spiller(d.owner, "map", mp)
		defer tc.release(sp)
		m.SpillTo(sp)
		var perr error
		add := func(kv ops.KV[K, V]) bool {
			tc.cur = d.owner
			perr = m.Add(kv.Key, kv.Value)
			return perr == nil
		}
		// A materialized input (a source, a shuffle's output) is read in
		// this loop, one call less per record than pushing it through
		// iter, and the map side keeps the places of the records it
		// passes through rather than copies: the input stays as it is
		// until the job ends.
		s, ok, err := d.from.materialized(tc, mp, add)
		if ok {
			m.SetSource(s)
			tc.cur = d.owner
			for i := range s {
				if err = tc.tick(); err != nil {
					break
				}
				if perr = m.AddIndex(i); perr != nil {
					break
				}
			}
		}
		if err != nil {
			return err
		}
		if perr != nil {
			return &TaskError{Op: d.owner.name, Partition: mp, Err: perr}
		}
		out, err := m.Finish()
		if err != nil {
			return &TaskError{Op: d.owner.name, Partition: mp, Err: err}
		}
		outs[mp] = out
		return nil
	})
	if err != nil {
		return err
	}
	j.setOutput(d, outs)
	return nil
}
