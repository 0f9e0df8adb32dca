package dstream

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/spatedev/spate/rdd"
)

// derive returns a stream named name whose RDD for a batch is f of the
// parent's RDD for it. A nil parent or a parent from another Context is a
// construction error reported by Run.
func derive[T, U any](name string, parent *DStream[T], f func(*rdd.RDD[T]) *rdd.RDD[U]) *DStream[U] {
	if parent == nil || parent.ctx == nil {
		return orphan[U](name)
	}
	s := newStream(parent.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[U], error) {
		r, err := parent.rddAt(ctx, t)
		if err != nil || r == nil {
			return nil, err
		}
		return f(r), nil
	})
	s.slide, s.parents = parent.slide, []stream{parent}
	return s
}

// orphan returns a stream for an operator given a nil parent: it belongs
// to no Context, so no output can be registered on it and operators on it
// give orphans too. (The nil is the caller's bug; there is no Context to
// report it to.)
func orphan[U any](name string) *DStream[U] {
	return &DStream[U]{streamInfo: streamInfo{name: name}, generated: map[time.Time]*rdd.RDD[U]{},
		compute: func(context.Context, time.Time) (*rdd.RDD[U], error) { return nil, nil }}
}

// checkFn records a construction error if fn is nil.
func checkFn[T any](s *DStream[T], name string, isNil bool) {
	if isNil && s != nil && s.ctx != nil {
		s.ctx.invalidf(name, "nil function")
	}
}

// Map applies f to every element of every batch (rdd.Map per batch).
func Map[T, U any](s *DStream[T], f func(T) U) *DStream[U] {
	checkFn(s, "dstream.Map", f == nil)
	return derive("dstream.Map", s, func(r *rdd.RDD[T]) *rdd.RDD[U] { return rdd.Map(r, f) })
}

// FlatMap applies f to every element and flattens the results (rdd.FlatMap
// per batch).
func FlatMap[T, U any](s *DStream[T], f func(T) []U) *DStream[U] {
	checkFn(s, "dstream.FlatMap", f == nil)
	return derive("dstream.FlatMap", s, func(r *rdd.RDD[T]) *rdd.RDD[U] { return rdd.FlatMap(r, f) })
}

// Filter keeps the elements for which keep returns true (rdd.Filter per
// batch).
func Filter[T any](s *DStream[T], keep func(T) bool) *DStream[T] {
	checkFn(s, "dstream.Filter", keep == nil)
	return derive("dstream.Filter", s, func(r *rdd.RDD[T]) *rdd.RDD[T] { return rdd.Filter(r, keep) })
}

// Transform applies an arbitrary RDD-to-RDD function to every batch, with
// the batch time (Spark's transform): the way to use any rdd operator, or to
// join every batch with a fixed RDD.
func Transform[T, U any](s *DStream[T], f func(r *rdd.RDD[T], t time.Time) *rdd.RDD[U]) *DStream[U] {
	checkFn(s, "dstream.Transform", f == nil)
	if s == nil || s.ctx == nil {
		return orphan[U]("dstream.Transform")
	}
	out := newStream(s.ctx, "dstream.Transform", func(ctx context.Context, t time.Time) (*rdd.RDD[U], error) {
		r, err := s.rddAt(ctx, t)
		if err != nil || r == nil {
			return nil, err
		}
		return guard("dstream.Transform", func() *rdd.RDD[U] { return f(r, t) })
	})
	out.slide, out.parents = s.slide, []stream{s}
	return out
}

// guard calls f, user code that builds a batch's RDD while the batch is
// generated, and turns a panic in it into a *rdd.PanicError of op outside
// any partition (-1): a failure of the batch, as a panic in a task is,
// not of the process.
func guard[U any](op string, f func() *rdd.RDD[U]) (r *rdd.RDD[U], err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &rdd.PanicError{Op: op, Partition: -1, Value: v, Stack: debug.Stack()}
		}
	}()
	return f(), nil
}
