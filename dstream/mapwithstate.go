package dstream

import (
	"context"
	"errors"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// ErrStateTimingOut is returned by State.Update on a state that is timing
// out: its key is being removed and cannot be updated.
var ErrStateTimingOut = errors.New("dstream: cannot update a state that is timing out")

// State is the handle a MapWithState function gets for one key's state.
type State[S any] struct {
	value     S
	exists    bool
	updated   bool
	removed   bool
	timingOut bool
}

// Get returns the state and whether it exists.
func (s *State[S]) Get() (S, bool) { return s.value, s.exists }

// Exists reports whether the key has state.
func (s *State[S]) Exists() bool { return s.exists }

// Update sets the state. It fails with ErrStateTimingOut when the state is
// timing out.
func (s *State[S]) Update(v S) error {
	if s.timingOut {
		return ErrStateTimingOut
	}
	s.value, s.exists, s.updated, s.removed = v, true, true, false
	return nil
}

// Remove deletes the state.
func (s *State[S]) Remove() {
	var zero S
	s.value, s.exists, s.removed, s.updated = zero, false, true, false
}

// IsTimingOut reports whether the call is the last one for a key whose
// state has been idle for the spec's Timeout: the value is None and the
// state is removed after the call.
func (s *State[S]) IsTimingOut() bool { return s.timingOut }

// StateSpec configures MapWithState (Spark's StateSpec).
type StateSpec[K comparable, V, S, U any] struct {
	// Func is called once per record of the batch, with Some(value), and
	// once for each key timing out, with None; what it returns, if Ok, is
	// emitted on the mapped stream. Required.
	Func func(t time.Time, key K, value ops.Maybe[V], state *State[S]) ops.Maybe[U]
	// Timeout removes the state of a key that received no record for this
	// long, after a last call with IsTimingOut. Default 0: never.
	Timeout time.Duration
	// Initial is the state before the first batch. Default: none.
	Initial *rdd.RDD[ops.KV[K, S]]
	// Partitions is the number of state partitions. Default: the first
	// batch's partition count.
	Partitions int
}

// stateEntry is one key's stored state and when it last received data.
type stateEntry[S any] struct {
	Value S
	Seen  time.Time
}

// stateCell is one key's result for a batch: its next state, if any, and
// what the function emitted.
type stateCell[S, U any] struct {
	next   ops.Maybe[stateEntry[S]]
	mapped []U
}

// MapWithState keeps a state per key across batches and maps each record
// with it (Spark's mapWithState). It returns the stream of what
// spec.Func emitted and the stream of state snapshots (every key's state
// after each batch). Like UpdateStateByKey, the state is partitioned like
// the batch data it is joined with, never shuffled, and cut from its
// lineage every batch; unlike it, only keys with data (or timing out) call
// the function.
func MapWithState[K comparable, V, S, U any](s *DStream[ops.KV[K, V]], spec StateSpec[K, V, S, U]) (mapped *DStream[U], snapshots *DStream[ops.KV[K, S]]) {
	const name = "dstream.MapWithState"
	checkFn(s, name, spec.Func == nil)
	if s == nil || s.ctx == nil {
		return orphan[U](name), orphan[ops.KV[K, S]](name)
	}
	if spec.Partitions < 0 || spec.Timeout < 0 {
		s.ctx.invalidf(name, "Partitions %d and Timeout %v must not be negative", spec.Partitions, spec.Timeout)
	}
	var cells *DStream[ops.KV[K, stateCell[S, U]]]
	cells = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, stateCell[S, U]]], error) {
		batch, err := s.rddAt(ctx, t)
		if err != nil {
			return nil, err
		}
		if batch == nil {
			batch = rdd.Empty[ops.KV[K, V]](s.ctx.eng)
		}
		var prev *rdd.RDD[ops.KV[K, stateEntry[S]]]
		if pt := t.Add(-cells.slideOr()); cells.validAt(pt) {
			pc, err := cells.rddAt(ctx, pt)
			if err != nil {
				return nil, err
			}
			prev = nextStates(cut(ctx, pc))
		}
		var opts []rdd.ShuffleOpt
		switch {
		case prev != nil:
			opts = []rdd.ShuffleOpt{rdd.PartitionedLike(prev)}
		case spec.Partitions > 0:
			opts = []rdd.ShuffleOpt{rdd.Partitions(spec.Partitions)}
		}
		if prev == nil {
			prev = rdd.Empty[ops.KV[K, stateEntry[S]]](s.ctx.eng)
			if spec.Initial != nil {
				prev = rdd.MapValues(spec.Initial, func(v S) stateEntry[S] { return stateEntry[S]{Value: v, Seen: t} })
			}
		}
		grouped := rdd.CoGroup(batch, prev, opts...)
		return rdd.MapValuesWithKey(grouped, func(k K, g ops.CoGrouped[V, stateEntry[S]]) stateCell[S, U] {
			var st State[S]
			seen := t
			if len(g.Right) > 0 {
				st.value, st.exists, seen = g.Right[0].Value, true, g.Right[0].Seen
			}
			var cell stateCell[S, U]
			emit := func(m ops.Maybe[U]) {
				if m.Ok {
					cell.mapped = append(cell.mapped, m.Value)
				}
			}
			for _, v := range g.Left {
				emit(spec.Func(t, k, ops.Some(v), &st))
			}
			if len(g.Left) > 0 {
				seen = t
			} else if spec.Timeout > 0 && st.exists && t.Sub(seen) >= spec.Timeout {
				st.timingOut = true
				emit(spec.Func(t, k, ops.None[V](), &st))
				st.exists = false
			}
			if st.exists {
				cell.next = ops.Some(stateEntry[S]{Value: st.value, Seen: seen})
			}
			return cell
		}).Persist(), nil
	})
	cells.slide, cells.parents = s.slide, []stream{s}
	markStateful(cells)
	var popts []rdd.ShuffleOpt
	if spec.Partitions > 0 {
		popts = []rdd.ShuffleOpt{rdd.Partitions(spec.Partitions)}
	}
	setStateCodec(cells, func(c stateCell[S, U]) (stateEntry[S], bool) { return c.next.Value, c.next.Ok },
		func(e stateEntry[S]) stateCell[S, U] { return stateCell[S, U]{next: ops.Some(e)} }, popts)
	keepFor(cells, cells.slideOr())
	mapped = derive(name, cells, func(r *rdd.RDD[ops.KV[K, stateCell[S, U]]]) *rdd.RDD[U] {
		return rdd.FlatMap(r, func(kv ops.KV[K, stateCell[S, U]]) []U { return kv.Value.mapped })
	})
	snapshots = derive(name+".Snapshots", cells, func(r *rdd.RDD[ops.KV[K, stateCell[S, U]]]) *rdd.RDD[ops.KV[K, S]] {
		return rdd.MapValues(nextStates(r), func(e stateEntry[S]) S { return e.Value })
	})
	return mapped, snapshots
}

// nextStates returns the keys' next states from a batch's cells, keeping
// the partitioner.
func nextStates[K comparable, S, U any](r *rdd.RDD[ops.KV[K, stateCell[S, U]]]) *rdd.RDD[ops.KV[K, stateEntry[S]]] {
	return rdd.FlatMapValues(r, func(c stateCell[S, U]) []stateEntry[S] {
		if c.next.Ok {
			return []stateEntry[S]{c.next.Value}
		}
		return nil
	})
}
