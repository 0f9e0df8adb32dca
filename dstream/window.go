package dstream

import (
	"context"
	"fmt"
	"iter"
	"sync"
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
	// The parent keeps its RDDs for a slide too, not just a window length:
	// a stateful parent builds its RDDs between windows, which nothing
	// computes until the next window, on its RDD at the previous window,
	// which must stay persisted until then.
	keepFor(s, max(length, slide))
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
	// Count, not a reduce of ones: an empty window counts 0.
	return Count(Window(s, length, slide))
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
// r.Inverse, so a slide costs the entering and leaving batches plus one
// copy of the result, not the whole window. Keys whose value is taken out
// entirely stay (with the inverse's result, e.g. 0) unless keep is given:
// then only the pairs for which keep returns true stay. keep must only
// drop keys with nothing left in the window: a value still in the window
// for a dropped key is not taken out when it leaves. The result is
// hash-partitioned (Partitions, WithPartitioner as for rdd.ReduceByKey;
// default: the batch RDD's partition count).
//
// The window's running values live in one table per partition, owned by
// the stream and updated in place every slide; each slide's RDD is a
// persisted copy of the tables.
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
	// sum reduces the batches of a time range into one RDD partitioned by
	// popts.
	sum := func(ctx context.Context, from, to time.Time, popts []rdd.ShuffleOpt) (*rdd.RDD[ops.KV[K, V]], error) {
		rs, err := perBatch.between(ctx, from, to)
		if err != nil || len(rs) == 0 {
			return nil, err
		}
		if len(rs) == 1 {
			return rdd.PartitionBy(rs[0], popts...), nil // free when alike
		}
		return rdd.ReduceByKey(rdd.Union(rs...), r.Reduce, popts...), nil
	}
	var (
		self  *DStream[ops.KV[K, V]]
		popts []rdd.ShuffleOpt // the tables' partitioning, set by the first window
		state *windowTables[K, V]
	)
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, V]], error) {
		prevT := t.Add(-slide)
		if !self.validAt(prevT) {
			// The first window: the batches so far, nothing to take out.
			in, err := sum(ctx, t.Add(-length), t, opts)
			if err != nil {
				return nil, err
			}
			if in == nil {
				return nil, fmt.Errorf("%s: window %v: no batch in the first window", name, t)
			}
			popts = []rdd.ShuffleOpt{rdd.PartitionedLike(in)}
			state = newWindowTables[K, V](in.NumPartitions())
			return state.advance(name, nil, time.Time{}, t, tag(in, false), in, r, keep), nil
		}
		prev, err := self.rddAt(ctx, prevT)
		if err != nil {
			return nil, err
		}
		in, err := sum(ctx, prevT, t, popts)
		if err != nil {
			return nil, err
		}
		if in == nil {
			return nil, fmt.Errorf("%s: window %v: no batch entered", name, t)
		}
		leaving, err := sum(ctx, t.Add(-length-slide), t.Add(-length), popts)
		if err != nil {
			return nil, err
		}
		delta := tag(in, false)
		if leaving != nil {
			delta = rdd.ZipPartitions(delta, tag(leaving, true), concat[ops.KV[K, moving[V]]])
		}
		return state.advance(name, cut(ctx, prev), prevT, t, delta, in, r, keep), nil
	})
	self.slide, self.parents, self.stateful = slide, []stream{perBatch}, true
	// Each slide reads the batches that left the window up to a slide
	// before it.
	keepFor(self, slide)
	keepFor(perBatch, length+slide)
	return self
}

// moving is a reduced value entering or leaving an incremental window.
type moving[V any] struct {
	v       V
	leaving bool
}

// tag marks r's values as entering or leaving a window; nil stays nil.
func tag[K comparable, V any](r *rdd.RDD[ops.KV[K, V]], leaving bool) *rdd.RDD[ops.KV[K, moving[V]]] {
	if r == nil {
		return nil
	}
	return rdd.MapValues(r, func(v V) moving[V] { return moving[V]{v, leaving} })
}

// concat is the ZipPartitions function that emits a's elements, then b's.
func concat[T any](_ context.Context, _ int, a, b iter.Seq[T], emit func(T)) error {
	for x := range a {
		emit(x)
	}
	for x := range b {
		emit(x)
	}
	return nil
}

// windowTables are an incremental window's running values: one table per
// partition, each holding the window at time at.
type windowTables[K comparable, V any] struct {
	parts []windowTable[K, V]
}

