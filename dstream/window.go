package dstream

import (
	"context"
	"iter"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// windowed returns a stream named name, sliding every slide, whose RDD at
// time t is made by f from the parent's RDDs in the window (t-length, t],
// oldest first. It validates length and slide: both must be positive
// multiples of the parent's slide (and so of the batch interval).
func windowed[T, U any](name string, s *DStream[T], length, slide time.Duration,
	f func(ctx context.Context, t time.Time, in []*rdd.RDD[T]) (*rdd.RDD[U], error)) *DStream[U] {
	if s == nil || s.ctx == nil {
		return orphan[U](name)
	}
	c := s.ctx
	checkWindow(name, s, length, slide)
	out := newStream(c, name, func(ctx context.Context, t time.Time) (*rdd.RDD[U], error) {
		in, err := s.between(ctx, t.Add(-length), t)
		if err != nil {
			return nil, err
		}
		return f(ctx, t, in)
	})
	out.slide, out.parents = slide, []stream{s}
	keepFor(s, length)
	return out
}

// checkWindow records a construction error unless length and slide are
// positive multiples of s's slide.
func checkWindow[T any](name string, s *DStream[T], length, slide time.Duration) {
	c := s.ctx
	if base := s.slideOr(); base > 0 {
		if length <= 0 || length%base != 0 {
			c.invalidf(name, "window length %v is not a positive multiple of the parent's slide %v (batch interval %v)", length, base, c.interval)
		}
		if slide <= 0 || slide%base != 0 {
			c.invalidf(name, "slide %v is not a positive multiple of the parent's slide %v (batch interval %v)", slide, base, c.interval)
		}
	}
}

// between returns the stream's RDDs for the times in (from, to], oldest
// first, persisted because windows read them more than once. Times before
// the first batch are skipped: the first windows are partial.
func (s *DStream[T]) between(ctx context.Context, from, to time.Time) ([]*rdd.RDD[T], error) {
	step := s.slideOr()
	var rs []*rdd.RDD[T]
	for bt := to; bt.After(from); bt = bt.Add(-step) {
		r, err := s.rddAt(ctx, bt)
		if err != nil {
			return nil, err
		}
		if r != nil {
			rs = append(rs, r.Persist())
		}
	}
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs, nil
}

// union returns the union of rs, or an empty RDD on eng.
func union[T any](eng *rdd.Engine, rs []*rdd.RDD[T]) *rdd.RDD[T] {
	if len(rs) == 0 {
		return rdd.Empty[T](eng)
	}
	return rdd.Union(rs...)
}

// Window returns a stream whose RDD, every slide, holds all elements of the
// last length of batches (Spark's window). length and slide must be
// multiples of the batch interval; the first windows, before length has
// passed, hold the batches so far.
func Window[T any](s *DStream[T], length, slide time.Duration) *DStream[T] {
	return windowed("dstream.Window", s, length, slide, func(_ context.Context, _ time.Time, in []*rdd.RDD[T]) (*rdd.RDD[T], error) {
		return union(s.ctx.eng, in), nil
	})
}

// CountByWindow returns, every slide, the number of elements in the window
// (one element per RDD).
func CountByWindow[T any](s *DStream[T], length, slide time.Duration) *DStream[int64] {
	ones := Map(s, func(T) int64 { return 1 })
	return ReduceByWindow(ones, ops.Sum[int64], length, slide)
}

// ReduceByWindow returns, every slide, the reduction with f of all elements
// in the window: one element, or none for an empty window.
func ReduceByWindow[T any](s *DStream[T], f func(a, b T) T, length, slide time.Duration) *DStream[T] {
	checkFn(s, "dstream.ReduceByWindow", f == nil)
	return windowed("dstream.ReduceByWindow", s, length, slide, func(_ context.Context, _ time.Time, in []*rdd.RDD[T]) (*rdd.RDD[T], error) {
		return reduceToOne(union(s.ctx.eng, in), f), nil
	})
}

// reduceToOne returns the RDD holding the reduction of r with f, or no
// element if r is empty.
func reduceToOne[T any](r *rdd.RDD[T], f func(a, b T) T) *rdd.RDD[T] {
	return rdd.MapPartitions(rdd.Coalesce(r, 1), func(_ context.Context, _ int, in iter.Seq[T], emit func(T)) error {
		var acc ops.Maybe[T]
		for t := range in {
			if acc.Ok {
				acc.Value = f(acc.Value, t)
			} else {
				acc = ops.Some(t)
			}
		}
		if acc.Ok {
			emit(acc.Value)
		}
		return nil
	})
}

// ReduceByKeyAndWindow returns, every slide, the values of each key over
// the window reduced with f: the window's batches are unioned and reduced
// by key. Its cost grows with the window length; see
// ReduceByKeyAndWindowInv for the incremental form.
func ReduceByKeyAndWindow[K comparable, V any](s *DStream[ops.KV[K, V]], f func(a, b V) V, length, slide time.Duration, opts ...rdd.ShuffleOpt) *DStream[ops.KV[K, V]] {
	checkFn(s, "dstream.ReduceByKeyAndWindow", f == nil)
	return windowed("dstream.ReduceByKeyAndWindow", s, length, slide, func(_ context.Context, _ time.Time, in []*rdd.RDD[ops.KV[K, V]]) (*rdd.RDD[ops.KV[K, V]], error) {
		return rdd.ReduceByKey(union(s.ctx.eng, in), f, opts...), nil
	})
}

// ReduceByKeyAndWindowInv is the incremental ReduceByKeyAndWindow: each
// slide takes the previous window's result, folds in the batches that
// entered with r.Reduce and takes out the batches that left with
// r.Inverse, so a slide costs the entering and leaving batches plus the
// keys, not the whole window. Keys whose value is taken out entirely stay
// (with the inverse's result, e.g. 0) unless keep is given: then only the
// pairs for which keep returns true stay. The result is hash-partitioned
// (Partitions, WithPartitioner as for rdd.ReduceByKey; default: the batch
// RDD's partition count), which makes the previous window's join with the
// new batches free of a shuffle.
func ReduceByKeyAndWindowInv[K comparable, V any](s *DStream[ops.KV[K, V]], r ops.InvReducer[V], length, slide time.Duration, keep func(ops.KV[K, V]) bool, opts ...rdd.ShuffleOpt) *DStream[ops.KV[K, V]] {
	const name = "dstream.ReduceByKeyAndWindowInv"
	checkFn(s, name, !r.Valid())
	if s == nil || s.ctx == nil {
		return orphan[ops.KV[K, V]](name)
	}
	checkWindow(name, s, length, slide)
	// Each batch is reduced once, and only its reduced pairs (one per key)
	// are kept for when the batch leaves the window.
	perBatch := derive(name, s, func(b *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, V]] {
		return rdd.ReduceByKey(b, r.Reduce, opts...)
	})
	eng := s.ctx.eng
	// sum reduces the batches of a time range into one RDD partitioned by
	// popts (a single batch already is).
	sum := func(ctx context.Context, from, to time.Time, popts []rdd.ShuffleOpt) (*rdd.RDD[ops.KV[K, V]], error) {
		rs, err := perBatch.between(ctx, from, to)
		if err != nil || len(rs) == 0 {
			return nil, err
		}
		if len(rs) == 1 {
			return rs[0], nil
		}
		return rdd.ReduceByKey(rdd.Union(rs...), r.Reduce, popts...), nil
	}
	var self *DStream[ops.KV[K, V]]
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, V]], error) {
		var prev *rdd.RDD[ops.KV[K, V]]
		var err error
		if prevT := t.Add(-slide); self.validAt(prevT) {
			if prev, err = self.rddAt(ctx, prevT); err != nil {
				return nil, err
			}
		}
		if prev == nil {
			// The first window: the batches so far, nothing to take out.
			in, err := sum(ctx, t.Add(-length), t, opts)
			if err != nil {
				return nil, err
			}
			if in == nil {
				in = rdd.Empty[ops.KV[K, V]](eng)
			}
			return filterKeep(in, keep).Persist(), nil
		}
		// Cut the chain of windows (each built on the previous one), and
		// partition everything like the previous window so that it is
		// never shuffled again.
		if prev, err = rdd.LocalCheckpoint(ctx, prev); err != nil {
			return nil, err
		}
		popts := []rdd.ShuffleOpt{rdd.PartitionedLike(prev)}
		out := prev
		in, err := sum(ctx, t.Add(-slide), t, popts)
		if err != nil {
			return nil, err
		}
		if in != nil {
			out = rdd.MapValues(rdd.FullOuterJoin(out, in, popts...), func(j ops.Joined[ops.Maybe[V], ops.Maybe[V]]) V {
				switch {
				case j.Left.Ok && j.Right.Ok:
					return r.Reduce(j.Left.Value, j.Right.Value)
				case j.Left.Ok:
					return j.Left.Value
				default:
					return j.Right.Value
				}
			})
		}
		leaving, err := sum(ctx, t.Add(-length-slide), t.Add(-length), popts)
		if err != nil {
			return nil, err
		}
		if leaving != nil {
			out = rdd.MapValues(rdd.LeftOuterJoin(out, leaving, popts...), func(j ops.Joined[V, ops.Maybe[V]]) V {
				if j.Right.Ok {
					return r.Inverse(j.Left, j.Right.Value)
				}
				return j.Left
			})
		}
		return filterKeep(out, keep).Persist(), nil
	})
	self.slide, self.parents = slide, []stream{perBatch}
	// Each slide reads the previous result, and the batches that left the
	// window up to a slide before it.
	keepFor(self, slide)
	keepFor(perBatch, length+slide)
	return self
}

