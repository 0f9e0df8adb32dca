package dstream

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// UpdateStateByKey keeps a state per key across batches (Spark's
// updateStateByKey): every batch, update gets each key's new values (empty
// if the key had none this batch) and its previous state (None for a new
// key), and returns the new state, or None to drop the key. update runs for
// every key with state, every batch.
//
// The state RDD is hash-partitioned (Partitions, WithPartitioner; default:
// the batch's partition count) and each batch's state is joined with the
// batch data partitioned the same way, so the state itself is never
// shuffled; it is kept in memory and cut from its lineage every batch.
//
// Its state is saved in checkpoints (see CheckpointDir) every
// CheckpointEvery; default: the larger of its slide and 10s, as in Spark.
// For the batch time and the key, an initial state or a function over whole
// partitions, use UpdateStateByKeyWith.
func UpdateStateByKey[K comparable, V, S any](s *DStream[ops.KV[K, V]], update func(values []V, state ops.Maybe[S]) ops.Maybe[S], opts ...rdd.ShuffleOpt) *DStream[ops.KV[K, S]] {
	spec := UpdateSpec[K, V, S]{Partitioning: opts}
	if update != nil {
		spec.Func = func(_ time.Time, _ K, values []V, state ops.Maybe[S]) ops.Maybe[S] { return update(values, state) }
	}
	return updateStateByKey("dstream.UpdateStateByKey", s, spec)
}

// UpdateSpec configures UpdateStateByKeyWith: how a batch turns the keys'
// values and previous states into their new states (exactly one of Func and
// PartitionFunc), the state before the first batch, and the state's
// partitioning.
type UpdateSpec[K comparable, V, S any] struct {
	// Func returns a key's new state from the batch time, the key, its
	// values of the batch (empty if it had none) and its previous state
	// (None for a new key), or None to drop the key (Spark's
	// updateStateByKey with a (Time, K, Seq[V], Option[S]) function). It
	// runs for every key with state or values, every batch.
	Func func(t time.Time, key K, values []V, state ops.Maybe[S]) ops.Maybe[S]
	// PartitionFunc, instead of Func, updates one state partition at a
	// time (Spark's updateStateByKey with an iterator function): in yields,
	// once each, every key of partition part with state or values this
	// batch (a single-use iterator), and what PartitionFunc emits is the
	// partition's new state: a key it does not emit is dropped. It must
	// emit a key at most once (a key emitted twice fails the next batch),
	// and, unless RepartitionState is set, only keys of its partition (the
	// keys of in are): another key fails the batch. An error it returns
	// fails the batch.
	PartitionFunc func(ctx context.Context, t time.Time, part int, in iter.Seq[StateInput[K, V, S]], emit func(ops.KV[K, S])) error
	// Initial is the state before the first batch: its keys go through the
	// first batch's update with that batch's values (Spark's initialRDD).
	// A job resumed from a checkpoint starts from the restored state and
	// does not apply Initial again. Default: none.
	Initial *rdd.RDD[ops.KV[K, S]]
	// Partitioning is how the state is hash-partitioned (rdd.Partitions,
	// rdd.WithPartitioner). Default: like the first batch's data.
	Partitioning []rdd.ShuffleOpt
	// RepartitionState lets PartitionFunc emit any key, such as keys it
	// renames: the new state is then partitioned again (shuffled) to be
	// joined with the next batch (Spark's rememberPartitioner = false).
	// Only with PartitionFunc. Default false: the state never moves.
	RepartitionState bool
}

// StateInput is one key's input to an UpdateSpec's PartitionFunc: its values
// of the batch (empty if it had none) and its previous state (None for a new
// key).
type StateInput[K comparable, V, S any] struct {
	Key    K
	Values []V
	State  ops.Maybe[S]
}

