package dstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/rdd"
)

// Queue is an in-memory source of batches (Spark's queueStream): each batch
// takes the next queued slice or RDD, or, when created with oneAtATime
// false, everything queued, as one RDD; an empty queue gives an empty batch.
// Push may be called while the Context runs.
type Queue[T any] struct {
	oneAtATime bool
	eng        *rdd.Engine

	mu     sync.Mutex
	queued []*rdd.RDD[T]
	counts []int64
	elems  [][]T // the elements of each queued batch; nil for PushRDD

	// For checkpoints: what each batch held, by batch time (nil elements: an RDD
	// or an empty batch), and the batches to produce again after a restart.
	record bool // the Context checkpoints: keep what each batch held
	log    BatchLog[servedBatch[T]]
}

type servedBatch[T any] struct {
	Elems []T
	RDD   bool // pushed as an RDD: cannot be checkpointed
}

// QueueStream returns an input stream reading from a new Queue, and the
// queue, initially holding batches (each becomes an RDD with the engine's
// default partitioning).
//
// A nil c gives a stream of no Context (see ErrInvalid) and a queue that works
// but feeds nothing.
func QueueStream[T any](c *Context, oneAtATime bool, batches ...[]T) (*DStream[T], *Queue[T]) {
	if c == nil {
		q := &Queue[T]{oneAtATime: oneAtATime, eng: rdd.NewEngine()}
		for _, b := range batches {
			q.Push(b)
		}
		return orphan[T]("dstream.QueueStream"), q
	}
	q := &Queue[T]{oneAtATime: oneAtATime, eng: c.eng, record: c.ckptDir != ""}
	for _, b := range batches {
		q.Push(b)
	}
	return FromSource(c, "dstream.QueueStream", Source[T](q)), q
}

// Push queues one batch of elements. The slice is not copied.
func (q *Queue[T]) Push(batch []T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, rdd.Parallelize(q.eng, batch, 0))
	q.counts = append(q.counts, int64(len(batch)))
	q.elems = append(q.elems, batch)
}

// PushRDD queues one batch as an RDD; its record count (for metrics) is
// reported as -1, unknown.
func (q *Queue[T]) PushRDD(r *rdd.RDD[T]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, r)
	q.counts = append(q.counts, -1)
	q.elems = append(q.elems, nil)
}

// Len returns how many batches are queued.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queued)
}

// Start does nothing: a queue needs no set-up.
func (q *Queue[T]) Start(context.Context) error { return nil }

// Stop does nothing.
func (q *Queue[T]) Stop() error { return nil }

// Batch takes the next queued batch (or all of them), or an empty RDD; after a
// restart from a checkpoint, the batch recorded for t.
func (q *Queue[T]) Batch(_ context.Context, t time.Time) (*rdd.RDD[T], InputInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if b, ok := q.log.Again(t); ok {
		return rdd.Parallelize(q.eng, b.Elems, 0), InputInfo{Records: int64(len(b.Elems))}, nil
	}
	n := len(q.queued)
	if n == 0 {
		q.serve(t, servedBatch[T]{})
		return rdd.Empty[T](q.eng), InputInfo{}, nil
	}
	if q.oneAtATime {
		n = 1
	}
	taken, counts, elems := q.queued[:n], q.counts[:n], q.elems[:n]
	q.queued, q.counts, q.elems = q.queued[n:], q.counts[n:], q.elems[n:]
	records := int64(0)
	served := servedBatch[T]{}
	for i, c := range counts {
		if c < 0 {
			records, served.RDD = -1, true
			break
		}
		records += c
		served.Elems = append(served.Elems, elems[i]...)
	}
	q.serve(t, served)
	if n == 1 {
		return taken[0], InputInfo{Records: records}, nil
	}
	return rdd.Union(taken...), InputInfo{Records: records}, nil
}

// serve records what the batch at t held, for checkpoints.
func (q *Queue[T]) serve(t time.Time, b servedBatch[T]) {
	if q.record {
		q.log.Record(t, b)
	}
}

// queueCheckpoint is a queue's checkpoint: the elements of the batches asked for.
type queueCheckpoint[T any] struct {
	Times   []time.Time
	Batches []servedBatch[T]
}

// Checkpoint returns the elements of the batches from time from on (a queue is a
// test source: its elements are encoded with msgpack). Batches queued but not yet
// taken are not saved: a program resuming from the checkpoint queues them again. A
// batch pushed with PushRDD cannot be checkpointed.
func (q *Queue[T]) Checkpoint(from time.Time) ([]byte, error) {
	var cp queueCheckpoint[T]
	cp.Times, cp.Batches = q.log.Saved(from)
	for i, b := range cp.Batches {
		if b.RDD {
			return nil, fmt.Errorf("dstream.Queue: the batch of %v was pushed as an RDD, which cannot be checkpointed", cp.Times[i])
		}
	}
	return checkpoint.Encode(cp)
}

// Restore takes back the batches of a checkpoint, to produce them again.
func (q *Queue[T]) Restore(data []byte) error {
	var cp queueCheckpoint[T]
	if err := checkpoint.Decode(data, &cp); err != nil {
		return err
	}
	return q.log.Restore(cp.Times, cp.Batches)
}
