package dstream

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/state"
)

// UpdateStateByKey keeps a state per key across batches (Spark's
// updateStateByKey): every batch, update gets each key's new values (empty
// if the key had none this batch) and its previous state (None for a new
// key), and returns the new state, or None to drop the key.
//
// As in Spark, update runs for every key with state, every batch: a batch
// costs the whole state (one call per key, where the key's state lies, and,
// for the batch's rollback and the next delta checkpoint, a copy of the
// previous value of each key whose state changed), whatever the batch holds.
// A state that holds references (pointers, maps, slices) counts as changed
// whenever update returns it: what it refers to may have changed. When keys
// without new values keep their state as it is, use UpdateStateByKeyWith
// with OnlyValues, which costs only the keys of the batch.
//
// The state lives in a state store (package state): one store per state
// partition, hash-partitioned (Partitions, WithPartitioner; default: as for
// rdd.ReduceByKey, the batch's partition count, at most 4 × the engine's
// parallelism), updated in place by the task that owns the
// partition; each batch's data is partitioned the same way, so the state
// itself never moves. The stream's RDD at a batch is every key's state after
// it, read from the stores in that batch (kept for windows, it is copied).
//
// Its state is saved in checkpoints (see CheckpointDir) every
// CheckpointEvery; default: the larger of its slide and 10s, as in Spark.
// For the batch time and the key, an initial state or a function over whole
// partitions, use UpdateStateByKeyWith.
func UpdateStateByKey[K comparable, V, S any](s *DStream[ops.KV[K, V]], update func(values []V, state ops.Maybe[S]) ops.Maybe[S], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, S]] {
	var spec UpdateSpec[K, V, S]
	if update != nil {
		spec.fn = func(_ time.Time, _ K, values []V, state ops.Maybe[S]) ops.Maybe[S] { return update(values, state) }
	}
	return updateStateByKey("dstream.UpdateStateByKey", s, spec, opts)
}

// UpdateSpec is how UpdateStateByKeyWith turns the keys' values and previous
// states into their new states: a function per key (NewUpdateSpec) or per
// state partition (NewPartitionUpdateSpec), and optionally an initial state
// and the choices of each kind of function (OnlyValues, RepartitionState).
// The constructors infer the spec's types from the function; the methods
// return a copy with that setting. How the state is partitioned is given to
// UpdateStateByKeyWith as ShuffleOpts, as to UpdateStateByKey and
// MapWithState. An UpdateSpec is a value: setting a copy does not change the
// original.
type UpdateSpec[K comparable, V, S any] struct {
	fn          func(t time.Time, key K, values []V, state ops.Maybe[S]) ops.Maybe[S]
	pfn         func(ctx context.Context, t time.Time, part int, in iter.Seq[StateInput[K, V, S]], yield func(ops.KV[K, S]) bool) error
	initial     *rdd.RDD[ops.KV[K, S]]
	repartition bool
	onlyValues  bool
	bad         []string // invalid settings, reported by UpdateStateByKeyWith
}

// NewUpdateSpec returns the UpdateSpec of f, which returns a key's new state
// from the batch time, the key, its values of the batch (empty if it had
// none) and its previous state (None for a new key), or None to drop the key
// (Spark's updateStateByKey with a (Time, K, Seq[V], Option[S]) function). It
// runs for every key with state or values, every batch (see OnlyValues). f
// must not be nil.
func NewUpdateSpec[K comparable, V, S any](f func(t time.Time, key K, values []V, state ops.Maybe[S]) ops.Maybe[S]) UpdateSpec[K, V, S] {
	return UpdateSpec[K, V, S]{fn: f}
}

// NewPartitionUpdateSpec returns the UpdateSpec of f, which updates one state
// partition at a time (Spark's updateStateByKey with an iterator function):
// in yields, once each, every key of partition part with state or values
// this batch (a single-use iterator), and what f passes to yield is the
// partition's new state: a key it does not yield is dropped. It must yield a
// key at most once, and, unless RepartitionState is set, only keys of its
// partition (the keys of in are): another key, or a key twice, fails the
// batch, and from then on yield returns false. f should then return: the
// batch fails either way. An error it returns fails the batch; ctx is done
// when the job is cancelled. f must not be nil.
func NewPartitionUpdateSpec[K comparable, V, S any](f func(ctx context.Context, t time.Time, part int, in iter.Seq[StateInput[K, V, S]], yield func(ops.KV[K, S]) bool) error) UpdateSpec[K, V, S] {
	return UpdateSpec[K, V, S]{pfn: f}
}

