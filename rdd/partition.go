package rdd

import (
	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
)

// PartitionBy returns the pairs shuffled so that each key's pairs are in the
// partition the partitioner assigns it (default: r's own partitioner over K,
// else hash over r's partition count, at most 4 times the Engine's
// parallelism: see Partitions), keeping their order within each map task.
// If r is already partitioned that way it is returned as is. Later keyed
// operators with an equal partitioner skip their shuffle.
func PartitionBy[K comparable, V any](r *RDD[ops.KV[K, V]], opts ...ShuffleOpt[K]) *RDD[ops.KV[K, V]] {
	const op = "rdd.PartitionBy"
	if r == nil {
		return child[ops.KV[K, V]](op, 0, r)
	}
	p, err := partitionerFor(op, opts, &r.info)
	if err != nil {
		return child[ops.KV[K, V]](op, 0, r).fail(err)
	}
	if partitionedBy(&r.info, p) {
		return r
	}
	out := child[ops.KV[K, V]](op, p.NumPartitions(), r)
	out.part = p
	dep := keyedDep(&out.info, r, p)
	out.shuffles = []shuffleDep{dep}
	out.compute = dep.read
	return out
}

// Repartition returns r shuffled into n partitions of near-equal size
// (Spark's repartition): each map task deals its elements round-robin,
// starting at its own index. Use it to raise the parallelism of a skewed or
// small input; use Coalesce to lower it without a shuffle. With
// WithPartitioner (over T), elements go where the partitioner says instead.
func Repartition[T any](r *RDD[T], n int, opts ...ShuffleOpt[T]) *RDD[T] {
	const op = "rdd.Repartition"
	out := child[T](op, max(n, 0), r)
	if out.err != nil {
		return out
	}
	if n < 1 {
		return out.fail(invalid(op, "partition count %d < 1", n))
	}
	_, part, err := shuffleOpts(op, n, opts)
	if err != nil {
		return out.fail(err)
	}
	if part != nil {
		out.part = part
	}
	me := &out.info
	dep := &bucketDep[T, T]{from: r, owner: me, n: n,
		mapTask: func(tc *task, mp int, b *shuffleexec.Buckets[T]) error {
			q := mp % n
			var perr error
			err := r.iter(tc, mp, func(t T) bool {
				if part != nil {
					tc.cur = me
					q = part.Partition(t)
					if err := shuffleexec.CheckPartition(q, n, t); err != nil {
						perr = &TaskError{Op: op, Partition: mp, Err: err}
						return false
					}
				}
				if err := b.Add(q, t); err != nil {
					perr = &TaskError{Op: op, Partition: mp, Err: err}
					return false
				}
				if part == nil {
					if q++; q == n {
						q = 0
					}
				}
				return true
			})
			if perr != nil {
				return perr
			}
			return err
		}}
	out.shuffles = []shuffleDep{dep}
	out.compute = dep.read
	return out
}
