package rdd

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// node is the untyped view of an RDD that the scheduler walks.
type node interface {
	base() *info
	// fullyCached reports whether every partition is persisted, so that the
	// scheduler need not run the node's upstream shuffles.
	fullyCached() bool
}

// info is what every RDD node records about itself, whatever its element
// type.
type info struct {
	id       int64
	name     string
	eng      *Engine
	nparts   int
	parents  []node       // narrow parents: partition i reads their partitions directly
	shuffles []shuffleDep // shuffle dependencies: computed as stages before this node's tasks
	err      error        // construction error, reported by any action over this node
	part     any          // the shuffle.Partitioner the output is known to follow, or nil (see partOf)
}

func (i *info) base() *info { return i }

// RDD is a resilient distributed dataset, Spark's core abstraction, run
// locally: an immutable, lazy, partitioned collection of T. Transformations
// (top-level functions such as [Map] and [ReduceByKey]) record a new node
// that remembers its parents and how to compute each partition from them;
// nothing is computed until an action ([Collect], [Count], [Foreach], …)
// runs a job on the RDD's [Engine].
//
// An RDD is safe for concurrent use: several actions may run over it at
// once. Its partitions are recomputed by every action unless it is
// persisted ([RDD.Persist]).
type RDD[T any] struct {
	info
	// compute pushes partition p's elements to yield, in order, until yield
	// returns false or the partition ends.
	compute func(tc *task, p int, yield func(T) bool) error
	// whole, when set, returns partition p as one slice that readers must
	// not modify: nodes whose partitions are materialized anyway (sources,
	// shuffle outputs) let actions such as Collect skip the element loop.
	// A node that computes some partitions as a slice and streams others
	// (an aggregating shuffle that spilled) returns nil for those, after
	// pushing their elements to yield.
	whole func(tc *task, p int, yield func(T) bool) ([]T, error)
	cache atomic.Pointer[cache[T]]
}

// setWhole makes whole compute r's partitions; compute then pushes the
// slice's elements.
func (r *RDD[T]) setWhole(whole func(tc *task, p int) ([]T, error)) {
	r.setParts(func(tc *task, p int, _ func(T) bool) ([]T, error) { return whole(tc, p) })
}

// setParts makes whole compute r's partitions, each either as a slice or
// pushed to yield (whole then returns nil); compute pushes the slice's
// elements.
func (r *RDD[T]) setParts(whole func(tc *task, p int, yield func(T) bool) ([]T, error)) {
	r.whole = whole
	r.compute = func(tc *task, p int, yield func(T) bool) error {
		s, err := whole(tc, p, yield)
		if err != nil {
			return err
		}
		return yieldSlice(tc, s, yield)
	}
}

// ID returns the RDD's unique id within its Engine.
func (r *RDD[T]) ID() int64 { return r.id }

// Name returns the name of the operator that made the RDD, e.g. "rdd.Map".
func (r *RDD[T]) Name() string { return r.name }

// NumPartitions returns the number of partitions.
func (r *RDD[T]) NumPartitions() int { return r.nparts }

// Engine returns the Engine the RDD's actions run on.
func (r *RDD[T]) Engine() *Engine { return r.eng }

// Err returns the construction error of this RDD or of any RDD in its
// lineage (an invalid argument), the error every action on it would return
// before running anything. It is nil for a valid RDD.
func (r *RDD[T]) Err() error { return validate(r) }

// String returns the RDD's name, id and partition count.
func (r *RDD[T]) String() string {
	return fmt.Sprintf("%s#%d[%d]", r.name, r.id, r.nparts)
}

// DebugString describes the RDD's lineage, one node per line, indented by
// depth; a "+-" marks a shuffle dependency (a stage boundary), as in Spark's
// toDebugString.
func (r *RDD[T]) DebugString() string {
	var b strings.Builder
	var walk func(n node, depth int, shuffled bool)
	walk = func(n node, depth int, shuffled bool) {
		in := n.base()
		b.WriteString(strings.Repeat("  ", depth))
		if shuffled {
			b.WriteString("+-")
		}
		fmt.Fprintf(&b, "%s#%d[%d]", in.name, in.id, in.nparts)
		if n.fullyCached() {
			b.WriteString(" (cached)")
		}
		b.WriteByte('\n')
		for _, p := range in.parents {
			walk(p, depth+1, false)
		}
		for _, d := range in.shuffles {
			walk(d.parent(), depth+1, true)
		}
	}
	walk(r, 0, false)
	return b.String()
}

func (r *RDD[T]) fullyCached() bool {
	c := r.cache.Load()
	return c != nil && c.complete()
}

// newRDD returns a node named name on eng with nparts partitions.
func newRDD[T any](name string, eng *Engine, nparts int) *RDD[T] {
	eng = orDefault(eng)
	return &RDD[T]{info: info{id: eng.nextID.Add(1), name: name, eng: eng, nparts: nparts, err: eng.err}}
}

// child returns a node named name that reads parents (the first non-nil one
// lends its Engine). A nil parent becomes a construction error.
func child[T any](name string, nparts int, parents ...node) *RDD[T] {
	var eng *Engine
	var err error
	for i, p := range parents {
		if isNil(p) {
			err = invalid(name, "RDD argument %d is nil", i+1)
			continue
		}
		if eng == nil {
			eng = p.base().eng
		}
	}
	r := newRDD[T](name, eng, nparts)
	if err != nil {
		r.err = err
	}
	return r
}

// isNil reports whether n is nil or a nil *RDD.
func isNil(n node) bool {
	if n == nil {
		return true
	}
	type nilChecker interface{ isNilRDD() bool }
	if c, ok := n.(nilChecker); ok {
		return c.isNilRDD()
	}
	return false
}

func (r *RDD[T]) isNilRDD() bool { return r == nil }

// fail records a construction error (the first one wins) and returns r.
func (r *RDD[T]) fail(err error) *RDD[T] {
	if r.err == nil {
		r.err = err
	}
	return r
}

// materialized returns partition p as a slice readers must not modify, if
// the node computes it as one anyway (ok true). Otherwise (ok false) it has
// pushed the partition's elements to yield, as iter does.
func (r *RDD[T]) materialized(tc *task, p int, yield func(T) bool) (s []T, ok bool, err error) {
	if r.whole == nil || r.cache.Load() != nil {
		return nil, false, r.iter(tc, p, yield)
	}
	s, err = r.whole(tc, p, yield)
	return s, s != nil && err == nil, err
}

// iter pushes partition p's elements to yield, from the cache when the RDD
// is persisted.
func (r *RDD[T]) iter(tc *task, p int, yield func(T) bool) error {
	if c := r.cache.Load(); c != nil {
		return c.iter(r, tc, p, yield)
	}
	return r.compute(tc, p, yield)
}

// validate returns the first construction error in n's lineage, parents
// first, so that the root cause is reported.
func validate(n node) error {
	seen := map[node]bool{}
	var walk func(n node) error
	walk = func(n node) error {
		if seen[n] {
			return nil
		}
		seen[n] = true
		in := n.base()
		for _, p := range in.parents {
			if isNil(p) {
				continue
			}
			if err := walk(p); err != nil {
				return err
			}
		}
		for _, d := range in.shuffles {
			if err := walk(d.parent()); err != nil {
				return err
			}
		}
		return in.err
	}
	if isNil(n) {
		return invalid("rdd", "nil RDD")
	}
	return walk(n)
}