// InitialState returns spec with the state before the first batch: its keys
// go through the first batch's update with that batch's values (Spark's
// initialRDD); r must not be nil. A job resumed from a checkpoint starts from
// the restored state and does not apply it again. Default: none.
func (spec UpdateSpec[K, V, S]) InitialState(r *rdd.RDD[ops.KV[K, S]]) UpdateSpec[K, V, S] {
	if r == nil {
		spec.bad = append(slices.Clip(spec.bad), "UpdateSpec.InitialState(nil), want an RDD")
	}
	spec.initial = r
	return spec
}

// OnlyValues returns spec, of NewUpdateSpec, with its function run only for
// the keys with values in the batch: the other keys keep their state, and
// the batch costs its own keys, not the whole state (Spark has no such
// variant: its function runs for every key). A partition function gets every
// key of its partition: with one, OnlyValues is invalid. Default: off.
func (spec UpdateSpec[K, V, S]) OnlyValues() UpdateSpec[K, V, S] {
	if spec.pfn != nil {
		spec.bad = append(slices.Clip(spec.bad), "UpdateSpec.OnlyValues is for the function of NewUpdateSpec: a partition function gets every key of its partition")
	}
	spec.onlyValues = true
	return spec
}

// RepartitionState returns spec, of NewPartitionUpdateSpec, with its
// partition function free to yield any key, such as keys it renames: a key
// of another partition moves to that partition's store after the batch's
// update (Spark's rememberPartitioner = false). The function of
// NewUpdateSpec cannot change keys: with one, RepartitionState is invalid.
// Default: off, the state never moves.
func (spec UpdateSpec[K, V, S]) RepartitionState() UpdateSpec[K, V, S] {
	if spec.fn != nil {
		spec.bad = append(slices.Clip(spec.bad), "UpdateSpec.RepartitionState is for a partition function (NewPartitionUpdateSpec), which may change keys: the function of NewUpdateSpec cannot")
	}
	spec.repartition = true
	return spec
}

// StateInput is one key's input to the partition function of an UpdateSpec
// (NewPartitionUpdateSpec): its values
// of the batch (empty if it had none) and its previous state (None for a new
// key).
type StateInput[K comparable, V, S any] struct {
	Key    K
	Values []V
	State  ops.Maybe[S]
}

// UpdateStateByKeyWith is UpdateStateByKey with the choices Spark's
// updateStateByKey offers (see UpdateSpec): a function of the batch time and
// the key too, or one over whole partitions; an initial state. The state is
// partitioned by opts, as UpdateStateByKey's. The stream is named
// "dstream.UpdateStateByKey", like UpdateStateByKey's, so that a job moving
// from one to the other resumes from its checkpoints.
//
//	counts := dstream.UpdateStateByKeyWith(pairs, dstream.NewUpdateSpec(update).OnlyValues(), rdd.Partitions[string](8))
func UpdateStateByKeyWith[K comparable, V, S any](s *DStream[ops.KV[K, V]], spec UpdateSpec[K, V, S], opts ...rdd.ShuffleOpt[K]) *DStream[ops.KV[K, S]] {
	const op = "dstream.UpdateStateByKeyWith"
	if s != nil && s.ctx != nil {
		for _, bad := range spec.bad {
			s.ctx.invalidf(op, "%s", bad)
		}
	}
	return updateStateByKey(op, s, spec, opts)
}

