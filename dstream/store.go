package dstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
	"github.com/spatedev/spate/state"
)

// keyedStore is a stateful stream's state: one state.Store per partition of the
// state's partitioner, each updated in place by the task of its partition when a
// batch is applied (see storeStream): by the processing loop (begin, the update job,
// end), then kept as the batch's version or rolled back (settle), as steps 2 and 6 of
// "Order of a batch" in the package doc say.
type keyedStore[K comparable, E any] struct {
	name string // the stream's, for errors

	// part and like are set when the first batch is generated (or by a restore)
	// and never change: the generator sets them, the processing loop reads them.
	mu     sync.Mutex
	part   shuffle.Partitioner[K]
	like   *rdd.RDD[ops.KV[K, E]] // an empty RDD partitioned by part: what views are partitioned like
	stores []*state.Store[K, E]
	at     time.Time // the batch the stores hold (committed or not); zero: none yet
	done   time.Time // the last batch committed; zero: none yet
	// rolledBack is the last batch rolled back: the next may apply to done.
	rolledBack time.Time

	// seen, if set, is when an entry was last touched (batch time in Unix
	// nanoseconds; noTouch: never due): the stores then have a timeout index each,
	// which follows them through rollbacks and restores. A window's is its entry's
	// oldest value.
	seen     func(E) int64
	timeouts []*state.Timeouts[K]
	// storeOpts configure each partition's store; opts are them with what the
	// engine adds (spill), set with the partitioner.
	storeOpts []state.Opt
	opts      []state.Opt
	// codec, if set, encodes the entries for TaskState (set with the checkpoint
	// codec).
	codec *storeCodec[K, E]
	// afterApply, if set, runs once the update job of a batch has succeeded, in
	// the processing loop (what the tasks left to do across partitions).
	afterApply func(t time.Time) error
}

// partitioning returns the state's partitioner (nil before the first batch) and its
// partition count.
func (ks *keyedStore[K, E]) partitioning() (shuffle.Partitioner[K], int) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.part == nil {
		return nil, 0
	}
	return ks.part, ks.part.NumPartitions()
}

// setPartitioner fixes the state's partitioner and makes its stores: with a memory
// budget, each can spill its cold entries to a file in the engine's spill directory.
func (ks *keyedStore[K, E]) setPartitioner(eng *rdd.Engine, p shuffle.Partitioner[K]) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.part = p
	ks.like = rdd.PartitionBy(rdd.Empty[ops.KV[K, E]](eng), rdd.WithPartitioner(p))
	ks.opts = ks.storeOpts
	if eng.MemoryBudget() > 0 {
		ks.opts = append(slices.Clip(ks.opts), state.Spill(eng.SpillDir()))
	}
	ks.stores = make([]*state.Store[K, E], p.NumPartitions())
	for i := range ks.stores {
		ks.stores[i] = ks.newStore()
	}
	if ks.seen != nil {
		ks.timeouts = make([]*state.Timeouts[K], p.NumPartitions())
		for i := range ks.timeouts {
			ks.timeouts[i] = state.NewTimeouts[K]()
		}
	}
}

// newStore returns an empty store configured as the state's are. ks.mu is held,
// or the stores are being made.
func (ks *keyedStore[K, E]) newStore() *state.Store[K, E] { return state.New[K, E](ks.opts...) }

// memBytes estimates the memory the stores' entries take.
func (ks *keyedStore[K, E]) memBytes() int64 {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var n int64
	for _, st := range ks.stores {
		n += st.MemBytes()
	}
	return n
}

// evictTo moves cold entries of every store to its file until it holds share of
// the memory it holds now.
func (ks *keyedStore[K, E]) evictTo(share float64) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for p, st := range ks.stores {
		if _, err := st.Evict(int64(float64(st.MemBytes()) * share)); err != nil {
			return fmt.Errorf("%s: partition %d: %w", ks.name, p, err)
		}
	}
	return nil
}

