package dstream

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/state"
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
	var warn sync.Once
	out := newStream(c, name, func(ctx context.Context, t time.Time) (*rdd.RDD[U], error) {
		in, err := s.between(ctx, t.Add(-length), t)
		if err != nil {
			return nil, err
		}
		if len(in) > 0 {
			if _, ok := rdd.PartitionerAs[TaskPartitioner](in[len(in)-1]); ok {
				warn.Do(func() {
					c.logger.Warn("a window of records over a task-partitioned stream: a task this process gains enters the window from the batch that gains it (see dstream.TaskPartitioner; the windowed reduces move with their tasks)",
						"stream", name, "batch", t)
				})
			}
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
	return rdd.MapPartitions(rdd.Coalesce(r, 1), func(_ context.Context, _ int, in iter.Seq[T], yield func(T) bool) error {
		var acc ops.Maybe[T]
		for t := range in {
			if acc.Ok {
				acc.Value = f(acc.Value, t)
			} else {
				acc = ops.Some(t)
			}
		}
		if acc.Ok {
			yield(acc.Value)
		}
		return nil
	})
}

// ReduceByKeyAndWindow returns, every slide, the values of each key over
// the window reduced with f. Each batch is reduced by key once, when it
// enters the window, and each key's value is kept in a state store (package
// state) with its value of each batch in the window: when a batch leaves, the
// keys it held are reduced again from the batches left, and a key with none
// left is dropped. A slide so costs the entering batch and the keys of the
// leaving one (times the window's batches), not the whole window; see
// ReduceByKeyAndWindowInv, which takes leaving values out with an inverse
// instead. f must be associative and commutative. The result is partitioned
// as rdd.ReduceByKey's (Partitions, WithPartitioner). Spark reduces the union
// of the window's batches every slide; the values are the same.
//
// Over a task-partitioned stream (kafka.Keyed), the stores are per task and
// move with it: see TaskPartitioner.
func ReduceByKeyAndWindow[K comparable, V any](s *DStream[ops.KV[K, V]], f func(a, b V) V, length, slide time.Duration, opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, V]] {
	const name = "dstream.ReduceByKeyAndWindow"
	checkFn(s, name, f == nil)
	return reduceWindow(name, s, f, nil, length, slide, nil, opts)
}

// ReduceByKeyAndWindowInv is the incremental ReduceByKeyAndWindow: each
// slide takes the previous window's result, folds in the batches that
// entered with r.Reduce and takes out the batches that left with
// r.Inverse, so a slide costs the entering and leaving batches, not the
// whole window. Keys whose value is taken out entirely stay (with the
// inverse's result, e.g. 0) unless keep is given: then only the pairs for
// which keep returns true stay. keep must only drop keys with nothing left
// in the window: a value still in the window for a dropped key is not taken
// out when it leaves. The result is hash-partitioned (Partitions,
// WithPartitioner as for rdd.ReduceByKey; default: the batch RDD's
// partition count, at most 4 × the engine's parallelism).
//
// The window's running values live in a state store (package state), one
// store per partition, updated in place every slide; each batch is reduced
// once, when it enters. The stream's RDD at a slide is the window's values,
// read from the stores in that slide (kept for a window over it, it is
// copied). A batch that falls between two windows (a window narrower than
// its slide) never enters.
//
// Over a task-partitioned stream (kafka.Keyed), the stores are per task and
// move with it (see TaskPartitioner): each key's entry then also holds its
// reduced value of each batch in the window, which the leaving batches are
// taken out from, since the process may not have seen them.
func ReduceByKeyAndWindowInv[K comparable, V any](s *DStream[ops.KV[K, V]], r ops.InvReducer[V], length, slide time.Duration, keep func(ops.KV[K, V]) bool, opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, V]] {
	const name = "dstream.ReduceByKeyAndWindowInv"
	checkFn(s, name, !r.Valid())
	return reduceWindow(name, s, r.Reduce, r.Inverse, length, slide, keep, opts)
}