func filterKeep[K comparable, V any](r *rdd.RDD[ops.KV[K, V]], keep func(ops.KV[K, V]) bool) *rdd.RDD[ops.KV[K, V]] {
	if keep == nil {
		return r
	}
	return rdd.Filter(r, keep)
}

// CountByValueAndWindow returns, every slide, how many times each element
// occurs in the window.
func CountByValueAndWindow[T comparable](s *DStream[T], length, slide time.Duration, opts ...rdd.ShuffleOpt) *DStream[ops.KV[T, int64]] {
	pairs := Map(s, func(t T) ops.KV[T, int64] { return ops.Pair(t, int64(1)) })
	return ReduceByKeyAndWindow(pairs, ops.Sum[int64], length, slide, opts...)
}

// GroupByKeyAndWindow returns, every slide, each key's values in the
// window.
func GroupByKeyAndWindow[K comparable, V any](s *DStream[ops.KV[K, V]], length, slide time.Duration, opts ...rdd.ShuffleOpt) *DStream[ops.KV[K, []V]] {
	return windowed("dstream.GroupByKeyAndWindow", s, length, slide, func(_ context.Context, _ time.Time, in []*rdd.RDD[ops.KV[K, V]]) (*rdd.RDD[ops.KV[K, []V]], error) {
		return rdd.GroupByKey(union(s.ctx.eng, in), opts...), nil
	})
}