// updateStateByKey is UpdateStateByKey and UpdateStateByKeyWith: op names the
// function called, for construction errors.
func updateStateByKey[K comparable, V, S any](op string, s *DStream[ops.KV[K, V]], spec UpdateSpec[K, V, S], opts []rdd.ShuffleOpt[K]) *DStream[ops.KV[K, S]] {
	const name = "dstream.UpdateStateByKey"
	checkFn(s, op, spec.fn == nil && spec.pfn == nil)
	checkShuffle(s, op, opts)
	if s == nil || s.ctx == nil {
		return orphan[ops.KV[K, S]](name)
	}
	ks := &keyedStore[K, S]{}
	var initial func(time.Time) *rdd.RDD[ops.KV[K, S]]
	if spec.initial != nil {
		initial = func(time.Time) *rdd.RDD[ops.KV[K, S]] { return spec.initial }
	}
	var apply func(ctx context.Context, t time.Time, st *state.Store[K, S], p int, in iter.Seq[ops.KV[K, []V]], emit func(struct{})) error
	switch {
	case spec.fn != nil && spec.onlyValues:
		apply = func(_ context.Context, t time.Time, st *state.Store[K, S], _ int, in iter.Seq[ops.KV[K, []V]], _ func(struct{})) error {
			for kv := range warmed(st, in) {
				st.Update(kv.Key, func(cur S, ok bool) (S, bool) {
					next := spec.fn(t, kv.Key, kv.Value, maybe(cur, ok))
					return next.Value, next.Ok
				})
			}
			return nil
		}
	case spec.fn != nil:
		// Every key of the state, joined with the batch's: the batch's keys are
		// looked up once, the state's are updated where they are (UpdateAll), and
		// a key whose (plain) state does not change costs no write.
		apply = func(ctx context.Context, t time.Time, st *state.Store[K, S], _ int, in iter.Seq[ops.KV[K, []V]], _ func(struct{})) error {
			batch := slices.Collect(warmed(st, in))
			keys := make([]K, len(batch))
			for i, kv := range batch {
				keys[i] = kv.Key
			}
			n := 0
			return st.UpdateAll(keys, func(k K, i int, cur S, ok bool) (S, bool, error) {
				if n++; n%4096 == 0 && ctx.Err() != nil {
					return cur, ok, ctx.Err()
				}
				var vs []V
				if i >= 0 {
					vs = batch[i].Value
				}
				next := spec.fn(t, k, vs, maybe(cur, ok))
				return next.Value, next.Ok, nil
			})
		}
	default:
		apply = partitionUpdate(name, ks, spec)
	}
	self := newStoreStream(s, name, ks, opts, initial, groupValues[K, V], apply)
	setStoreCodec(self, ks, func(v S) (S, bool) { return v, true }, func(v S) S { return v }, opts)
	return newStoreView(self, name, ks, ops.Identity[S])
}

// groupValues partitions a batch by opts and groups each key's values.
func groupValues[K comparable, V any](batch *rdd.RDD[ops.KV[K, V]], opts ...rdd.ShuffleOpt[K]) *rdd.RDD[ops.KV[K, []V]] {
	return rdd.GroupByKey(batch, opts...)
}

func maybe[S any](v S, ok bool) ops.Maybe[S] {
	if ok {
		return ops.Some(v)
	}
	return ops.None[S]()
}

// putNew sets k's value to v unless k has a value (dup: then nothing changes), with
// one lookup of k.
func putNew[K comparable, S any](st *state.Store[K, S], k K, v S) (dup bool) {
	st.Update(k, func(cur S, ok bool) (S, bool) {
		if ok {
			dup = true
			return cur, true
		}
		return v, true
	})
	return dup
}