// close deletes the stores' spill files.
func (ks *keyedStore[K, E]) close() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var errs []error
	for _, st := range ks.stores {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// timeoutsOf returns partition p's timeout index (nil without one).
func (ks *keyedStore[K, E]) timeoutsOf(p int) *state.Timeouts[K] {
	if ks.timeouts == nil {
		return nil
	}
	return ks.timeouts[p]
}

// reindex rebuilds partition p's timeout index from its store (after a rollback or
// a restore: the index's buckets drained by a failed batch come back). ks.mu is held.
func (ks *keyedStore[K, E]) reindex(p int) {
	if ks.timeouts == nil {
		return
	}
	idx := ks.timeouts[p]
	idx.Reset()
	for k, e := range ks.stores[p].All() {
		if at := ks.seen(e); at != noTouch {
			idx.Touch(k, at)
		}
	}
}

// noTouch is what keyedStore.seen returns for an entry that the timeout index
// never needs to find.
const noTouch = math.MaxInt64

// store returns partition p's store, checking that it holds batch t.
func (ks *keyedStore[K, E]) store(p int, t time.Time) (*state.Store[K, E], error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	switch {
	case ks.stores == nil:
		return nil, fmt.Errorf("%s: no state yet at batch %s", ks.name, errfmt.Time(t))
	case !ks.at.Equal(t):
		return nil, fmt.Errorf("%s: the state of batch %s is no longer held: the stores hold batch %s (a stateful stream's RDD is read in its own batch; keep it with a window or Persist to read it later)",
			ks.name, errfmt.Time(t), errfmt.Time(ks.at))
	}
	return ks.stores[p], nil
}

// begin checks, before the update job of batch t, that the stores hold the batch
// before it (prev; zero for the first), and marks them as holding t.
func (ks *keyedStore[K, E]) begin(t, prev time.Time) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	// After an aborted batch (ErrBatchAborted), the next one applies to the state
	// before it.
	if !ks.at.Equal(prev) && !(ks.at.Equal(ks.done) && prev.Equal(ks.rolledBack)) {
		return fmt.Errorf("%s: batch %s applied to the state of batch %s, want the state of batch %s",
			ks.name, errfmt.Time(t), errfmt.Time(ks.at), errfmt.Time(prev))
	}
	ks.at = t
	return nil
}

// settle commits the stores' changes as batch t's version, or rolls them back to
// the last committed batch.
func (ks *keyedStore[K, E]) settle(t time.Time, ok bool) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if !ks.at.Equal(t) || ks.done.Equal(t) {
		return nil // the stream had no batch at t, or it is settled
	}
	if ok {
		for p, st := range ks.stores {
			if err := st.Commit(t.UnixNano()); err != nil {
				return fmt.Errorf("%s: partition %d: %w", ks.name, p, err)
			}
		}
		ks.done = t
		return nil
	}
	for p, st := range ks.stores {
		st.Rollback()
		ks.reindex(p)
	}
	ks.rolledBack, ks.at = t, ks.done
	return nil
}

// warmed returns in, having brought back to memory, in one read, the spilled
// entries of its keys (if the store has spilled any): the records are read once, and
// yielded from memory.
func warmed[K comparable, E, V any](st *state.Store[K, E], in iter.Seq[ops.KV[K, V]]) iter.Seq[ops.KV[K, V]] {
	if st.Spilled() == 0 {
		return in
	}
	recs := slices.Collect(in)
	keys := make([]K, len(recs))
	for i, kv := range recs {
		keys[i] = kv.Key
	}
	st.Warm(keys)
	return slices.Values(recs)
}

// storeHooks is what the Context calls around a store stream's batches.
type storeHooks interface {
	// begin is called before the update job of batch t, and end after it
	// succeeded.
	begin(t time.Time) error
	end(t time.Time) error
	// settle is called once batch t succeeded (ok) or failed.
	settle(t time.Time, ok bool) error
	// keys returns how many keys the state holds.
	keys() int64
}

// storeStream is a stateful stream whose RDD at a batch is what apply emits while it
// updates each partition's store with the batch's data of that partition; prev gives
// the batch the stores must hold before batch t (zero: none, the stores are new).
type storeStream[K comparable, E any] struct {
	ks   *keyedStore[K, E]
	prev func(t time.Time) time.Time
}

func (h storeStream[K, E]) begin(t time.Time) error { return h.ks.begin(t, h.prev(t)) }

func (h storeStream[K, E]) end(t time.Time) error {
	if h.ks.afterApply == nil {
		return nil
	}
	return h.ks.afterApply(t)
}

func (h storeStream[K, E]) settle(t time.Time, ok bool) error { return h.ks.settle(t, ok) }

func (h storeStream[K, E]) keys() int64 {
	h.ks.mu.Lock()
	defer h.ks.mu.Unlock()
	var n int64
	for _, st := range h.ks.stores {
		n += int64(st.Len())
	}
	return n
}

