package dstream

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// ErrStateTimingOut is returned by State.Update and State.Remove on a state
// that is timing out: its key is being removed and its state cannot be
// changed.
var ErrStateTimingOut = errors.New("dstream: cannot update or remove a state that is timing out")

// ErrStateRemoved is returned by State.Update and State.Remove after
// State.Remove in the same call (Spark: "Cannot update the state after it has
// been removed"). The next call, for the key's next record, may set a new
// state.
var ErrStateRemoved = errors.New("dstream: cannot update or remove a state after it has been removed")

// State is the handle a MapWithState function gets for one key's state.
// Update and Remove follow Spark's State, but where Spark throws (failing the
// batch), they return an error and leave the state as it was: the function
// decides what to do.
type State[S any] struct {
	value     S
	exists    bool
	removed   bool // by Remove, in this call
	timingOut bool
}

// Get returns the state and whether it exists.
func (s *State[S]) Get() (S, bool) { return s.value, s.exists }

// Exists reports whether the key has state.
func (s *State[S]) Exists() bool { return s.exists }

// Update sets the state. It fails with ErrStateTimingOut when the state is
// timing out, and with ErrStateRemoved after Remove in the same call.
func (s *State[S]) Update(v S) error {
	if err := s.check(); err != nil {
		return err
	}
	s.value, s.exists = v, true
	return nil
}

// Remove deletes the state, whether or not it exists. It fails with
// ErrStateTimingOut when the state is timing out (it is being removed), and
// with ErrStateRemoved after Remove in the same call, as in Spark.
func (s *State[S]) Remove() error {
	if err := s.check(); err != nil {
		return err
	}
	var zero S
	s.value, s.exists, s.removed = zero, false, true
	return nil
}

// check returns why the state cannot be changed, if it cannot.
func (s *State[S]) check() error {
	switch {
	case s.removed:
		return ErrStateRemoved
	case s.timingOut:
		return ErrStateTimingOut
	}
	return nil
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
//
// Both streams derive from one internal state stream: CheckpointEvery on
// either applies to it. Its state is saved in checkpoints
// (see CheckpointDir) every CheckpointEvery; default: the Context's
// CheckpointInterval if set, else 10 times its slide (the batch interval),
// as Spark's mapWithState.
func MapWithState[K comparable, V, S, U any](s *DStream[ops.KV[K, V]], spec StateSpec[K, V, S, U]) (mapped *DStream[U], snapshots *DStream[ops.KV[K, S]]) {
	const name = "dstream.MapWithState"
	checkFn(s, name, spec.Func == nil)
	if s == nil || s.ctx == nil {
		return orphan[U](name), orphan[ops.KV[K, S]](name)
	}
	if spec.Partitions < 0 || spec.Timeout < 0 {
		s.ctx.invalidf(name, "Partitions %d and Timeout %v must not be negative", spec.Partitions, spec.Timeout)
	}
	conf := stateConf[K, stateEntry[S]]{keys: keysKept}
	if spec.Partitions > 0 {
		conf.opts = []rdd.ShuffleOpt{rdd.Partitions(spec.Partitions)}
	}
	if spec.Initial != nil {
		conf.initial = func(t time.Time) *rdd.RDD[ops.KV[K, stateEntry[S]]] {
			return rdd.MapValues(spec.Initial, func(v S) stateEntry[S] { return stateEntry[S]{Value: v, Seen: t} })
		}
	}
	update := func(_ context.Context, t time.Time, _ int, in iter.Seq[StateInput[K, V, stateEntry[S]]], emit func(ops.KV[K, stateCell[S, U]])) error {
		for g := range in {
			if cell := mapKey(t, g, spec); cell.next.Ok || len(cell.mapped) > 0 {
				emit(ops.Pair(g.Key, cell))
			}
		}
		return nil
	}
	cells := stateStream(s, name, conf, update, nextStates[K, S, U])
	setStateCodec(cells, func(c stateCell[S, U]) (stateEntry[S], bool) { return c.next.Value, c.next.Ok },
		func(e stateEntry[S]) stateCell[S, U] { return stateCell[S, U]{next: ops.Some(e)} }, conf.opts)
	cells.codec.slides = 10
	mapped = derive(name, cells, func(r *rdd.RDD[ops.KV[K, stateCell[S, U]]]) *rdd.RDD[U] {
		return rdd.FlatMap(r, func(kv ops.KV[K, stateCell[S, U]]) []U { return kv.Value.mapped })
	})
	snapshots = derive(name+".Snapshots", cells, func(r *rdd.RDD[ops.KV[K, stateCell[S, U]]]) *rdd.RDD[ops.KV[K, S]] {
		return rdd.MapValues(nextStates(r), func(e stateEntry[S]) S { return e.Value })
	})
	return mapped, snapshots
}

// mapKey calls spec.Func for each of a key's values of batch t, or, if it
// had none and its state has been idle for spec.Timeout, once with None as
// it times out; it returns the key's next state and what Func emitted. The
// State handle is fresh for each call (Spark's StateImpl.wrap): Remove in
// one call does not stop the next from setting a new state.
func mapKey[K comparable, V, S, U any](t time.Time, g StateInput[K, V, stateEntry[S]], spec StateSpec[K, V, S, U]) stateCell[S, U] {
	var st State[S]
	seen := t
	if g.State.Ok {
		st.value, st.exists, seen = g.State.Value.Value, true, g.State.Value.Seen
	}
	var cell stateCell[S, U]
	call := func(v ops.Maybe[V]) {
		st.removed = false
		if m := spec.Func(t, g.Key, v, &st); m.Ok {
			cell.mapped = append(cell.mapped, m.Value)
		}
	}
	for _, v := range g.Values {
		call(ops.Some(v))
	}
	if len(g.Values) > 0 {
		seen = t
	} else if spec.Timeout > 0 && st.exists && t.Sub(seen) >= spec.Timeout {
		st.timingOut = true
		call(ops.None[V]())
		st.exists = false
	}
	if st.exists {
		cell.next = ops.Some(stateEntry[S]{Value: st.value, Seen: seen})
	}
	return cell
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

// stateOf returns the stream whose state s holds: s itself if it is stateful
// with a checkpointed state, the state stream of a MapWithState if s is one
// of the two streams it returns (no other stream derives from it), or nil.
func stateOf(s *streamInfo) *streamInfo {
	if s.codec != nil {
		return s
	}
	if len(s.parents) == 1 {
		if p := s.parents[0].info(); p.codec != nil && p.name == "dstream.MapWithState" {
			return p
		}
	}
	return nil
}
