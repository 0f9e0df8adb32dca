package dstream

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// sameContext returns the Context that every stream of an operator named
// name belongs to. A nil stream, or streams of different Contexts, is a
// construction error recorded on every Context involved (so each one's Run
// reports it), as are streams of different slides; ok is false then, and c
// is the first Context seen (nil if there is none to report to).
func sameContext(name string, streams ...stream) (c *Context, ok bool) {
	var ctxs []*Context
	nilAt := -1
	for i, s := range streams {
		in := s.info()
		if in == nil || in.ctx == nil {
			if nilAt < 0 {
				nilAt = i
			}
			continue
		}
		if !slices.Contains(ctxs, in.ctx) {
			ctxs = append(ctxs, in.ctx)
		}
	}
	if len(ctxs) > 0 {
		c = ctxs[0]
	}
	switch {
	case nilAt >= 0:
		for _, x := range ctxs {
			x.invalidf(name, "nil stream (argument %d)", nilAt)
		}
		return c, false
	case len(ctxs) > 1:
		for _, x := range ctxs {
			x.invalidf(name, "streams belong to %d different Contexts, want one", len(ctxs))
		}
		return c, false
	}
	// Per-batch operators over streams of different slides would find
	// some parents without an RDD at a batch time.
	slide := streams[0].info().slideOr()
	for i, s := range streams[1:] {
		if d := s.info().slideOr(); d != slide {
			c.invalidf(name, "stream %d slides every %v, stream 0 every %v: want the same slide", i+1, d, slide)
			return c, false
		}
	}
	return c, true
}

// streamOf returns s as a stream; a nil s becomes one whose info is nil, so
// that sameContext can report it.
func streamOf[T any](s *DStream[T]) stream {
	if s == nil {
		return nilStream{}
	}
	return s
}

type nilStream struct{}

func (nilStream) info() *streamInfo               { return nil }
func (nilStream) forget(time.Time, time.Duration) {}

// broken returns a stream of c whose every batch fails: what an operator
// given invalid streams returns when there is a Context to report to (Run
// reports the construction error before any batch runs), or an orphan.
func broken[U any](c *Context, name string) *DStream[U] {
	if c == nil {
		return orphan[U](name)
	}
	return newStream(c, name, func(context.Context, time.Time) (*rdd.RDD[U], error) {
		return nil, fmt.Errorf("%s: %w: invalid streams", name, ErrInvalid)
	})
}

// derive2 returns a stream named name whose RDD for a batch is f of the
// two parents' RDDs for it. Nil parents, parents of different Contexts or
// of different slides are construction errors reported by Run.
func derive2[A, B, C any](name string, a *DStream[A], b *DStream[B], f func(ra *rdd.RDD[A], rb *rdd.RDD[B], t time.Time) *rdd.RDD[C]) *DStream[C] {
	c, ok := sameContext(name, streamOf(a), streamOf(b))
	if !ok {
		return broken[C](c, name)
	}
	s := newStream(c, name, func(ctx context.Context, t time.Time) (*rdd.RDD[C], error) {
		ra, err := a.rddAt(ctx, t)
		if err != nil || ra == nil {
			return nil, err
		}
		rb, err := b.rddAt(ctx, t)
		if err != nil || rb == nil {
			return nil, err
		}
		return guard(name, func() *rdd.RDD[C] { return f(ra, rb, t) })
	})
	s.slide, s.parents = a.slide, []stream{a, b}
	return s
}

// checkFn2 records a construction error if fn is nil, on the Context of a
// or, if a has none, of b.
func checkFn2[A, B any](a *DStream[A], b *DStream[B], name string, isNil bool) {
	if a != nil && a.ctx != nil {
		checkFn(a, name, isNil)
	} else {
		checkFn(b, name, isNil)
	}
}

// checkShuffle2 is checkShuffle for an operator of two streams.
func checkShuffle2[A, B, K any](a *DStream[A], b *DStream[B], name string, opts []rdd.ShuffleOpt[K]) {
	if a != nil && a.ctx != nil {
		checkShuffle(a, name, opts)
	} else {
		checkShuffle(b, name, opts)
	}
}

// MapPartitions applies f to each whole partition of every batch
// (rdd.MapPartitions per batch): f gets the job's context, the partition
// index and the partition's elements, and calls yield for each output
// element, returning when yield returns false (the output operation wants
// no more, as Print, or the job is cancelled). An error from f fails the
// batch.
func MapPartitions[T, U any](s *DStream[T], f func(ctx context.Context, part int, in iter.Seq[T], yield func(U) bool) error) *DStream[U] {
	checkFn(s, "dstream.MapPartitions", f == nil)
	return derive("dstream.MapPartitions", s, func(r *rdd.RDD[T]) *rdd.RDD[U] { return rdd.MapPartitions(r, f) })
}

