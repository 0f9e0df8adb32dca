package rdd

import (
	"context"
	"iter"

	"github.com/spatedev/spate/ops"
)

// ZipPartitions returns the RDD made by f from partition i of a and
// partition i of b together, for every i (Spark's zipPartitions): f gets the
// action's context, the partition index, one single-use iterator over each
// input's partition and a yield function, used as MapPartitions' f uses
// its own (see there for when it returns false). Both inputs must have the
// same number of partitions; no data moves. Use it to combine inputs that
// are partitioned alike, such as keyed RDDs with an equal partitioner (see
// PartitionedLike), one partition at a time. An error from f fails the job
// as a *TaskError naming the partition.
//
// The result has no partitioner, since f may yield any keys; wrap it in
// PreservesPartitioning when f keeps every key in its partition.
func ZipPartitions[A, B, U any](a *RDD[A], b *RDD[B], f func(ctx context.Context, part int, a iter.Seq[A], b iter.Seq[B], yield func(U) bool) error) *RDD[U] {
	const op = "rdd.ZipPartitions"
	out := child[U](op, 0, a, b)
	if out.err != nil {
		return out
	}
	if f == nil {
		return out.fail(invalid(op, "nil function"))
	}
	if a.nparts != b.nparts {
		return out.fail(invalid(op, "%v has %d partitions and %v has %d: zipped RDDs need the same partition count", a, a.nparts, b, b.nparts))
	}
	out.nparts = a.nparts
	out.parents = []node{a, b}
	me := &out.info
	out.compute = func(tc *task, p int, yield func(U) bool) error {
		run := newPartRun(scope{tc, me}, p, yield, checkCancel)
		return run.finish(f(tc.ctx, p, in(run, a), in(run, b), run.yield))
	}
	return out
}

// ZipPartitionsN is ZipPartitions for any number of RDDs of one element type:
// f gets partition i of each of rs, in argument order. All of rs must have
// the same number of partitions.
func ZipPartitionsN[T, U any](rs []*RDD[T], f func(ctx context.Context, part int, ins []iter.Seq[T], yield func(U) bool) error) *RDD[U] {
	const op = "rdd.ZipPartitionsN"
	parents := make([]node, len(rs))
	for i, r := range rs {
		parents[i] = r
	}
	out := child[U](op, 0, parents...)
	if out.err != nil {
		return out
	}
	switch {
	case len(rs) == 0:
		return out.fail(invalid(op, "no RDDs"))
	case f == nil:
		return out.fail(invalid(op, "nil function"))
	}
	for _, r := range rs[1:] {
		if r.nparts != rs[0].nparts {
			return out.fail(invalid(op, "%v has %d partitions and %v has %d: zipped RDDs need the same partition count", rs[0], rs[0].nparts, r, r.nparts))
		}
	}
	out.nparts = rs[0].nparts
	out.parents = parents
	me := &out.info
	out.compute = func(tc *task, p int, yield func(U) bool) error {
		run := newPartRun(scope{tc, me}, p, yield, checkCancel)
		ins := make([]iter.Seq[T], len(rs))
		for i, r := range rs {
			ins[i] = in(run, r)
		}
		return run.finish(f(tc.ctx, p, ins, run.yield))
	}
	return out
}

// PreservesPartitioning returns r marked as partitioned like from: the
// caller vouches that every pair of r sits in the partition from's
// partitioner assigns its key, as after a MapPartitions or ZipPartitions
// over from that keeps each key in its partition (Spark's
// preservesPartitioning = true). Later keyed operators with an equal
// partitioner then skip their shuffle. No data moves and nothing is
// checked per element; from having no partitioner, or a partition count
// other than r's, is a construction error.
func PreservesPartitioning[K comparable, V, W any](r *RDD[ops.KV[K, V]], from *RDD[ops.KV[K, W]]) *RDD[ops.KV[K, V]] {
	const op = "rdd.PreservesPartitioning"
	out := narrow[ops.KV[K, V]](op, r)
	if out.err != nil {
		return out
	}
	if from == nil {
		return out.fail(invalid(op, "nil RDD to take the partitioner from"))
	}
	if from.part == nil {
		return out.fail(invalid(op, "%v has no partitioner", from))
	}
	if from.nparts != r.nparts {
		return out.fail(invalid(op, "%v has %d partitions and %v has %d", r, r.nparts, from, from.nparts))
	}
	out.part = from.part
	out.compute = r.iter
	return out
}
