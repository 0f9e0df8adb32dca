package dstream

import (
	"context"
	"fmt"
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
func UpdateStateByKey[K comparable, V, S any](s *DStream[ops.KV[K, V]], update func(values []V, state ops.Maybe[S]) ops.Maybe[S], opts ...rdd.ShuffleOpt) *DStream[ops.KV[K, S]] {
	const name = "dstream.UpdateStateByKey"
	checkFn(s, name, update == nil)
	if s == nil || s.ctx == nil {
		return orphan[ops.KV[K, S]](name)
	}
	var self *DStream[ops.KV[K, S]]
	self = newStream(s.ctx, name, func(ctx context.Context, t time.Time) (*rdd.RDD[ops.KV[K, S]], error) {
		batch, err := s.rddAt(ctx, t)
		if err != nil {
			return nil, err
		}
		if batch == nil {
			batch = rdd.Empty[ops.KV[K, V]](s.ctx.eng)
		}
		var prev *rdd.RDD[ops.KV[K, S]]
		if pt := t.Add(-self.slideOr()); self.validAt(pt) {
			if prev, err = self.rddAt(ctx, pt); err != nil {
				return nil, err
			}
		}
		popts := opts
		if prev == nil {
			prev = rdd.Empty[ops.KV[K, S]](s.ctx.eng)
		} else {
			prev = cut(ctx, prev)
			popts = []rdd.ShuffleOpt{rdd.PartitionedLike(prev)}
		}
		grouped := rdd.CoGroup(batch, prev, popts...)
		next := rdd.FlatMapValues(grouped, func(g ops.CoGrouped[V, S]) []S {
			old := ops.None[S]()
			if len(g.Right) > 0 {
				old = ops.Some(g.Right[0])
			}
			if st := update(g.Left, old); st.Ok {
				return []S{st.Value}
			}
			return nil
		})
		return next.Persist(), nil
	})
	self.slide, self.parents = s.slide, []stream{s}
	markStateful(self)
	setStateCodec(self, func(v S) (S, bool) { return v, true }, func(v S) S { return v }, opts)
	keepFor(self, self.slideOr())
	return self
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