// reduceWindow is the windowed reduce named name over s: with reduce, and
// inverse if not nil (ReduceByKeyAndWindowInv), or without (ReduceByKeyAndWindow:
// the window keeps each key's values per batch, see winEntry).
func reduceWindow[K comparable, V any](name string, s *DStream[ops.KV[K, V]], reduce, inverse func(a, b V) V, length, slide time.Duration, keep func(ops.KV[K, V]) bool, opts []rdd.ShuffleOpt[K]) *DStream[ops.KV[K, V]] {
	if s == nil || s.ctx == nil {
		return orphan[ops.KV[K, V]](name)
	}
	checkWindow(name, s, length, slide)
	checkShuffle(s, name, opts)
	perBatch := derive(name, s, func(b *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, V]] {
		if reduce == nil {
			return b // (a construction error is recorded)
		}
		return rdd.ReduceByKey(b, reduce, opts...)
	})
	ks := &keyedStore[K, winEntry[V]]{name: name}
	ks.codec = &storeCodec[K, winEntry[V]]{ // for TaskState: every entry is kept
		encode: func(e winEntry[V]) ([]byte, error) { return checkpoint.Encode(e) },
		decode: func(b []byte) (e winEntry[V], err error) {
			err = checkpoint.Decode(b, &e)
			return e, err
		},
	}
	s.ctx.addStores(ks)
	w := &incWindow[K, V]{name: name, reduce: reduce, inverse: inverse, keep: keep, ks: ks, entered: map[time.Time]*enteredBatch[K, V]{}}
	step := perBatch.slideOr()
	var self *DStream[struct{}]
	// from is the window before t that the stores must hold, zero for the first
	// window, or the first after a restart (windows are rebuilt from their
	// batches, which the restart reads again).
	from := func(t time.Time) time.Time {
		if f := t.Add(-slide); self.validAt(f) && !self.ctx.resumed(f) {
			return f
		}
		return time.Time{}
	}
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[struct{}], error) {
		// The batches entering, oldest first: those in the window (t-length, t]
		// that were not in the previous one.
		lo := t.Add(-length)
		if f := from(t); f.After(lo) {
			lo = f
		}
		var entering []time.Time
		var pairs []*rdd.RDD[ops.KV[K, V]]
		for bt := t; bt.After(lo); bt = bt.Add(-step) {
			p, err := perBatch.rddAt(ctx, bt)
			if err != nil {
				return nil, err
			}
			if p != nil {
				entering, pairs = append(entering, bt), append(pairs, p)
			}
		}
		slices.Reverse(entering)
		slices.Reverse(pairs)
		return w.slide(t, entering, pairs, t.Add(-length))
	})
	self.slide, self.parents = slide, []stream{perBatch}
	self.store = storeStream[K, winEntry[V]]{ks: ks, prev: from}
	self.tasked = true
	markStateful(self)
	// A batch's reduced pairs are read again when they leave the window (unless
	// the window keeps them in its entries).
	keepFor(perBatch, length+slide)
	return newStoreView(self, name, ks, func(e winEntry[V]) V { return e.V })
}

// incWindow is a windowed reduce's state: the stores of its running values and,
// unless the entries keep their batches' values (keepsParts), the batches in the
// window, partitioned like the stores.
type incWindow[K comparable, V any] struct {
	name            string
	reduce, inverse func(a, b V) V // inverse nil: none
	keep            func(ops.KV[K, V]) bool
	ks              *keyedStore[K, winEntry[V]]

	mu sync.Mutex
	// keepsParts is set at the first slide, with the stores' partitioner: the
	// entries hold their batches' values (winEntry.Parts), and the stores' timeout
	// index is by oldest value; else entered holds the batches.
	keepsParts bool
	entered    map[time.Time]*enteredBatch[K, V] // by batch time
}

// enteredBatch is a batch in the window: its reduced pairs, partitioned like the
// stores, and, per partition, the Ref of each pair's entry in the store, in the
// order of the pairs, taken when the batch entered: when it leaves, its pairs reach
// their entries without a lookup (a lookup if the entry has moved since).
type enteredBatch[K comparable, V any] struct {
	pairs *rdd.RDD[ops.KV[K, V]]
	refs  []state.Refs
}

// move updates partition p's store with the partitions ins of the RDDs a slide
// zips.
type move[K comparable, V any] func(ctx context.Context, p int, ins []iter.Seq[ops.KV[K, V]], _ func(struct{}) bool) error