// newStoreStream returns the stateful stream named name over s whose state is ks:
// every batch, prepare partitions (and may group) the batch by the state's
// partitioner — given by opts at the first batch (default: the batch's own count,
// hash-partitioned), the same one after — and apply updates the store of each
// partition with its part of the batch, emitting what the stream's RDD holds. At the
// first batch, if initial is not nil, each store first gets its keys of initial (a
// key twice is an error). The RDD is persisted: it holds what apply emitted. apply
// gets emit, not a yield that may say stop: it must update the whole partition's
// store whatever the consumer wants (a persisted RDD is computed whole anyway, and
// a cancelled job fails its batch, so what emit then drops is never used).
func newStoreStream[K comparable, V, X, E, U any](s *DStream[ops.KV[K, V]], name string, ks *keyedStore[K, E], opts []rdd.ShuffleOpt[K],
	initial func(t time.Time) *rdd.RDD[ops.KV[K, E]],
	prepare func(batch *rdd.RDD[ops.KV[K, V]], opts ...rdd.ShuffleOpt[K]) *rdd.RDD[ops.KV[K, X]],
	apply func(ctx context.Context, t time.Time, st *state.Store[K, E], p int, in iter.Seq[ops.KV[K, X]], emit func(U)) error) *DStream[U] {
	eng := s.ctx.eng
	ks.name = name
	var self *DStream[U]
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[U], error) {
		batch, err := s.rddAt(ctx, t)
		if err != nil {
			return nil, err
		}
		if batch == nil {
			batch = rdd.Empty[ops.KV[K, V]](eng)
		}
		part, _ := ks.partitioning()
		var data *rdd.RDD[ops.KV[K, X]]
		if part == nil { // the first batch fixes the partitioner
			data = prepare(batch, opts...)
			p, ok := rdd.PartitionerOf(data)
			if !ok {
				return nil, fmt.Errorf("%s: the batch partitioned for the state has no partitioner", name)
			}
			ks.setPartitioner(eng, p)
		} else {
			data = prepare(batch, rdd.WithPartitioner(part))
		}
		if first := !self.validAt(t.Add(-self.slideOr())); first && initial != nil {
			part, _ := ks.partitioning()
			init := rdd.PartitionBy(initial(t), rdd.WithPartitioner(part))
			return rdd.ZipPartitions(data, init, func(ctx context.Context, p int, in iter.Seq[ops.KV[K, X]], init iter.Seq[ops.KV[K, E]], yield func(U) bool) error {
				st, err := ks.store(p, t)
				if err != nil {
					return err
				}
				idx := ks.timeoutsOf(p)
				for kv := range init {
					if dup := putNew(st, kv.Key, kv.Value); dup {
						return fmt.Errorf("%s: key %v has two initial states", name, kv.Key)
					}
					if idx != nil {
						idx.Touch(kv.Key, ks.seen(kv.Value))
					}
				}
				return cmp.Or(apply(ctx, t, st, p, in, emitTo(yield)), st.Err())
			}).Persist(), nil
		}
		return rdd.MapPartitions(data, func(ctx context.Context, p int, in iter.Seq[ops.KV[K, X]], yield func(U) bool) error {
			st, err := ks.store(p, t)
			if err != nil {
				return err
			}
			return cmp.Or(apply(ctx, t, st, p, in, emitTo(yield)), st.Err())
		}).Persist(), nil
	})
	self.slide, self.parents = s.slide, []stream{s}
	s.ctx.addStores(ks)
	self.store = storeStream[K, E]{ks: ks, prev: func(t time.Time) time.Time {
		if prev := t.Add(-self.slideOr()); self.validAt(prev) {
			return prev
		}
		return time.Time{}
	}}
	markStateful(self)
	return self
}

// emitTo returns yield as the emit of a store stream's apply, which does not stop.
func emitTo[U any](yield func(U) bool) func(U) {
	return func(u U) { yield(u) }
}

