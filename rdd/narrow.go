package rdd

import (
	"context"
	"iter"
	"math"
	"math/rand/v2"

	"github.com/spatedev/spate/ops"
)

// narrow returns the node of a one-parent narrow operator: partition i is
// computed from r's partition i alone.
func narrow[U, T any](name string, r *RDD[T]) *RDD[U] {
	if r == nil {
		return child[U](name, 0, r)
	}
	out := child[U](name, r.nparts, r)
	out.parents = []node{r}
	return out
}

// Map returns the RDD of f applied to every element. Narrow: it runs fused
// with its neighbours in one loop per partition.
func Map[T, U any](r *RDD[T], f func(T) U) *RDD[U] {
	out := narrow[U]("rdd.Map", r)
	if f == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	me := &out.info
	out.compute = func(tc *task, p int, yield func(U) bool) error {
		s := scope{tc, me}
		return r.iter(tc, p, func(t T) bool { return yield(call(s, f, t)) })
	}
	return out
}

// FlatMap returns the RDD of the elements of f(t) for every element t, in
// order (Spark's flatMap). f may return nil for no elements.
func FlatMap[T, U any](r *RDD[T], f func(T) []U) *RDD[U] {
	out := narrow[U]("rdd.FlatMap", r)
	if f == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	me := &out.info
	out.compute = func(tc *task, p int, yield func(U) bool) error {
		s := scope{tc, me}
		return r.iter(tc, p, func(t T) bool {
			for _, u := range call(s, f, t) {
				if !yield(u) {
					return false
				}
			}
			return true
		})
	}
	return out
}

// FlatMapSeq is FlatMap for a function that returns an iterator, such as
// strings.FieldsSeq, so that no slice is built per element; f may return
// nil for no elements, as FlatMap's f may return a nil slice. The engine
// allocates nothing per element, but an iterator such as strings.FieldsSeq's
// is a closure made for each element, which escapes (f is called through a
// function value): where that allocation counts, write the loop in a
// [FlatMapYield] function instead. The iterator's yield returns false once
// the consumer has stopped (Take): the iterator should then return; if it
// calls yield again, it gets false again and its elements go nowhere.
// Cancellation is checked between r's elements, not within an iterator,
// which should therefore end.
func FlatMapSeq[T, U any](r *RDD[T], f func(T) iter.Seq[U]) *RDD[U] {
	if f == nil {
		return flatMapPush[T, U]("rdd.FlatMapSeq", r, nil)
	}
	return flatMapPush("rdd.FlatMapSeq", r, func(t T, yield func(U) bool) {
		if seq := f(t); seq != nil {
			seq(yield)
		}
	})
}

// FlatMapYield is FlatMap for a function that pushes its elements: f calls
// yield with each element t gives, in order, and returns. It is the form
// of MapPartitions' function for one element at a time (see Inside a
// partition in the package documentation), and the one that allocates
// nothing the function does not: ranging over strings.FieldsSeq(line)
// inside f builds no iterator on the heap, as it does when FlatMapSeq
// calls strings.FieldsSeq through a function value (0.1 allocations per
// word in a word count of ten words a line, none here). yield returns
// false once the consumer has stopped (Take): f should then return; if it
// calls yield again, it gets false again and its elements go nowhere.
// Cancellation is checked between r's elements, not within f, which
// should therefore return. Flink's FlatMapFunction has this form (an
// element and a Collector); Spark's flatMap returns an iterator
// (FlatMapSeq).
func FlatMapYield[T, U any](r *RDD[T], f func(t T, yield func(U) bool)) *RDD[U] {
	return flatMapPush("rdd.FlatMapYield", r, f)
}

// flatMapPush is the operator name over r that calls f with each element
// and a yield for its output: FlatMapSeq and FlatMapYield.
func flatMapPush[T, U any](name string, r *RDD[T], f func(T, func(U) bool)) *RDD[U] {
	out := narrow[U](name, r)
	if f == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	me := &out.info
	out.compute = func(tc *task, p int, yield func(U) bool) error {
		// One run and one yield per partition, called by each element's
		// call of f: a range over an iterator here would allocate its loop
		// body's closure for every element.
		run := newPartRun(scope{tc, me}, p, yield, parentChecks)
		run.err = r.iter(tc, p, func(t T) bool {
			push(run, f, t)
			return !run.stopped
		})
		return run.finish(nil)
	}
	return out
}

// Filter returns the RDD of the elements for which keep returns true. It
// keeps r's partitioner.
func Filter[T any](r *RDD[T], keep func(T) bool) *RDD[T] {
	out := narrow[T]("rdd.Filter", r)
	if out.err != nil {
		return out
	}
	if keep == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	out.part = r.part
	me := &out.info
	out.compute = func(tc *task, p int, yield func(T) bool) error {
		s := scope{tc, me}
		return r.iter(tc, p, func(t T) bool { return !call(s, keep, t) || yield(t) })
	}
	return out
}

