package dstream

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/state"
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

// StateSpec is what MapWithState does with each key's state (Spark's
// StateSpec): the mapping function, and optionally an idle timeout and an
// initial state. Make one with NewStateSpec, which infers its types from the
// function; Timeout and InitialState return a copy with that setting. How the
// state is partitioned is given to MapWithState as ShuffleOpts, as to
// UpdateStateByKey. A StateSpec is a value: setting a copy does not change
// the original.
type StateSpec[K comparable, V, S, U any] struct {
	fn      func(t time.Time, key K, value ops.Maybe[V], state *State[S]) ops.Maybe[U]
	timeout time.Duration
	initial *rdd.RDD[ops.KV[K, S]]
	bad     []string // invalid settings, reported by MapWithState
}

// NewStateSpec returns the StateSpec of f, the function MapWithState calls
// once per record of the batch, with Some(value), and once for each key
// timing out, with None; what it returns, if Ok, is emitted on the mapped
// stream. f must not be nil.
func NewStateSpec[K comparable, V, S, U any](f func(t time.Time, key K, value ops.Maybe[V], state *State[S]) ops.Maybe[U]) StateSpec[K, V, S, U] {
	return StateSpec[K, V, S, U]{fn: f}
}

// Timeout returns spec with an idle timeout: the state of a key that received
// no record for d is removed, after a last call of the function with
// IsTimingOut. d must be > 0. Default: none, a state never times out.
func (spec StateSpec[K, V, S, U]) Timeout(d time.Duration) StateSpec[K, V, S, U] {
	if d <= 0 {
		spec.bad = append(slices.Clip(spec.bad), fmt.Sprintf("StateSpec.Timeout(%v), want > 0", d))
	}
	spec.timeout = d
	return spec
}

// InitialState returns spec with the state before the first batch (Spark's
// initialState); r must not be nil. A job resumed from a checkpoint starts
// from the restored state instead. Default: none.
func (spec StateSpec[K, V, S, U]) InitialState(r *rdd.RDD[ops.KV[K, S]]) StateSpec[K, V, S, U] {
	if r == nil {
		spec.bad = append(slices.Clip(spec.bad), "StateSpec.InitialState(nil), want an RDD")
	}
	spec.initial = r
	return spec
}

// stateEntry is one key's stored state and when it last received data (a batch
// time in Unix nanoseconds: 8 bytes, not a time.Time's 24).
type stateEntry[S any] struct {
	Value S
	Seen  int64
}

// MapWithState keeps a state per key across batches and maps each record
// with it (Spark's mapWithState). It returns the stream of what spec's
// function emitted and the stream of state snapshots (every key's state
// after each batch). Only keys with data call the function, and keys whose
// state has been idle for the spec's Timeout once more as they time out: a
// batch costs its records and the timeouts due, not the whole state. Timeouts
// are found without scanning the state: keys are indexed by the batch that
// last touched them.
//
//	track := func(_ time.Time, user string, click ops.Maybe[int], session *dstream.State[int]) ops.Maybe[string] { … }
//	mapped, snapshots := dstream.MapWithState(clicks, dstream.NewStateSpec(track).Timeout(30*time.Minute))
//
// The state lives in a state store (package state): one store per state
// partition, hash-partitioned (Partitions, WithPartitioner; default: as for
// rdd.ReduceByKey, the first batch's partition count, at most 4 × the
// engine's parallelism), updated in place by the task that owns the
// partition; each batch's data is partitioned the same way, so the state
// never moves. The snapshots are read from the stores in their batch (a
// window over them copies each).
//
// Both streams derive from one state: CheckpointEvery and Named on either
// apply to it. Its state is saved in checkpoints (see CheckpointDir) every
// CheckpointEvery; default: the Context's CheckpointInterval if set, else 10
// times its slide (the batch interval), as Spark's mapWithState.
func MapWithState[K comparable, V, S, U any](s *DStream[ops.KV[K, V]], spec StateSpec[K, V, S, U], opts ...rdd.ShuffleOpt[K]) (mapped *DStream[U], snapshots *DStream[ops.KV[K, S]]) {
	const name = "dstream.MapWithState"
	checkFn(s, name, spec.fn == nil)
	checkShuffle(s, name, opts)
	if s == nil || s.ctx == nil {
		return orphan[U](name), orphan[ops.KV[K, S]](name)
	}
	for _, bad := range spec.bad {
		s.ctx.invalidf(name, "%s", bad)
	}
	ks := &keyedStore[K, stateEntry[S]]{}
	if spec.timeout > 0 {
		ks.seen = func(e stateEntry[S]) int64 { return e.Seen }
	}
	var initial func(time.Time) *rdd.RDD[ops.KV[K, stateEntry[S]]]
	if spec.initial != nil {
		initial = func(t time.Time) *rdd.RDD[ops.KV[K, stateEntry[S]]] {
			return rdd.MapValues(spec.initial, func(v S) stateEntry[S] { return stateEntry[S]{Value: v, Seen: t.UnixNano()} })
		}
	}
	apply := func(ctx context.Context, t time.Time, st *state.Store[K, stateEntry[S]], p int, in iter.Seq[ops.KV[K, V]], emit func(U)) error {
		tn := t.UnixNano()
		idx := ks.timeoutsOf(p)
		in = warmed(st, in)
		for kv := range in {
			st.Update(kv.Key, func(e stateEntry[S], ok bool) (stateEntry[S], bool) {
				// The handle is fresh for each call (Spark's StateImpl.wrap): Remove
				// in one call does not stop the next from setting a new state.
				h := State[S]{value: e.Value, exists: ok}
				if m := spec.fn(t, kv.Key, ops.Some(kv.Value), &h); m.Ok {
					emit(m.Value)
				}
				if h.exists && idx != nil && (!ok || e.Seen != tn) {
					idx.Touch(kv.Key, tn)
				}
				return stateEntry[S]{Value: h.value, Seen: tn}, h.exists
			})
		}
		if idx == nil {
			return nil
		}
		i := 0
		for k, at := range idx.Due(tn - spec.timeout.Nanoseconds()) {
			if i++; i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			st.DeleteFunc(k, func(e stateEntry[S]) bool {
				if e.Seen != at {
					return false // touched since
				}
				h := State[S]{value: e.Value, exists: true, timingOut: true}
				if m := spec.fn(t, k, ops.None[V](), &h); m.Ok {
					emit(m.Value)
				}
				return true
			})
		}
		return nil
	}
	mapped = newStoreStream(s, name, ks, opts, initial, partitionBatch[K, V], apply)
	setStoreCodec(mapped, ks, func(e stateEntry[S]) (stateEntry[S], bool) { return e, true },
		func(e stateEntry[S]) stateEntry[S] { return e }, opts)
	mapped.codec.slides = 10
	snapshots = newStoreView(mapped, name+".Snapshots", ks, func(e stateEntry[S]) S { return e.Value })
	return mapped, snapshots
}

// partitionBatch partitions a batch by opts.
func partitionBatch[K comparable, V any](batch *rdd.RDD[ops.KV[K, V]], opts ...rdd.ShuffleOpt[K]) *rdd.RDD[ops.KV[K, V]] {
	return rdd.PartitionBy(batch, opts...)
}

// stateOf returns the stream whose state s holds: s itself if it is stateful
// with a checkpointed state, the stream holding the state s is a view of
// (UpdateStateByKey's stream, MapWithState's snapshots), or nil.
func stateOf(s *streamInfo) *streamInfo {
	switch {
	case s.codec != nil || s.tasked:
		return s
	case s.stateOwner != nil:
		return s.stateOwner
	}
	return nil
}