// Repartition shuffles every batch into n partitions of near-equal size
// (rdd.Repartition per batch, with opts). n < 1, or opts invalid or in
// conflict with n, is a construction error reported by Run.
func Repartition[T any](s *DStream[T], n int, opts ...rdd.ShuffleOpt[T]) *DStream[T] {
	switch {
	case s == nil || s.ctx == nil:
	case n < 1:
		s.ctx.invalidf("dstream.Repartition", "partition count %d < 1", n)
	case len(opts) > 0:
		// The batches' Repartition, on an empty RDD: its construction error
		// (an invalid option, or one in conflict with n) is what every batch
		// would fail with.
		if err := rdd.Repartition(rdd.Empty[T](s.ctx.eng), n, opts...).Err(); err != nil {
			s.ctx.report(fmt.Errorf("dstream.Repartition: %w", err))
		}
	}
	return derive("dstream.Repartition", s, func(r *rdd.RDD[T]) *rdd.RDD[T] { return rdd.Repartition(r, n, opts...) })
}

// Distinct returns the distinct elements of every batch (rdd.Distinct per
// batch, with opts): an element seen in an earlier batch comes again; for
// distinct elements across batches, keep them in state (UpdateStateByKey). The
// order within a batch is not the input order. Spark's DStream has no
// distinct; it is its transform(_.distinct()).
func Distinct[T comparable](s *DStream[T], opts ...rdd.ShuffleOpt[T]) *DStream[T] {
	checkShuffle(s, "dstream.Distinct", opts)
	return derive("dstream.Distinct", s, func(r *rdd.RDD[T]) *rdd.RDD[T] { return rdd.Distinct(r, opts...) })
}

// Glom returns, for every batch, one element per partition: the partition's
// elements as a slice (rdd.Glom per batch; Spark's glom).
func Glom[T any](s *DStream[T]) *DStream[[]T] {
	return derive("dstream.Glom", s, func(r *rdd.RDD[T]) *rdd.RDD[[]T] { return rdd.Glom(r) })
}

// Union returns the stream whose batch is the union of the streams'
// batches for the same time, in argument order (rdd.Union per batch). The
// streams must belong to the same Context and slide together; a nil stream
// or a mix of Contexts is a construction error reported by Run.
func Union[T any](streams ...*DStream[T]) *DStream[T] {
	const name = "dstream.Union"
	if len(streams) == 0 {
		return orphan[T](name) // no Context to report to
	}
	all := make([]stream, len(streams))
	for i, s := range streams {
		all[i] = streamOf(s)
	}
	c, ok := sameContext(name, all...)
	if !ok {
		return broken[T](c, name)
	}
	out := newStream(c, name, func(ctx context.Context, t time.Time) (*rdd.RDD[T], error) {
		rs := make([]*rdd.RDD[T], 0, len(streams))
		for _, s := range streams {
			r, err := s.rddAt(ctx, t)
			if err != nil || r == nil {
				return nil, err
			}
			rs = append(rs, r)
		}
		return rdd.Union(rs...), nil
	})
	parents := make([]stream, len(streams))
	for i, s := range streams {
		parents[i] = s
	}
	out.slide, out.parents = streams[0].slide, parents
	return out
}

// Count returns the stream with one element per batch: the number of
// elements in the batch, 0 for an empty one (Spark's count; rdd.Count per
// batch, computed lazily as an RDD of one element).
func Count[T any](s *DStream[T]) *DStream[int64] {
	return derive("dstream.Count", s, func(r *rdd.RDD[T]) *rdd.RDD[int64] {
		ones := rdd.Map(r, ops.One[T])
		// The zero keeps one partition even when the batch has none.
		zero := rdd.Parallelize(r.Engine(), []int64{0}, 1)
		return rdd.MapPartitions(rdd.Coalesce(rdd.Union(zero, ones), 1), func(_ context.Context, _ int, in iter.Seq[int64], yield func(int64) bool) error {
			var n int64
			for x := range in {
				n += x
			}
			yield(n)
			return nil
		})
	})
}

// Reduce returns the stream with, per batch, the reduction of the batch's
// elements with the associative and commutative function f (rdd.Reduce per
// batch, computed lazily): one element, or none for an empty batch.
func Reduce[T any](s *DStream[T], f func(a, b T) T) *DStream[T] {
	checkFn(s, "dstream.Reduce", f == nil)
	return derive("dstream.Reduce", s, func(r *rdd.RDD[T]) *rdd.RDD[T] { return reduceToOne(r, f) })
}

// CountByValue returns the stream with, per batch, each distinct element
// and how many times it occurs in the batch (rdd.CountByValue per batch,
// computed lazily with a ReduceByKey that takes opts).
func CountByValue[T comparable](s *DStream[T], opts ...rdd.ShuffleOpt[T]) *DStream[ops.KV[T, int64]] {
	checkShuffle(s, "dstream.CountByValue", opts)
	return derive("dstream.CountByValue", s, func(r *rdd.RDD[T]) *rdd.RDD[ops.KV[T, int64]] {
		pairs := rdd.Map(r, func(t T) ops.KV[T, int64] { return ops.Pair(t, int64(1)) })
		return rdd.ReduceByKey(pairs, ops.Sum[int64], opts...)
	})
}

// TransformWith applies an arbitrary function of two RDDs to the two
// streams' batches for the same time, with the batch time (Spark's
// transformWith): the way to use any binary rdd operator per batch. The
// streams must belong to the same Context.
func TransformWith[A, B, C any](a *DStream[A], b *DStream[B], f func(ra *rdd.RDD[A], rb *rdd.RDD[B], t time.Time) *rdd.RDD[C]) *DStream[C] {
	checkFn2(a, b, "dstream.TransformWith", f == nil)
	return derive2("dstream.TransformWith", a, b, f)
}