// MapPartitions returns the RDD made by f from each whole partition (Spark's
// mapPartitionsWithIndex): f gets the action's context, the partition index
// and the partition's elements as a single-use iterator, and calls yield
// for each output element, in order. An error from f fails the job as a
// *TaskError naming the partition. Use it for per-partition set-up, such as
// one connection or one buffer per partition.
//
// yield returns false when no more elements are wanted: the consumer has
// stopped (Take, First), or the action is cancelled. f should then return
// (nil, unless it failed); in ends too, so a loop over it finishes, and
// anything f still yields is dropped. A cancelled action fails with the
// context's error, whatever f returns. Spark's function returns an
// iterator; this one pushes to yield, for the reasons in the package
// documentation (Inside a partition).
func MapPartitions[T, U any](r *RDD[T], f func(ctx context.Context, part int, in iter.Seq[T], yield func(U) bool) error) *RDD[U] {
	out := narrow[U]("rdd.MapPartitions", r)
	if f == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	me := &out.info
	out.compute = func(tc *task, p int, yield func(U) bool) error {
		run := newPartRun(scope{tc, me}, p, yield, checkCancel)
		return run.finish(f(tc.ctx, p, in(run, r), run.yield))
	}
	return out
}

// Union returns the RDD of all of rs's partitions, in argument order (narrow:
// no data moves). The result has the sum of their partition counts.
func Union[T any](rs ...*RDD[T]) *RDD[T] {
	parents := make([]node, len(rs))
	n := 0
	for i, r := range rs {
		parents[i] = r
		if r != nil {
			n += r.nparts
		}
	}
	out := child[T]("rdd.Union", n, parents...)
	if len(rs) == 0 {
		return out.fail(invalid(out.name, "no RDDs"))
	}
	if out.err != nil {
		return out
	}
	out.parents = parents
	// owner[i], local[i]: which input and which of its partitions is output
	// partition i.
	owner, local := make([]int, 0, n), make([]int, 0, n)
	for i, r := range rs {
		for p := range r.nparts {
			owner, local = append(owner, i), append(local, p)
		}
	}
	out.compute = func(tc *task, p int, yield func(T) bool) error {
		return rs[owner[p]].iter(tc, local[p], yield)
	}
	return out
}

// Coalesce returns r with its partitions merged into n partitions without a
// shuffle: output partition i is the concatenation of a contiguous run of
// input partitions. If n is at least r's partition count, the partitions
// stay as they are (use Repartition to increase them).
func Coalesce[T any](r *RDD[T], n int) *RDD[T] {
	out := narrow[T]("rdd.Coalesce", r)
	if out.err != nil {
		return out
	}
	if n < 1 {
		return out.fail(invalid(out.name, "partition count %d < 1", n))
	}
	in := r.nparts
	if n > in {
		n = in
	}
	out.nparts = n
	out.compute = func(tc *task, p int, yield func(T) bool) error {
		stopped := false
		y := func(t T) bool {
			if !yield(t) {
				stopped = true
				return false
			}
			return true
		}
		for q := p * in / n; q < (p+1)*in/n && !stopped; q++ {
			if err := r.iter(tc, q, y); err != nil {
				return err
			}
		}
		return nil
	}
	return out
}

// Glom returns the RDD with one element per partition: the partition's
// elements as a slice.
func Glom[T any](r *RDD[T]) *RDD[[]T] {
	out := narrow[[]T]("rdd.Glom", r)
	out.compute = func(tc *task, p int, yield func([]T) bool) error {
		part := []T{}
		if err := r.iter(tc, p, func(t T) bool {
			part = append(part, t)
			return true
		}); err != nil {
			return err
		}
		yield(part)
		return nil
	}
	return out
}

// MapValues returns the pairs with f applied to each value, keys unchanged.
// It keeps r's partitioner.
func MapValues[K comparable, V, W any](r *RDD[ops.KV[K, V]], f func(V) W) *RDD[ops.KV[K, W]] {
	var g func(K, V) W
	if f != nil {
		g = func(_ K, v V) W { return f(v) }
	}
	return mapValuesWithKey("rdd.MapValues", r, g)
}

// MapValuesWithKey is MapValues whose function also gets the key. It keeps
// r's partitioner, so keyed state can be updated in place, partition by
// partition (Spark reaches this with mapPartitions and
// preservesPartitioning).
func MapValuesWithKey[K comparable, V, W any](r *RDD[ops.KV[K, V]], f func(K, V) W) *RDD[ops.KV[K, W]] {
	return mapValuesWithKey("rdd.MapValuesWithKey", r, f)
}