type windowTable[K comparable, V any] struct {
	mu      sync.Mutex
	at      time.Time // the window time the table holds; zero: empty
	broken  bool      // an update failed midway: the table is unusable
	index   map[K]int
	entries []ops.KV[K, V]
}

func newWindowTables[K comparable, V any](n int) *windowTables[K, V] {
	return &windowTables[K, V]{parts: make([]windowTable[K, V], n)}
}

// advance returns the window at t: an RDD, partitioned like like, whose
// partition p moves table p from the window at from to the window at t by
// applying delta's partition p, and emits a copy of the table. It is
// persisted, so each table moves once per slide. prev is the window at
// from (nil for the first window): when table p has not reached from yet
// (nothing computed that partition of prev), reading prev's partition p
// moves it there first.
func (w *windowTables[K, V]) advance(op string, prev *rdd.RDD[ops.KV[K, V]], from, t time.Time, delta *rdd.RDD[ops.KV[K, moving[V]]], like *rdd.RDD[ops.KV[K, V]], r ops.InvReducer[V], keep func(ops.KV[K, V]) bool) *rdd.RDD[ops.KV[K, V]] {
	move := func(p int, moved iter.Seq[ops.KV[K, moving[V]]], emit func(ops.KV[K, V])) error {
		if p >= len(w.parts) {
			return fmt.Errorf("%s: window %v: partition %d of %d: the batches are partitioned unlike the window", op, t, p, len(w.parts))
		}
		tb := &w.parts[p]
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if tb.broken || !tb.at.Equal(from) {
			return fmt.Errorf("%s: window %v: partition %d holds the window at %v, want %v (recomputed after it moved on?)", op, t, p, tb.at, from)
		}
		if tb.index == nil {
			tb.index = map[K]int{}
		}
		tb.broken = true // until the update completes
		var rejected []K // keys keep rejected after an update: checked again at the end
		for m := range moved {
			i, ok := tb.index[m.Key]
			switch {
			case ok && m.Value.leaving:
				tb.entries[i].Value = r.Inverse(tb.entries[i].Value, m.Value.v)
			case ok:
				tb.entries[i].Value = r.Reduce(tb.entries[i].Value, m.Value.v)
			case m.Value.leaving:
				// keep dropped the key: nothing is left to take out.
				continue
			default:
				i = len(tb.entries)
				tb.index[m.Key] = i
				tb.entries = append(tb.entries, ops.KV[K, V]{Key: m.Key, Value: m.Value.v})
			}
			if keep != nil && !keep(tb.entries[i]) {
				rejected = append(rejected, m.Key)
			}
		}
		tb.drop(rejected, keep)
		tb.broken, tb.at = false, t
		for _, kv := range tb.entries {
			emit(kv)
		}
		return nil
	}
	var out *rdd.RDD[ops.KV[K, V]]
	if prev == nil {
		out = rdd.MapPartitions(delta, func(_ context.Context, p int, moved iter.Seq[ops.KV[K, moving[V]]], emit func(ops.KV[K, V])) error {
			return move(p, moved, emit)
		})
	} else {
		out = rdd.ZipPartitions(prev, delta, func(_ context.Context, p int, old iter.Seq[ops.KV[K, V]], moved iter.Seq[ops.KV[K, moving[V]]], emit func(ops.KV[K, V])) error {
			if p < len(w.parts) && !w.parts[p].reached(from) {
				for range old { // computes prev's partition p, which moves the table
				}
			}
			return move(p, moved, emit)
		})
	}
	return rdd.PreservesPartitioning(out, like).Persist()
}

// reached reports whether the table holds the window at from or a later
// one.
func (tb *windowTable[K, V]) reached(from time.Time) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return !tb.at.Before(from)
}

// drop removes the entries of the rejected keys that keep still rejects
// (a key may be rejected after one update of a slide and accepted after the
// next). Keys no update touched kept their value, which keep accepted.
func (tb *windowTable[K, V]) drop(rejected []K, keep func(ops.KV[K, V]) bool) {
	for _, k := range rejected {
		i, ok := tb.index[k]
		if !ok || keep(tb.entries[i]) {
			continue // rejected twice, or accepted after a later update
		}
		last := len(tb.entries) - 1
		if i != last {
			tb.entries[i] = tb.entries[last]
			tb.index[tb.entries[i].Key] = i
		}
		tb.entries = tb.entries[:last]
		delete(tb.index, k)
	}
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