// slide returns the update of the window at t: an RDD whose partition p folds
// the entering batches' pairs of partition p (oldest first) into its store and
// takes out those of the batches entered at or before leaveBy. It is persisted
// (it holds nothing), so each store moves once per slide.
func (w *incWindow[K, V]) slide(t time.Time, entering []time.Time, pairs []*rdd.RDD[ops.KV[K, V]], leaveBy time.Time) (*rdd.RDD[struct{}], error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	part, n := w.ks.partitioning()
	if part == nil {
		if len(pairs) == 0 {
			return nil, fmt.Errorf("%s: window %v: no batch in the first window", w.name, errfmt.Time(t))
		}
		p, ok := rdd.PartitionerOf(pairs[0])
		if !ok {
			return nil, fmt.Errorf("%s: the reduced batch has no partitioner", w.name)
		}
		_, tasks := p.(TaskPartitioner)
		if w.keepsParts = w.inverse == nil || tasks; w.keepsParts {
			w.ks.seen = oldestPart[V]
		}
		w.ks.setPartitioner(pairs[0].Engine(), p)
		part, n = p, p.NumPartitions()
	}
	ins := make([]*rdd.RDD[ops.KV[K, V]], len(pairs))
	for i, p := range pairs {
		ins[i] = rdd.PartitionBy(p, rdd.WithPartitioner(part)) // free when alike
	}
	var f move[K, V]
	if w.keepsParts {
		f = w.moveParts(t, entering, leaveBy)
	} else {
		ins, f = w.moveRefs(t, entering, ins, n, leaveBy)
	}
	var out *rdd.RDD[struct{}]
	if len(ins) == 0 {
		// Nothing enters or leaves (a window narrower than its slide, between
		// batches): the stores only move to the new window.
		empty := rdd.PartitionBy(rdd.Empty[ops.KV[K, V]](w.ks.like.Engine()), rdd.WithPartitioner(part))
		out = rdd.MapPartitions(empty, func(ctx context.Context, p int, _ iter.Seq[ops.KV[K, V]], yield func(struct{}) bool) error {
			return f(ctx, p, nil, yield)
		})
	} else {
		out = rdd.ZipPartitionsN(ins, f)
	}
	return out.Persist(), nil
}

// moveRefs returns the RDDs the slide to t reads and its update of a partition,
// when the window holds its batches (an incremental window with an inverse, over a
// stream that is not task-partitioned): the batches ins, at the times entering,
// enter, and those that entered at or before leaveBy are taken out, their pairs
// reaching their entries through the Refs taken when they entered; n is the
// partition count. w.mu is held.
func (w *incWindow[K, V]) moveRefs(t time.Time, entering []time.Time, ins []*rdd.RDD[ops.KV[K, V]], n int, leaveBy time.Time) ([]*rdd.RDD[ops.KV[K, V]], move[K, V]) {
	var moving []*enteredBatch[K, V] // entering, then leaving
	for i, bt := range entering {
		b := &enteredBatch[K, V]{pairs: ins[i].Persist(), refs: make([]state.Refs, n)}
		w.entered[bt] = b
		moving = append(moving, b)
	}
	nEntering := len(moving)
	for bt, b := range w.entered {
		if !bt.After(leaveBy) {
			moving = append(moving, b)
			delete(w.entered, bt)
		}
	}
	rdds := make([]*rdd.RDD[ops.KV[K, V]], len(moving))
	for i, b := range moving {
		rdds[i] = b.pairs
	}
	var read atomic.Int32 // partitions done: the leaving batches are unpersisted after the last
	return rdds, func(ctx context.Context, p int, ins []iter.Seq[ops.KV[K, V]], _ func(struct{}) bool) error {
		st, err := w.ks.store(p, t)
		if err != nil {
			return err
		}
		type check struct {
			k K
			r state.Ref
		}
		var checks []check // keys keep may drop, once every batch moved
		for i, in := range ins {
			leave := i >= nEntering
			refs := &moving[i].refs[p]
			if !leave {
				*refs = state.Refs{} // (a partition computed again starts over)
			}
			j := 0
			for kv := range warmed(st, in) {
				var r state.Ref
				if leave {
					r = refs.At(j) // the entry of this pair's key when the batch entered
					j++
				}
				drop := false
				r = st.UpdateRef(r, kv.Key, func(cur winEntry[V], ok bool) (winEntry[V], bool) {
					next, kept := w.fold(cur, ok, kv.Value, leave)
					drop = kept && w.drops(kv.Key, next.V)
					return next, kept
				})
				if drop {
					checks = append(checks, check{kv.Key, r})
				}
				if !leave {
					refs.Append(r)
				}
			}
			if leave {
				*refs = state.Refs{} // read: let it go
			}
		}
		for _, c := range checks {
			st.UpdateRef(c.r, c.k, func(cur winEntry[V], ok bool) (winEntry[V], bool) {
				return cur, ok && w.keep(ops.Pair(c.k, cur.V))
			})
		}
		if int(read.Add(1)) == n {
			for _, b := range moving[nEntering:] {
				b.pairs.Unpersist() // every partition has read it
			}
		}
		return cmp.Or(st.Err(), ctx.Err())
	}
}