func mapValuesWithKey[K comparable, V, W any](name string, r *RDD[ops.KV[K, V]], f func(K, V) W) *RDD[ops.KV[K, W]] {
	out := narrow[ops.KV[K, W]](name, r)
	if out.err != nil {
		return out
	}
	if f == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	out.part = r.part
	me := &out.info
	out.compute = func(tc *task, p int, yield func(ops.KV[K, W]) bool) error {
		s := scope{tc, me}
		return r.iter(tc, p, func(kv ops.KV[K, V]) bool {
			return yield(ops.KV[K, W]{Key: kv.Key, Value: call2(s, f, kv.Key, kv.Value)})
		})
	}
	return out
}

// FlatMapValues returns a pair (k, w) for every w in f(v) of every pair
// (k, v). It keeps r's partitioner.
func FlatMapValues[K comparable, V, W any](r *RDD[ops.KV[K, V]], f func(V) []W) *RDD[ops.KV[K, W]] {
	out := narrow[ops.KV[K, W]]("rdd.FlatMapValues", r)
	if out.err != nil {
		return out
	}
	if f == nil {
		return out.fail(invalid(out.name, "nil function"))
	}
	out.part = r.part
	me := &out.info
	out.compute = func(tc *task, p int, yield func(ops.KV[K, W]) bool) error {
		s := scope{tc, me}
		return r.iter(tc, p, func(kv ops.KV[K, V]) bool {
			for _, w := range call(s, f, kv.Value) {
				if !yield(ops.KV[K, W]{Key: kv.Key, Value: w}) {
					return false
				}
			}
			return true
		})
	}
	return out
}

// Keys returns the keys of the pairs.
func Keys[K comparable, V any](r *RDD[ops.KV[K, V]]) *RDD[K] {
	out := narrow[K]("rdd.Keys", r)
	out.compute = func(tc *task, p int, yield func(K) bool) error {
		return r.iter(tc, p, func(kv ops.KV[K, V]) bool { return yield(kv.Key) })
	}
	return out
}

// Values returns the values of the pairs.
func Values[K comparable, V any](r *RDD[ops.KV[K, V]]) *RDD[V] {
	out := narrow[V]("rdd.Values", r)
	out.compute = func(tc *task, p int, yield func(V) bool) error {
		return r.iter(tc, p, func(kv ops.KV[K, V]) bool { return yield(kv.Value) })
	}
	return out
}

// Replacement says whether Sample draws with replacement: WithoutReplacement
// or WithReplacement, its only values (the zero Replacement is
// WithoutReplacement); a named choice where Spark passes a boolean
// withReplacement.
type Replacement struct{ with bool }

var (
	// WithoutReplacement keeps each element at most once. It is the zero
	// Replacement.
	WithoutReplacement = Replacement{}
	// WithReplacement may repeat an element.
	WithReplacement = Replacement{with: true}
)

// String returns "WithoutReplacement" or "WithReplacement".
func (r Replacement) String() string {
	if r.with {
		return "WithReplacement"
	}
	return "WithoutReplacement"
}

// Sample returns a random sample of r, reproducible for a given seed and
// partitioning. WithoutReplacement keeps each element with probability fraction
// (in [0, 1]); WithReplacement repeats each element a Poisson(fraction) number of
// times (a finite fraction >= 0 is the expected count).
func Sample[T any](r *RDD[T], how Replacement, fraction float64, seed uint64) *RDD[T] {
	out := narrow[T]("rdd.Sample", r)
	withReplacement := how.with
	switch {
	case math.IsNaN(fraction) || fraction < 0 || math.IsInf(fraction, 1):
		return out.fail(invalid(out.name, "fraction %v is not a finite number >= 0", fraction))
	case !withReplacement && fraction > 1:
		return out.fail(invalid(out.name, "fraction %v > 1 without replacement", fraction))
	}
	out.compute = func(tc *task, p int, yield func(T) bool) error {
		rng := rand.New(rand.NewPCG(seed, uint64(p)))
		if !withReplacement {
			return r.iter(tc, p, func(t T) bool {
				return rng.Float64() >= fraction || yield(t)
			})
		}
		return r.iter(tc, p, func(t T) bool {
			for range poisson(rng, fraction) {
				if !yield(t) {
					return false
				}
			}
			return true
		})
	}
	return out
}

// poisson draws from a Poisson distribution of mean lambda: Knuth's
// multiplication method on slices of the mean of at most 30 (a sum of
// Poisson draws is a Poisson draw of the summed means), so that exp(-mean)
// never underflows.
func poisson(rng *rand.Rand, lambda float64) int {
	n := 0
	for lambda > 0 {
		step := min(lambda, 30)
		lambda -= step
		limit := math.Exp(-step)
		for prod := rng.Float64(); prod > limit; prod *= rng.Float64() {
			n++
		}
	}
	return n
}
