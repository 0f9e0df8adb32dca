package rdd

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// SortBy returns r sorted by key(t), ascending or descending, with a total
// order across partitions: every element of partition i sorts before every
// element of partition i+1, so Collect returns the whole RDD in order.
// Elements with equal keys keep their input order within a map task.
//
// The output is range-partitioned (default: as many partitions as r, at most
// 4 times the Engine's parallelism: see Partitions) with
// bounds chosen from a sample of keys, as Spark's RangePartitioner does; the
// sample is taken from the computed input inside the job, not by a separate
// job when SortBy is called. With WithPartitioner (a
// shuffle.Partitioner[K]) that partitioner places the keys instead, and the
// order across partitions is total only if it is order-preserving, such as a
// shuffle.Range.
func SortBy[T any, K cmp.Ordered](r *RDD[T], key func(T) K, order Order, opts ...ShuffleOpt[K]) *RDD[T] {
	return sortBy("rdd.SortBy", r, key, orderCompare[K](order), opts)
}

// Order is the order SortBy and SortByKey sort in: Ascending or Descending,
// its only values (a named order where Spark passes a boolean ascending). It
// is shuffle.Order, the order of a range partitioner's bounds too
// (shuffle.NewRange).
type Order = shuffle.Order

var (
	// Ascending sorts smallest first (shuffle.Ascending).
	Ascending = shuffle.Ascending
	// Descending sorts largest first (shuffle.Descending).
	Descending = shuffle.Descending
)

// orderCompare returns cmp.Compare for Ascending, its reverse for Descending.
func orderCompare[K cmp.Ordered](o Order) func(a, b K) int {
	if o == Descending {
		return func(a, b K) int { return cmp.Compare(b, a) }
	}
	return cmp.Compare[K]
}

// SortByFunc is SortBy with a comparison function for keys that are not
// cmp.Ordered: compare(a, b) is negative when a sorts first.
func SortByFunc[T, K any](r *RDD[T], key func(T) K, compare func(a, b K) int, opts ...ShuffleOpt[K]) *RDD[T] {
	return sortBy("rdd.SortByFunc", r, key, compare, opts)
}

// SortByKey returns the pairs sorted by key, ascending or descending, with a
// total order across partitions (see SortBy).
func SortByKey[K cmp.Ordered, V any](r *RDD[ops.KV[K, V]], order Order, opts ...ShuffleOpt[K]) *RDD[ops.KV[K, V]] {
	return sortBy("rdd.SortByKey", r, func(kv ops.KV[K, V]) K { return kv.Key }, orderCompare[K](order), opts)
}

// keyed is an element with its sort key, computed once.
type keyed[K, T any] struct {
	k K
	v T
}

func sortBy[T, K any](op string, r *RDD[T], key func(T) K, compare func(a, b K) int, opts []ShuffleOpt[K]) *RDD[T] {
	out := child[T](op, 0, r)
	if out.err != nil {
		return out
	}
	if key == nil || compare == nil {
		return out.fail(invalid(op, "nil function"))
	}
	n, part, err := shuffleOpts(op, 0, opts)
	if err != nil {
		return out.fail(err)
	}
	d := &sortDep[T, K]{from: r, owner: &out.info, key: key, cmp: compare, n: n, part: part}
	if d.n == 0 {
		d.n = defaultPartitions(&r.info)
	}
	out.nparts = d.n
	out.shuffles = []shuffleDep{d}
	me := &out.info
	out.setParts(func(tc *task, q int, yield func(T) bool) ([]T, error) {
		outs, _ := tc.job.output(d).(mapOutput[keyed[K, T]])
		size := 0
		for _, b := range outs {
			size += b.Size(q)
		}
		sp := tc.spiller(me, "sort", q)
		defer tc.release(sp)
		tc.cur = me
		s := shuffleexec.NewSorter(func(a, b keyed[K, T]) int { return compare(a.k, b.k) }, size, sp)
		var aerr error
		err := readBuckets(tc, me, outs, q, func(c []keyed[K, T]) bool {
			tc.cur = me
			for i := range c {
				if aerr = s.Add(c[i]); aerr != nil {
					return false
				}
			}
			return true
		})
		if err == nil {
			err = taskErr(me.name, q, aerr)
		}
		if err != nil {
			return nil, err
		}
		tc.cur = me
		all, err := s.Finish(tc.tick, func(kt keyed[K, T]) bool {
			ok := yield(kt.v)
			tc.cur = me
			return ok
		})
		if err != nil || all == nil {
			return nil, taskErr(me.name, q, err)
		}
		sorted := make([]T, len(all))
		for i := range all {
			if err := tc.tick(); err != nil {
				return nil, err
			}
			sorted[i] = all[i].v
		}
		return sorted, nil
	})
	return out
}