// UpdateStateByKeyWith is UpdateStateByKey with the choices Spark's
// updateStateByKey offers (see UpdateSpec): a function of the batch time and
// the key too, or one over whole partitions; an initial state. The stream
// is named "dstream.UpdateStateByKey", like UpdateStateByKey's, so that a
// job moving from one to the other resumes from its checkpoints.
func UpdateStateByKeyWith[K comparable, V, S any](s *DStream[ops.KV[K, V]], spec UpdateSpec[K, V, S]) *DStream[ops.KV[K, S]] {
	const op = "dstream.UpdateStateByKeyWith"
	if s != nil && s.ctx != nil {
		switch {
		case spec.Func != nil && spec.PartitionFunc != nil:
			s.ctx.invalidf(op, "both Func and PartitionFunc are set: give one")
		case spec.Func != nil && spec.RepartitionState:
			s.ctx.invalidf(op, "RepartitionState is for a PartitionFunc, which may change keys: Func cannot")
		}
	}
	return updateStateByKey(op, s, spec)
}

// updateStateByKey is UpdateStateByKey and UpdateStateByKeyWith: op names the
// function called, for construction errors.
func updateStateByKey[K comparable, V, S any](op string, s *DStream[ops.KV[K, V]], spec UpdateSpec[K, V, S]) *DStream[ops.KV[K, S]] {
	const name = "dstream.UpdateStateByKey"
	checkFn(s, op, spec.Func == nil && spec.PartitionFunc == nil)
	if s == nil || s.ctx == nil {
		return orphan[ops.KV[K, S]](name)
	}
	conf := stateConf[K, S]{opts: spec.Partitioning, keys: keysChecked}
	if spec.Initial != nil {
		conf.initial = func(time.Time) *rdd.RDD[ops.KV[K, S]] { return spec.Initial }
	}
	update := spec.PartitionFunc
	switch {
	case spec.Func != nil:
		conf.keys = keysKept
		update = func(_ context.Context, t time.Time, _ int, in iter.Seq[StateInput[K, V, S]], emit func(ops.KV[K, S])) error {
			for g := range in {
				if st := spec.Func(t, g.Key, g.Values, g.State); st.Ok {
					emit(ops.Pair(g.Key, st.Value))
				}
			}
			return nil
		}
	case spec.RepartitionState:
		conf.keys = keysMoved
	}
	self := stateStream(s, name, conf, update, ops.Identity[*rdd.RDD[ops.KV[K, S]]])
	setStateCodec(self, func(v S) (S, bool) { return v, true }, func(v S) S { return v }, spec.Partitioning)
	return self
}

// keyPolicy is what a stateful stream's update may do with keys.
type keyPolicy int

const (
	// keysKept: it emits only keys it is given, so its output stays
	// partitioned like the state.
	keysKept keyPolicy = iota
	// keysChecked: it may emit other keys, each of the partition it runs
	// on: checked, a key of another partition fails the batch.
	keysChecked
	// keysMoved: it may emit any key; its output is partitioned again to
	// be joined with the next batch.
	keysMoved
)

// stateConf is how a stateful stream joins its state with the batches.
type stateConf[K comparable, E any] struct {
	opts    []rdd.ShuffleOpt                         // the state's partitioning; default: like the first batch
	initial func(t time.Time) *rdd.RDD[ops.KV[K, E]] // the state before the first batch, at batch t; nil: none
	keys    keyPolicy
}

// stateStream returns the stateful stream over s named name whose RDD at a
// batch time t is what update emits, partition by partition, from the
// batch's values cogrouped by key with the state before it: state of the
// stream's own RDD of the previous slide (cut from its lineage), or, at the
// first batch, conf.initial. The state is partitioned by conf.opts at the
// first batch, and stays so (it is never shuffled) unless conf.keys is
// keysMoved. A key with more than one state fails the batch. The caller
// sets the stream's checkpoint codec.
func stateStream[K comparable, V, E, R any](s *DStream[ops.KV[K, V]], name string, conf stateConf[K, E],
	update func(ctx context.Context, t time.Time, part int, in iter.Seq[StateInput[K, V, E]], emit func(ops.KV[K, R])) error,
	state func(*rdd.RDD[ops.KV[K, R]]) *rdd.RDD[ops.KV[K, E]]) *DStream[ops.KV[K, R]] {
	var self *DStream[ops.KV[K, R]]
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, R]], error) {
		batch, err := s.rddAt(ctx, t)
		if err != nil {
			return nil, err
		}
		if batch == nil {
			batch = rdd.Empty[ops.KV[K, V]](s.ctx.eng)
		}
		var prev *rdd.RDD[ops.KV[K, E]]
		if pt := t.Add(-self.slideOr()); self.validAt(pt) {
			pr, err := self.rddAt(ctx, pt)
			if err != nil {
				return nil, err
			}
			prev = state(cut(ctx, pr))
		}
		opts := conf.opts
		switch {
		case prev == nil && conf.initial != nil:
			prev = conf.initial(t)
		case prev == nil:
			prev = rdd.Empty[ops.KV[K, E]](s.ctx.eng)
		case prev.Partitioner() != nil || len(opts) == 0:
			opts = []rdd.ShuffleOpt{rdd.PartitionedLike(prev)}
		}
		return updatePartitions(name, t, rdd.CoGroup(batch, prev, opts...), conf.keys, update).Persist(), nil
	})
	self.slide, self.parents = s.slide, []stream{s}
	markStateful(self)
	keepFor(self, self.slideOr())
	return self
}