// moveParts returns the update of a partition for the slide to t when the entries
// keep their batches' values: the batches read (at the times entering, oldest
// first) add their values to their keys' entries, then every key whose oldest value
// is at or before leaveBy (found through the stores' timeout index, by oldest value)
// loses its values of the batches that left, which the inverse takes out of its
// value or, without one, its value is reduced again from the values left (the key
// is dropped with none left).
func (w *incWindow[K, V]) moveParts(t time.Time, entering []time.Time, leaveBy time.Time) move[K, V] {
	until := leaveBy.UnixNano()
	return func(ctx context.Context, p int, ins []iter.Seq[ops.KV[K, V]], _ func(struct{}) bool) error {
		st, err := w.ks.store(p, t)
		if err != nil {
			return err
		}
		idx := w.ks.timeoutsOf(p)
		var checks []K // keys keep would drop, checked again once every batch moved
		for i, in := range ins {
			bt := entering[i].UnixNano()
			for kv := range warmed(st, in) {
				st.Update(kv.Key, func(cur winEntry[V], ok bool) (winEntry[V], bool) {
					if !ok || cur.Parts == nil {
						idx.Touch(kv.Key, bt) // its oldest value now
					}
					cur = w.addPart(cur, ok, winPart[V]{bt, kv.Value})
					if w.drops(kv.Key, cur.V) {
						checks = append(checks, kv.Key)
					}
					return cur, true
				})
			}
		}
		type touch struct {
			k  K
			at int64
		}
		var touches []touch // of the keys whose oldest value changed
		for k, at := range idx.Due(until) {
			if e, ok := st.Get(k); !ok || oldestPart(e) != at {
				continue // gone, or its values moved on since
			}
			st.Update(k, func(cur winEntry[V], _ bool) (winEntry[V], bool) {
				cur, kept := w.dropParts(cur, until)
				if !kept {
					return cur, false // nothing of the key is left in the window
				}
				if ps := cur.parts(); len(ps) > 0 {
					touches = append(touches, touch{k, ps[0].T})
				}
				if w.drops(k, cur.V) {
					checks = append(checks, k)
				}
				return cur, true
			})
		}
		for _, c := range touches {
			idx.Touch(c.k, c.at)
		}
		for _, k := range checks {
			st.DeleteFunc(k, func(e winEntry[V]) bool { return !w.keep(ops.Pair(k, e.V)) })
		}
		return cmp.Or(st.Err(), ctx.Err())
	}
}

// CountByValueAndWindow returns, every slide, how many times each element
// occurs in the window.
func CountByValueAndWindow[T comparable](s *DStream[T], length, slide time.Duration, opts ...rdd.ShuffleOpt[T]) *DStream[ops.KV[T, int64]] {
	pairs := Map(s, func(t T) ops.KV[T, int64] { return ops.Pair(t, int64(1)) })
	return ReduceByKeyAndWindow(pairs, ops.Sum[int64], length, slide, opts...)
}

// GroupByKeyAndWindow returns, every slide, each key's values in the
// window.
func GroupByKeyAndWindow[K comparable, V any](s *DStream[ops.KV[K, V]], length, slide time.Duration, opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, []V]] {
	checkShuffle(s, "dstream.GroupByKeyAndWindow", opts)
	return windowed("dstream.GroupByKeyAndWindow", s, length, slide, func(_ context.Context, _ time.Time, in []*rdd.RDD[ops.KV[K, V]]) (*rdd.RDD[ops.KV[K, []V]], error) {
		return rdd.GroupByKey(union(s.ctx.eng, in), opts...), nil
	})
}