// newStoreView returns a stream named name whose RDD at a batch is every key's state
// after the batch, conv(entry), read from the stores of owner's state ks (when an
// output reads it, in that batch: a view, not a copy, unless the stream is kept for
// windows, when each batch's is copied once). It is partitioned like the state.
func newStoreView[K comparable, E, S, U any](owner *DStream[U], name string, ks *keyedStore[K, E], conv func(E) S) *DStream[ops.KV[K, S]] {
	eng := owner.ctx.eng
	var view *DStream[ops.KV[K, S]]
	view = newStream(owner.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, S]], error) {
		if _, err := owner.rddAt(ctx, t); err != nil {
			return nil, err
		}
		_, n := ks.partitioning()
		r := rdd.Generate(eng, name, n, func(ctx context.Context, p int, yield func(ops.KV[K, S]) bool) error {
			st, err := ks.store(p, t)
			if err != nil {
				return err
			}
			i := 0
			for k, e := range st.All() {
				if i++; i%1024 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				if !yield(ops.Pair(k, conv(e))) {
					break
				}
			}
			return st.Err()
		})
		ks.mu.Lock()
		like := ks.like
		ks.mu.Unlock()
		r = rdd.PreservesPartitioning(r, like)
		if view.keep > view.slideOr() {
			r = r.Persist() // computed in its batch (materializeAt): windows read it later
		}
		return r, nil
	})
	view.slide, view.parents, view.stateOwner = owner.slide, []stream{owner}, &owner.streamInfo
	view.ctx.mu.Lock()
	view.ctx.views = append(view.ctx.views, view)
	view.ctx.mu.Unlock()
	return view
}

// materializeView computes the view's RDD of batch t, if it is kept for windows: it
// must be read while the stores hold t.
func (s *DStream[T]) materializeView(ctx context.Context, t time.Time) error {
	if s.keep <= s.slideOr() {
		return nil
	}
	return s.materializeAt(ctx, t)
}

// setStoreCodec lets the state of s, kept in ks, be checkpointed: every key whose
// entry save turns into a V (a snapshot), or those changed since the last save (a
// delta); restored as load(V), partitioned by opts (default: as many hash partitions
// as when saved). With a checkpoint directory, the stores track the keys changed
// between saves.
func setStoreCodec[K comparable, E, V, U any](s *DStream[U], ks *keyedStore[K, E], save func(E) (V, bool), load func(V) E, opts []rdd.ShuffleOpt[K]) {
	if s.ctx.ckptDir != "" {
		ks.storeOpts = append(ks.storeOpts, state.TrackDirty())
	}
	ks.codec = &storeCodec[K, E]{
		encode: func(e E) ([]byte, error) {
			if v, ok := save(e); ok {
				return checkpoint.Encode(v)
			}
			return nil, nil
		},
		decode: func(b []byte) (E, error) {
			var v V
			err := checkpoint.Decode(b, &v)
			return load(v), err
		},
	}
	s.codec = &stateCodec{
		typ: fmt.Sprintf("%T", ops.KV[K, V]{}),
		save: func(ctx context.Context, t, base time.Time) ([]byte, error) {
			return saveStores(ctx, ks, s, t, base, save)
		},
		saved: func() {
			ks.mu.Lock()
			defer ks.mu.Unlock()
			for _, store := range ks.stores {
				store.MarkSaved()
			}
		},
		merge: mergeSaved[K, V],
		restore: func(t time.Time, chain [][]byte, progress func(bytes int64)) error {
			if len(chain) == 0 {
				return fmt.Errorf("%w: no saved state", checkpoint.ErrCorrupt)
			}
			first, err := decodeStore[K, V](chain[0])
			if err != nil {
				return err
			}
			popts := opts
			if len(popts) == 0 {
				popts = []rdd.ShuffleOpt[K]{rdd.Partitions[K](first.Partitions)}
			}
			// Partitioned anew: hash partitioning differs from one process to the next.
			like := rdd.PartitionBy(rdd.Empty[ops.KV[K, E]](s.ctx.eng), popts...)
			p, ok := rdd.PartitionerOf(like)
			if !ok {
				return fmt.Errorf("the state's partitioning gives no partitioner")
			}
			ks.setPartitioner(s.ctx.eng, p)
			ks.mu.Lock()
			defer ks.mu.Unlock()
			if _, err := replay(chain, func(k K, v V, deleted bool) {
				if st := ks.stores[p.Partition(k)]; deleted {
					st.LoadDeleted(k)
				} else {
					st.Load(k, load(v))
				}
			}, progress); err != nil {
				return err
			}
			for i, store := range ks.stores {
				if err := store.Commit(t.UnixNano()); err != nil {
					return err
				}
				ks.reindex(i)
			}
			ks.at, ks.done = t, t
			return nil
		},
	}
}