// updatePartitions runs update over every partition of g, a batch's values
// cogrouped with the state, and returns what it emits, partitioned like g
// unless keys is keysMoved.
func updatePartitions[K comparable, V, E, R any](name string, t time.Time, g *rdd.RDD[ops.KV[K, ops.CoGrouped[V, E]]], keys keyPolicy,
	update func(ctx context.Context, t time.Time, part int, in iter.Seq[StateInput[K, V, E]], emit func(ops.KV[K, R])) error) *rdd.RDD[ops.KV[K, R]] {
	where, _ := g.Partitioner().(interface{ Partition(key K) int })
	out := rdd.MapPartitions(g, func(ctx context.Context, part int, in iter.Seq[ops.KV[K, ops.CoGrouped[V, E]]], emit func(ops.KV[K, R])) error {
		var bad error // the first misuse found: it fails the partition
		inputs := func(yield func(StateInput[K, V, E]) bool) {
			for kv := range in {
				if bad != nil {
					return
				}
				if n := len(kv.Value.Right); n > 1 {
					bad = fmt.Errorf("%s: key %v has %d states: the initial state, or the state the update emitted at the batch before, holds it more than once",
						name, kv.Key, n)
					return
				}
				st := ops.None[E]()
				if len(kv.Value.Right) == 1 {
					st = ops.Some(kv.Value.Right[0])
				}
				if !yield(StateInput[K, V, E]{Key: kv.Key, Values: kv.Value.Left, State: st}) {
					return
				}
			}
		}
		put := emit
		if keys == keysChecked && where != nil {
			put = func(kv ops.KV[K, R]) {
				if bad != nil {
					return
				}
				if q := where.Partition(kv.Key); q != part {
					bad = fmt.Errorf("%s: the update of partition %d emitted key %v, of partition %d: emit only the keys of the partition, or set RepartitionState",
						name, part, kv.Key, q)
					return
				}
				emit(kv)
			}
		}
		err := update(ctx, t, part, inputs, put)
		if bad != nil {
			return bad
		}
		return err
	})
	if keys == keysMoved || where == nil {
		return out
	}
	return rdd.PreservesPartitioning(out, g)
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

// cut returns r without its lineage if r is persisted and already computed
// (no job runs: the kept partitions are shared), else r itself. A stateful
// stream builds each batch's RDD on the previous one: cutting the chain
// whenever processing has computed it keeps it as short as the queue of
// batches waiting to be processed, and the generator never runs a job that
// processing is running too.
func cut[T any](ctx context.Context, r *rdd.RDD[T]) *rdd.RDD[T] {
	if r.Computed() {
		if lc, err := rdd.LocalCheckpoint(ctx, r); err == nil {
			return lc
		}
	}
	return r
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
		return nil, fmt.Errorf("dstream.Slice: %w: from %v is after to %v", ErrInvalid, from, to)
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
			return nil, fmt.Errorf("dstream.Slice: %s has no RDD for batch %v: forgotten (Remember longer) or not generated yet", s, t)
		}
		rs = append(rs, r)
	}
	return rs, nil
}