// partitionUpdate returns the update of a partition function: it gets every key of
// its partition with state or values, and what it yields is the partition's new state. A
// key yielded twice fails the batch; so does a key of another partition, unless
// RepartitionState, when it moves to its partition's store once every partition is
// updated (ks.afterApply).
func partitionUpdate[K comparable, V, S any](name string, ks *keyedStore[K, S], spec UpdateSpec[K, V, S]) func(context.Context, time.Time, *state.Store[K, S], int, iter.Seq[ops.KV[K, []V]], func(struct{})) error {
	var moved [][]ops.KV[K, S] // per partition: the keys it yielded for others
	var movedMu sync.Mutex
	if spec.repartition {
		ks.afterApply = func(t time.Time) error {
			movedMu.Lock()
			defer movedMu.Unlock()
			for _, kvs := range moved {
				for _, kv := range kvs {
					part, _ := ks.partitioning()
					st, err := ks.store(part.Partition(kv.Key), t)
					if err != nil {
						return err
					}
					if dup := putNew(st, kv.Key, kv.Value); dup {
						return fmt.Errorf("%s: key %v was yielded twice, by two partitions", name, kv.Key)
					}
				}
			}
			moved = nil
			return nil
		}
	}
	return func(ctx context.Context, t time.Time, st *state.Store[K, S], p int, in iter.Seq[ops.KV[K, []V]], _ func(struct{})) error {
		part, _ := ks.partitioning()
		values := map[K][]V{}
		for kv := range in {
			values[kv.Key] = kv.Value
		}
		inputs := func(yield func(StateInput[K, V, S]) bool) {
			for k, cur := range st.All() {
				if !yield(StateInput[K, V, S]{Key: k, Values: values[k], State: ops.Some(cur)}) {
					return
				}
			}
			for k, vs := range values {
				if _, ok := st.Get(k); !ok && !yield(StateInput[K, V, S]{Key: k, Values: vs, State: ops.None[S]()}) {
					return
				}
			}
		}
		next := map[K]S{}
		var foreign []ops.KV[K, S]
		var bad error
		yield := func(kv ops.KV[K, S]) bool {
			switch _, dup := next[kv.Key]; {
			case bad != nil:
			case dup:
				bad = fmt.Errorf("%s: the update of partition %d yielded key %v twice", name, p, kv.Key)
			case part.Partition(kv.Key) != p && !spec.repartition:
				bad = fmt.Errorf("%s: the update of partition %d yielded key %v, of partition %d: yield only the keys of the partition, or set RepartitionState",
					name, p, kv.Key, part.Partition(kv.Key))
			case part.Partition(kv.Key) != p:
				foreign = append(foreign, kv)
			default:
				next[kv.Key] = kv.Value
			}
			return bad == nil
		}
		if err := spec.pfn(ctx, t, p, inputs, yield); err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
		for k := range st.All() {
			if _, ok := next[k]; !ok {
				st.Delete(k)
			}
		}
		for k, v := range next {
			st.Put(k, v)
		}
		if len(foreign) > 0 {
			movedMu.Lock()
			moved = append(moved, foreign)
			movedMu.Unlock()
		}
		return nil
	}
}

// stateEvery returns how often, at least, the state of s, a stream with a
// checkpointed state, is saved: its CheckpointEvery, else the Context's
// CheckpointInterval (ctxEvery, 0 if unset), else its default, as in Spark:
// codec.slides times its slide (MapWithState: 10), or the larger of its
// slide and 10s (Spark's DStream default).
func (s *streamInfo) stateEvery(ctxEvery time.Duration) time.Duration {
	switch {
	case s.ckptEvery > 0:
		return s.ckptEvery
	case ctxEvery > 0:
		return ctxEvery
	case s.codec.slides > 0:
		return time.Duration(s.codec.slides) * s.slideOr()
	}
	return max(s.slideOr(), 10*time.Second)
}

// Slice returns the stream's RDDs for the batch times from from to to,
// both included, oldest first: the past batches it still remembers (see
// Remember). Call it while the Context runs, for example from a ForeachRDD
// on another stream. A time in the range that the stream has forgotten, or
// has not generated yet, is an error.
func Slice[T any](s *DStream[T], from, to time.Time) ([]*rdd.RDD[T], error) {
	if s == nil || s.ctx == nil {
		return nil, fmt.Errorf("dstream.Slice: %w: nil stream", ErrInvalid)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("dstream.Slice: %w: from %v is after to %v", ErrInvalid, errfmt.Time(from), errfmt.Time(to))
	}
	step := s.slideOr()
	first := s.ctx.zero.Add(step)
	if from.After(first) {
		first = from.Add(-from.Sub(s.ctx.zero) % step)
		if first.Before(from) {
			first = first.Add(step)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rs []*rdd.RDD[T]
	for t := first; !t.After(to); t = t.Add(step) {
		r, ok := s.generated[t]
		if !ok {
			return nil, fmt.Errorf("dstream.Slice: %s has no RDD for batch %v: forgotten (Remember longer) or not generated yet", s, errfmt.Time(t))
		}
		rs = append(rs, r)
	}
	return rs, nil
}