// sortDep is SortBy's shuffle: the map stage computes each input partition
// with its keys and a reservoir sample of them, picks range bounds from the
// weighted samples, then buckets every partition by range.
type sortDep[T, K any] struct {
	from  *RDD[T]
	owner *info
	key   func(T) K
	cmp   func(a, b K) int
	n     int
	part  shuffle.Partitioner[K] // custom, or nil to sample
}

func (d *sortDep[T, K]) parent() node { return d.from }

// sampleSize returns how many keys each of nm map tasks samples for n
// output partitions: Spark's 20 per partition (at most 1e6 in all),
// oversampled 3 times.
func sampleSize(n, nm int) int {
	total := min(20*n, 1_000_000)
	return (3*total + nm - 1) / nm
}

func (d *sortDep[T, K]) runMap(j *job) error {
	nm := d.from.nparts
	parts := make(mapOutput[keyed[K, T]], nm)
	defer func() {
		for _, b := range parts {
			if b != nil {
				b.Free()
			}
		}
	}()
	samples := make([][]shuffle.Sample[K], nm)
	per := sampleSize(d.n, max(nm, 1))
	// First each map task computes its partition with the keys, into one
	// bucket that spills beyond the task's share, and samples the keys.
	err := j.runTasks(d.owner.name, d.owner.name, indexes(nm), func(tc *task, p int) error {
		rng := rand.New(rand.NewPCG(uint64(p), 0x5eed))
		var sample []K
		n := 0
		b, err := mapBuckets(tc, d.owner, p, 1, func(b *shuffleexec.Buckets[keyed[K, T]]) error {
			var aerr error
			add := func(t T) bool {
				tc.cur = d.owner
				k := d.key(t)
				if aerr = b.Add(0, keyed[K, T]{k, t}); aerr != nil {
					return false
				}
				if d.part == nil {
					if n < per {
						sample = append(sample, k)
					} else if s := rng.IntN(n + 1); s < per {
						sample[s] = k
					}
				}
				n++
				return true
			}
			src, ok, err := d.from.materialized(tc, p, add)
			if ok {
				err = yieldSlice(tc, src, add)
			}
			if err == nil {
				err = taskErr(d.owner.name, p, aerr)
			}
			return err
		})
		parts[p] = b
		if len(sample) > 0 {
			w := float64(n) / float64(len(sample))
			ws := make([]shuffle.Sample[K], len(sample))
			for i, k := range sample {
				ws[i] = shuffle.Sample[K]{Key: k, Weight: w}
			}
			samples[p] = ws
		}
		return err
	})
	if err != nil {
		return err
	}
	part := d.part
	if part == nil {
		// Picking the bounds, and the partitioner's check of them, call
		// the user's compare: do it in a task so that a panic there is
		// recovered and reported like any other.
		err = j.runTasks(d.owner.name, d.owner.name, []int{0}, func(tc *task, _ int) error {
			tc.cur = d.owner
			// RangeBounds keeps the bounds strictly increasing by compare:
			// the partitioner is valid.
			part = shuffle.NewRangeFunc(shuffle.RangeBounds(slices.Concat(samples...), d.n, d.cmp), d.cmp)
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Then each map task buckets its partition by range.
	outs := make(mapOutput[keyed[K, T]], nm)
	err = j.runTasks(d.owner.name, d.owner.name, indexes(nm), func(tc *task, p int) error {
		b, err := mapBuckets(tc, d.owner, p, d.n, func(b *shuffleexec.Buckets[keyed[K, T]]) error {
			var perr error
			err := readBuckets(tc, d.owner, parts[p:p+1], 0, func(c []keyed[K, T]) bool {
				tc.cur = d.owner
				for _, kt := range c {
					q := part.Partition(kt.k)
					if perr = shuffleexec.CheckPartition(q, d.n, kt.k); perr == nil {
						perr = b.Add(q, kt)
					}
					if perr != nil {
						return false
					}
				}
				return true
			})
			if err == nil {
				err = taskErr(d.owner.name, p, perr)
			}
			return err
		})
		outs[p] = b
		return err
	})
	if err != nil {
		return err
	}
	j.setOutput(d, outs)
	return nil
}
