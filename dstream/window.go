package dstream

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
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
// persisted copy of the tables. Each batch is reduced once; where each of
// its keys went in the table when it entered is remembered, so that taking
// it out when it leaves needs no lookup. A batch that falls between two
// windows (a window narrower than its slide) never enters.
func ReduceByKeyAndWindowInv[K comparable, V any](s *DStream[ops.KV[K, V]], r ops.InvReducer[V], length, slide time.Duration, keep func(ops.KV[K, V]) bool, opts ...rdd.ShuffleOpt) *DStream[ops.KV[K, V]] {
	const name = "dstream.ReduceByKeyAndWindowInv"
	checkFn(s, name, !r.Valid())
	if s == nil || s.ctx == nil {
		return orphan[ops.KV[K, V]](name)
	}
	checkWindow(name, s, length, slide)
	perBatch := derive(name, s, func(b *rdd.RDD[ops.KV[K, V]]) *rdd.RDD[ops.KV[K, V]] {
		return rdd.ReduceByKey(b, r.Reduce, opts...)
	})
	w := &incWindow[K, V]{name: name, r: r, keep: keep, entered: map[time.Time]*entry[K, V]{}}
	step := perBatch.slideOr()
	var self *DStream[ops.KV[K, V]]
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, V]], error) {
		from := t.Add(-slide)
		if !self.validAt(from) || self.ctx.resumed(from) {
			from = time.Time{} // the first window, or the first after a restart
		}
		// The batches entering: those in the window (t-length, t] that were
		// not in the previous one.
		lo := t.Add(-length)
		if from.After(lo) {
			lo = from
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
		return w.slide(from, t, entering, pairs, t.Add(-length))
	})
	self.slide, self.parents = slide, []stream{perBatch}
	markStateful(self)
	// A batch's reduced pairs are read again when they leave the window.
	keepFor(perBatch, length+slide)
	return self
}

// incWindow is an incremental window's state: one table per partition, and
// the batches in the window with where their keys went in the tables.
type incWindow[K comparable, V any] struct {
	name string
	r    ops.InvReducer[V]
	keep func(ops.KV[K, V]) bool

	mu      sync.Mutex
	like    *rdd.RDD[ops.KV[K, V]] // the first batch's pairs: the tables' partitioning
	tables  []windowTable[K, V]
	entered map[time.Time]*entry[K, V] // by batch time
}

// entry is a batch in the window: its reduced pairs and, per partition, the
// slot each pair went to (filled when it entered).
type entry[K comparable, V any] struct {
	pairs *rdd.RDD[ops.KV[K, V]]
	owned bool // pairs was made here (not the batch's RDD, which its stream unpersists)
	slots [][]slotRef
	read  atomic.Int32 // partitions read while leaving
}

// slotRef is a table slot and the epoch it had: a slot freed (keep dropped
// its key) and reused has a new epoch.
type slotRef struct {
	slot  int32
	epoch uint32
}

type windowTable[K comparable, V any] struct {
	at      time.Time // the window time the table holds; zero: empty
	broken  bool      // an update failed midway: the table is unusable
	index   map[K]int32
	entries []slotEntry[K, V]
	free    []int32
}

type slotEntry[K comparable, V any] struct {
	kv    ops.KV[K, V]
	live  bool
	epoch uint32
}

