package rdd

import (
	"fmt"
	"strings"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// A ShuffleOpt configures a wide operator (ReduceByKey, Join, SortBy, …) that
// partitions its output by a key of type K: the pairs' key for the keyed
// operators, the sort key for SortBy, the element for Repartition and
// Distinct. An option for another key type does not compile: a
// WithPartitioner over string keys on an int-keyed RDD is a type error, not
// an error at the action. ShuffleOpts are made only by this package's
// functions: [Partitions], [WithPartitioner] and [PartitionedLike]. A nil
// ShuffleOpt is no option; of two options that set the same thing, the last
// applies.
type ShuffleOpt[K any] interface{ applyShuffle(*shuffleConf[K]) }

// shuffleOpt is a ShuffleOpt.
type shuffleOpt[K any] func(*shuffleConf[K])

func (o shuffleOpt[K]) applyShuffle(c *shuffleConf[K]) { o(c) }

type shuffleConf[K any] struct {
	n    int
	part shuffle.Partitioner[K]
	bad  []string // what is wrong with the options, each naming its option
}

// Partitions sets the number of output partitions of a wide operator. n must
// be at least 1. Go cannot infer K from a count: name it, as in
// rdd.ReduceByKey(pairs, add, rdd.Partitions[string](8)).
//
// Default: as many as the operator's input with the most, but at most 4
// times the Engine's parallelism (at least 1). A keyed operator (the ByKey
// operators, Distinct, PartitionBy, Join and the other cogroups) first looks
// for a partitioner over its key that an input already has, with at least
// that many partitions (the one with the most, if several): it keeps it, and
// that input is not shuffled (co-partitioning: ReduceByKey after
// PartitionBy, a join with a partitioned state).
//
// Spark differs on purpose: unless spark.default.parallelism is set, it gives
// a shuffle as many partitions as its largest input, however many that is.
// A local engine runs only parallelism tasks at once, and every map task
// writes a bucket for every output partition: a ReduceByKey over the union
// of hundreds of small RDDs (a queue batch of many pushes) would make
// partitions² buckets. A few partitions per task are enough to even out
// skew.
func Partitions[K any](n int) ShuffleOpt[K] {
	return shuffleOpt[K](func(c *shuffleConf[K]) {
		if n < 1 {
			c.bad = append(c.bad, fmt.Sprintf("Partitions(%d), want at least 1", n))
		}
		c.n = n
	})
}

// WithPartitioner sets the partitioner that places keys in output
// partitions; it must not be nil, must have at least 1 partition and, if it
// has an Err method (shuffle.Range), must answer nil.
// Default: a partitioner an input already has, else a shuffle.Hash over the
// partition count (see [Partitions]). Its key type is the operator's (for
// SortBy, the sort key; for Repartition and Distinct, the element): another
// does not compile.
func WithPartitioner[K any](p shuffle.Partitioner[K]) ShuffleOpt[K] {
	return shuffleOpt[K](func(c *shuffleConf[K]) {
		switch {
		case p == nil:
			c.bad = append(c.bad, "WithPartitioner(nil), want a partitioner")
		case p.NumPartitions() < 1:
			c.bad = append(c.bad, fmt.Sprintf("WithPartitioner(%v): it has %d partitions, want at least 1", p, p.NumPartitions()))
		default:
			if v, ok := p.(interface{ Err() error }); ok && v.Err() != nil {
				c.bad = append(c.bad, fmt.Sprintf("WithPartitioner: %v", v.Err()))
			}
		}
		c.part = p
	})
}

// CheckShuffleOpts returns the construction error a wide operator given opts
// would carry (an invalid option, or Partitions conflicting with
// WithPartitioner's partition count), wrapping ErrInvalid and naming op and
// the options, or nil. It is for code that keeps ShuffleOpts to apply to RDDs
// it makes later, as dstream's operators do every batch, so that it can
// report invalid options when it is built rather than at its first action.
func CheckShuffleOpts[K any](op string, opts ...ShuffleOpt[K]) error {
	_, _, err := shuffleOpts(op, 0, opts)
	return err
}

// shuffleOpts resolves the options of a wide operator: the partition count
// and the partitioner they set (0 and nil for what they leave to the
// operator's default), checked against each other and against n, the
// operator's own partition count (Repartition's; 0 for none). This is the
// only place options are read.
func shuffleOpts[K any](op string, n int, opts []ShuffleOpt[K]) (int, shuffle.Partitioner[K], error) {
	var c shuffleConf[K]
	for _, o := range opts {
		if o != nil {
			o.applyShuffle(&c)
		}
	}
	switch {
	case len(c.bad) > 0:
		return 0, nil, invalid(op, "%s", strings.Join(c.bad, "; "))
	case n != 0 && c.n != 0 && c.n != n:
		return 0, nil, invalid(op, "Partitions(%d) conflicts with the partition count %d", c.n, n)
	case c.part == nil:
		return max(c.n, n), nil, nil
	case c.n != 0 && c.n != c.part.NumPartitions():
		return 0, nil, invalid(op, "Partitions(%d) conflicts with a partitioner of %d partitions", c.n, c.part.NumPartitions())
	case n != 0 && n != c.part.NumPartitions():
		return 0, nil, invalid(op, "a partitioner of %d partitions conflicts with the partition count %d", c.part.NumPartitions(), n)
	}
	return c.part.NumPartitions(), c.part, nil
}

// maxDefaultPerTask bounds a wide operator's default partition count: at
// most this many times the Engine's parallelism (see Partitions).
const maxDefaultPerTask = 4

// defaultPartitions returns the default partition count of a wide operator
// over ins (see Partitions).
func defaultPartitions(ins ...*info) int {
	n := 1
	for _, in := range ins {
		n = max(n, in.nparts)
	}
	return min(n, maxDefaultPerTask*orDefault(ins[0].eng).parallelism)
}

// partitionerFor resolves the options of a keyed operator over ins to a
// partitioner: the given one, else a hash partitioner over Partitions; with
// neither, the default (see Partitions).
func partitionerFor[K comparable](op string, opts []ShuffleOpt[K], ins ...*info) (shuffle.Partitioner[K], error) {
	n, p, err := shuffleOpts(op, 0, opts)
	switch {
	case err != nil:
		return nil, err
	case p != nil:
		return p, nil
	case n != 0:
		return shuffle.NewHash[K](n), nil
	}
	def := defaultPartitions(ins...)
	var best shuffle.Partitioner[K]
	for _, in := range ins {
		if p, ok := partOf[K](in); ok && p.NumPartitions() >= def && (best == nil || p.NumPartitions() > best.NumPartitions()) {
			best = p
		}
	}
	if best != nil {
		return best, nil
	}
	return shuffle.NewHash[K](def), nil
}

// partOf returns the partitioner in follows when it is one over K. in.part
// is untyped because info is, but only typed code sets it: a keyed
// operator its partitioner over the pairs' key, Repartition its over the
// element.
func partOf[K any](in *info) (shuffle.Partitioner[K], bool) {
	p, ok := in.part.(shuffle.Partitioner[K])
	return p, ok
}

// partitionedBy reports whether in is known to be partitioned by p (see
// shuffle.Partitioner's Equal).
func partitionedBy[K any](in *info, p shuffle.Partitioner[K]) bool {
	q, ok := partOf[K](in)
	return ok && q.Equal(p)
}

// PartitionerOf returns the partitioner r's pairs are known to be placed by,
// and whether there is one. Shuffle operators set it, key-preserving
// operators (Filter, MapValues, FlatMapValues) keep it, and operators that
// may change keys (Map, FlatMap) drop it. Operators whose input is already
// partitioned by an equal partitioner skip the shuffle.
func PartitionerOf[K comparable, V any](r *RDD[ops.KV[K, V]]) (shuffle.Partitioner[K], bool) {
	if r == nil {
		return nil, false
	}
	return partOf[K](&r.info)
}

// PartitionerAs returns r's partitioner as a P, and whether r has one that
// is a P (as errors.As does for errors): to ask whether the partitioner
// implements an interface, such as dstream.TaskPartitioner, whatever r's
// element type. For the typed partitioner of a keyed RDD, use
// [PartitionerOf].
func PartitionerAs[P, T any](r *RDD[T]) (P, bool) {
	var zero P
	if r == nil {
		return zero, false
	}
	p, ok := r.part.(P)
	return p, ok
}

// mapOutput is a map stage's output: one set of buckets per map task.
type mapOutput[O any] []*shuffleexec.Buckets[O]

// bucketDep is the common shuffle dependency: each map task turns its input
// partition into n buckets of O, which spill beyond the task's share of the
// memory budget.
type bucketDep[T, O any] struct {
	from    *RDD[T]
	owner   *info // the shuffled RDD, named in errors
	n       int
	mapTask func(tc *task, p int, b *shuffleexec.Buckets[O]) error
}

func (d *bucketDep[T, O]) parent() node { return d.from }

func (d *bucketDep[T, O]) runMap(j *job) error {
	out := make(mapOutput[O], d.from.nparts)
	err := j.runTasks(d.owner.name, d.owner.name, indexes(d.from.nparts), func(tc *task, p int) error {
		b, err := mapBuckets(tc, d.owner, p, d.n, func(b *shuffleexec.Buckets[O]) error { return d.mapTask(tc, p, b) })
		out[p] = b
		return err
	})
	if err != nil {
		return err
	}
	j.setOutput(d, out)
	return nil
}

// mapBuckets runs map task p of op: fill adds its records to n buckets,
// which count their memory and spill in the task's Spiller, then keep what
// is left in memory or spill it too (see shuffleexec.Buckets.Finish).
func mapBuckets[O any](tc *task, op *info, p, n int, fill func(b *shuffleexec.Buckets[O]) error) (*shuffleexec.Buckets[O], error) {
	b := shuffleexec.NewBuckets[O](n)
	sp := tc.spiller(op, "map", p)
	defer tc.release(sp)
	b.SpillTo(sp)
	if err := fill(b); err != nil {
		return nil, err
	}
	if err := b.Finish(); err != nil {
		return nil, &TaskError{Op: op.name, Partition: p, Err: err}
	}
	return b, nil
}

// read pushes bucket q of every map task, in map task order.
func (d *bucketDep[T, O]) read(tc *task, q int, yield func(O) bool) error {
	out, _ := tc.job.output(d).(mapOutput[O])
	return yieldChunks(tc, d.owner, out, q, yield)
}

// yieldChunks pushes bucket q of every map output of op's shuffle, in map
// task order.
func yieldChunks[O any](tc *task, op *info, outs []*shuffleexec.Buckets[O], q int, yield func(O) bool) error {
	return readBuckets(tc, op, outs, q, func(c []O) bool {
		for i := range c {
			if !yield(c[i]) {
				return false
			}
		}
		return true
	})
}

// readBuckets calls f with the chunks of bucket q of every map output of
// op's shuffle, in map task order, checking for cancellation; a chunk read
// from a spill file is valid only during the call. Reading a spill file
// fails with a *TaskError.
func readBuckets[O any](tc *task, op *info, outs []*shuffleexec.Buckets[O], q int, f func(c []O) bool) error {
	for _, b := range outs {
		if b == nil {
			continue
		}
		var err error
		stopped := false
		rerr := b.Read(q, func(c []O) bool {
			// One check per chunk, and one per checkEvery records.
			if err = tc.ctx.Err(); err == nil {
				tc.n += uint(len(c))
				stopped = !f(c)
			}
			return err == nil && !stopped
		})
		if err != nil {
			return err
		}
		if rerr != nil {
			return &TaskError{Op: op.name, Partition: q, Err: rerr}
		}
		if stopped {
			return nil
		}
	}
	return nil
}

func indexes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// keyedDep returns the dependency that buckets r's pairs by p without
// combining (PartitionBy, the sides of CoGroup and Join).
func keyedDep[K comparable, V any](owner *info, r *RDD[ops.KV[K, V]], p shuffle.Partitioner[K]) *bucketDep[ops.KV[K, V], ops.KV[K, V]] {
	n := p.NumPartitions()
	h, isHash := p.(*shuffle.Hash[K])
	return &bucketDep[ops.KV[K, V], ops.KV[K, V]]{from: r, owner: owner, n: n,
		mapTask: func(tc *task, mp int, b *shuffleexec.Buckets[ops.KV[K, V]]) error {
			var perr error
			err := r.iter(tc, mp, func(kv ops.KV[K, V]) bool {
				var e error
				if isHash {
					e = b.Add(h.Partition(kv.Key), kv)
				} else {
					tc.cur = owner
					e = shuffleexec.AddKeyed(b, p, kv)
				}
				if e != nil {
					perr = &TaskError{Op: owner.name, Partition: mp, Err: e}
					return false
				}
				return true
			})
			if perr != nil {
				return perr
			}
			return err
		}}
}

// PartitionedLike returns the option that partitions a keyed operator's
// output the way r is partitioned: by r's partitioner when it has one over
// K (so joining with r needs no shuffle of r), else hash over r's partition
// count. r must not be nil.
func PartitionedLike[K comparable, V any](r *RDD[ops.KV[K, V]]) ShuffleOpt[K] {
	if r == nil {
		return shuffleOpt[K](func(c *shuffleConf[K]) { c.bad = append(c.bad, "PartitionedLike(nil), want an RDD") })
	}
	if p, ok := PartitionerOf(r); ok {
		return WithPartitioner(p)
	}
	return Partitions[K](max(r.nparts, 1))
}
