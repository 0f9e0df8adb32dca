package dstream

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
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

// orphan returns a stream for an operator given a nil parent (or a nil
// Context): it belongs to no Context, and operators on it give orphans too.
// There is no Context to report the mistake to when it is made, so an
// output operation registered on an orphan is reported by the next Context
// to run (see orphanOutput).
func orphan[U any](name string) *DStream[U] {
	return &DStream[U]{streamInfo: streamInfo{name: name}, generated: map[time.Time]*rdd.RDD[U]{},
		compute: func(context.Context, time.Time) (*rdd.RDD[U], error) { return nil, nil }}
}

// orphans holds the output operations registered on streams of no Context.
var orphans struct {
	mu   sync.Mutex
	errs []error
}

// orphanOutput records that the output operation op was registered on stream s,
// which belongs to no Context because a nil *DStream or a nil *Context was given
// to the operator that made it (or to one before it). The next Context to run (or
// to be made by GetOrCreate) fails with this error, naming where op was called.
func orphanOutput(op string, s *streamInfo) {
	err := fmt.Errorf("%s (called at %s): %w: its stream (%s) belongs to no Context: a nil *dstream.DStream or *dstream.Context was given to it or to an operator before it",
		op, callerOutside(), ErrInvalid, s.name)
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	orphans.errs = append(orphans.errs, err)
}

// takeOrphanOutputs returns, and forgets, the errors orphanOutput recorded.
func takeOrphanOutputs() []error {
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	errs := orphans.errs
	orphans.errs = nil
	return errs
}

// callerOutside returns the file:line of the first caller outside this package.
func callerOutside() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "github.com/spatedev/spate/dstream.") {
			return fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if !more {
			return "an unknown place"
		}
	}
}

// checkFn records a construction error if fn is nil.
func checkFn[T any](s *DStream[T], name string, isNil bool) {
	if isNil && s != nil && s.ctx != nil {
		s.ctx.invalidf(name, "nil function")
	}
}

// checkShuffle reports invalid shuffle options of the operator name over s
// when it is built (rdd.CheckShuffleOpts), not at its first batch.
func checkShuffle[T, K any](s *DStream[T], name string, opts []rdd.ShuffleOpt[K]) {
	if len(opts) > 0 && s != nil && s.ctx != nil {
		if err := rdd.CheckShuffleOpts(name, opts...); err != nil {
			s.ctx.report(err)
		}
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

// FlatMapSeq applies f to every element and flattens the iterators it
// returns (rdd.FlatMapSeq per batch).
func FlatMapSeq[T, U any](s *DStream[T], f func(T) iter.Seq[U]) *DStream[U] {
	checkFn(s, "dstream.FlatMapSeq", f == nil)
	return derive("dstream.FlatMapSeq", s, func(r *rdd.RDD[T]) *rdd.RDD[U] { return rdd.FlatMapSeq(r, f) })
}

// FlatMapYield calls f with every element and a yield for what it gives
// (rdd.FlatMapYield per batch): the flatMap that allocates nothing f does
// not.
func FlatMapYield[T, U any](s *DStream[T], f func(t T, yield func(U) bool)) *DStream[U] {
	checkFn(s, "dstream.FlatMapYield", f == nil)
	return derive("dstream.FlatMapYield", s, func(r *rdd.RDD[T]) *rdd.RDD[U] { return rdd.FlatMapYield(r, f) })
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