// slide returns the window at t: an RDD whose partition p moves table p
// from the window at from to the window at t, adding the entering batches'
// pairs and taking out those of the batches entered at or before leaveBy,
// and emits a copy of the table. It is persisted, so each table moves once
// per slide (the Context computes a stateful stream's RDDs fully, in batch
// order).
func (w *incWindow[K, V]) slide(from, t time.Time, entering []time.Time, pairs []*rdd.RDD[ops.KV[K, V]], leaveBy time.Time) (*rdd.RDD[ops.KV[K, V]], error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.like == nil {
		if len(pairs) == 0 {
			return nil, fmt.Errorf("%s: window %v: no batch in the first window", w.name, t)
		}
		w.like = pairs[0]
	}
	popts := []rdd.ShuffleOpt{rdd.PartitionedLike(w.like)}
	n := w.like.NumPartitions()
	if w.tables == nil {
		w.tables = make([]windowTable[K, V], n)
	}
	var ins, entered []*rdd.RDD[ops.KV[K, V]]
	var enteredE []*entry[K, V]
	for i, bt := range entering {
		p := rdd.PartitionBy(pairs[i], popts...).Persist() // free when alike
		e := &entry[K, V]{pairs: p, owned: p != pairs[i], slots: make([][]slotRef, n)}
		w.entered[bt] = e
		entered, enteredE = append(entered, p), append(enteredE, e)
	}
	var leaving []*entry[K, V]
	for bt, e := range w.entered {
		if !bt.After(leaveBy) {
			leaving = append(leaving, e)
			ins = append(ins, e.pairs)
			delete(w.entered, bt)
		}
	}
	ins = append(entered, ins...)
	move := func(p int, ins []iter.Seq[ops.KV[K, V]], emit func(ops.KV[K, V])) error {
		tb := &w.tables[p] // only this partition's task touches it
		if tb.broken || !tb.at.Equal(from) {
			return fmt.Errorf("%s: window %v: partition %d holds the window at %v, want %v (a slide computed out of order?)", w.name, t, p, tb.at, from)
		}
		tb.broken = true // until the update completes
		var rejected []int32
		for k, e := range enteredE {
			slots := make([]slotRef, 0, 1024)
			for kv := range ins[k] {
				i, ok := tb.index[kv.Key]
				if ok {
					tb.entries[i].kv.Value = w.r.Reduce(tb.entries[i].kv.Value, kv.Value)
				} else {
					i = tb.add(kv)
				}
				slots = append(slots, slotRef{i, tb.entries[i].epoch})
				if w.keep != nil && !w.keep(tb.entries[i].kv) {
					rejected = append(rejected, i)
				}
			}
			e.slots[p] = slots
		}
		for k, e := range leaving {
			refs, j := e.slots[p], 0
			for kv := range ins[len(enteredE)+k] {
				ref := refs[j]
				j++
				se := &tb.entries[ref.slot]
				if !se.live || se.epoch != ref.epoch || se.kv.Key != kv.Key {
					continue // keep dropped the key: nothing is left to take out
				}
				se.kv.Value = w.r.Inverse(se.kv.Value, kv.Value)
				if w.keep != nil && !w.keep(se.kv) {
					rejected = append(rejected, ref.slot)
				}
			}
			if int(e.read.Add(1)) == n && e.owned {
				e.pairs.Unpersist() // every partition has read it
			}
		}
		for _, i := range rejected {
			if se := &tb.entries[i]; se.live && !w.keep(se.kv) {
				tb.remove(i)
			}
		}
		tb.broken, tb.at = false, t
		for i := range tb.entries {
			if tb.entries[i].live {
				emit(tb.entries[i].kv)
			}
		}
		return nil
	}
	var out *rdd.RDD[ops.KV[K, V]]
	if len(ins) == 0 {
		// Nothing enters or leaves (a window narrower than its slide, between
		// batches): the table is only copied.
		out = rdd.MapPartitions(rdd.PartitionBy(rdd.Parallelize(w.like.Engine(), []ops.KV[K, V](nil), n), popts...),
			func(_ context.Context, p int, _ iter.Seq[ops.KV[K, V]], emit func(ops.KV[K, V])) error {
				return move(p, nil, emit)
			})
	} else {
		out = rdd.ZipPartitionsN(ins, func(_ context.Context, p int, ins []iter.Seq[ops.KV[K, V]], emit func(ops.KV[K, V])) error {
			return move(p, ins, emit)
		})
	}
	return rdd.PreservesPartitioning(out, w.like).Persist(), nil
}

// add puts a new key in a free slot, or a new one, and returns the slot.
func (tb *windowTable[K, V]) add(kv ops.KV[K, V]) int32 {
	if tb.index == nil {
		tb.index = map[K]int32{}
	}
	var i int32
	if n := len(tb.free); n > 0 {
		i, tb.free = tb.free[n-1], tb.free[:n-1]
		tb.entries[i].kv, tb.entries[i].live = kv, true
	} else {
		i = int32(len(tb.entries))
		tb.entries = append(tb.entries, slotEntry[K, V]{kv: kv, live: true})
	}
	tb.index[kv.Key] = i
	return i
}

// remove frees slot i; its epoch moves on, so old references to it are
// recognised.
func (tb *windowTable[K, V]) remove(i int32) {
	se := &tb.entries[i]
	delete(tb.index, se.kv.Key)
	var zero ops.KV[K, V]
	se.kv, se.live = zero, false
	se.epoch++
	tb.free = append(tb.free, i)
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
