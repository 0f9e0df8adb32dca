package dstream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/rdd"
)

// Queue is an in-memory source of batches (Spark's queueStream): each batch
// takes the next queued slice or RDD (OneAtATime), or everything queued, as one
// RDD (AllAtOnce); an empty queue gives an empty batch.
// Push may be called while the Context runs.
//
// A batch that takes several queued items is one RDD of a bounded partition
// count, whatever the number of pushes: the pushed slices' elements are
// gathered, in push order, into one RDD with the engine's default
// partitioning (its parallelism), and the pushed RDDs are unioned after it,
// then coalesced (no shuffle) to the engine's parallelism when the union has
// more partitions. Spark unions every pushed RDD instead: a thousand pushes
// would make a batch of thousands of partitions, and every shuffle over it a
// cost of partitions².
type Queue[T any] struct {
	oneAtATime bool
	eng        *rdd.Engine

	mu     sync.Mutex
	queued []queuedBatch[T]

	// For checkpoints: what each batch held, by batch time (nil elements: an RDD
	// or an empty batch), and the batches to produce again after a restart.
	record bool // the Context checkpoints: keep what each batch held
	log    BatchLog[servedBatch[T]]
}

// queuedBatch is one Push (elems) or PushRDD (r).
type queuedBatch[T any] struct {
	elems []T
	r     *rdd.RDD[T] // nil for Push
}

type servedBatch[T any] struct {
	Elems []T
	RDD   bool // pushed as an RDD: cannot be checkpointed
}

// QueueMode is what each batch of a QueueStream takes: OneAtATime or
// AllAtOnce, its only values (the zero QueueMode is OneAtATime); a named mode
// where Spark passes a boolean oneAtATime.
type QueueMode struct{ all bool }

var (
	// OneAtATime: each batch takes the next queued slice or RDD. It is the
	// zero QueueMode.
	OneAtATime = QueueMode{}
	// AllAtOnce: each batch takes everything queued.
	AllAtOnce = QueueMode{all: true}
)

// String returns "OneAtATime" or "AllAtOnce".
func (m QueueMode) String() string {
	if m.all {
		return "AllAtOnce"
	}
	return "OneAtATime"
}

// QueueStream returns an input stream reading from a new Queue, and the
// queue, initially holding batches (each becomes an RDD with the engine's
// default partitioning).
//
// A nil c gives a stream of no Context (see ErrInvalid) and a queue that works
// but feeds nothing.
func QueueStream[T any](c *Context, mode QueueMode, batches ...[]T) (*DStream[T], *Queue[T]) {
	oneAtATime := !mode.all
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

// Push queues one batch of elements. The slice is not copied, unless a
// batch takes it with others (then their elements are gathered into one).
func (q *Queue[T]) Push(batch []T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, queuedBatch[T]{elems: batch})
}

// PushRDD queues one batch as an RDD; its record count (for metrics) is
// reported as -1, unknown. A batch that takes only r is r itself, with its
// partitions and partitioner; with other items, r's partitions may be
// coalesced with theirs (see Queue).
func (q *Queue[T]) PushRDD(r *rdd.RDD[T]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, queuedBatch[T]{r: r})
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
	taken := q.queued[:n:n]
	q.queued = q.queued[n:]
	r, served := q.gather(taken)
	clear(taken) // the queue's array no longer holds the batch
	q.serve(t, served)
	if served.RDD {
		return r, InputInfo{Records: -1}, nil
	}
	return r, InputInfo{Records: int64(len(served.Elems))}, nil
}

// gather returns the RDD of one batch made of the taken items, and what it
// held for checkpoints: the pushed slices' elements, in push order, as one
// RDD of the engine's default partitioning (one slice is not copied), then
// the pushed RDDs, unioned and coalesced to the engine's parallelism if that
// union has more partitions. A batch of one pushed RDD is that RDD.
func (q *Queue[T]) gather(taken []queuedBatch[T]) (*rdd.RDD[T], servedBatch[T]) {
	if len(taken) == 1 && taken[0].r != nil {
		return taken[0].r, servedBatch[T]{RDD: true}
	}
	var pushed [][]T
	var rdds []*rdd.RDD[T]
	for _, b := range taken {
		if b.r != nil {
			rdds = append(rdds, b.r)
		} else {
			pushed = append(pushed, b.elems)
		}
	}
	served := servedBatch[T]{RDD: len(rdds) > 0}
	if len(pushed) > 0 {
		served.Elems = pushed[0]
		if len(pushed) > 1 {
			served.Elems = slices.Concat(pushed...)
		}
		rdds = append([]*rdd.RDD[T]{rdd.Parallelize(q.eng, served.Elems, 0)}, rdds...)
	}
	if len(rdds) == 1 {
		return rdds[0], served
	}
	u := rdd.Union(rdds...)
	if n := q.eng.Parallelism(); u.NumPartitions() > n {
		return rdd.Coalesce(u, n), served
	}
	return u, served
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
			return nil, fmt.Errorf("dstream.Queue: the batch of %v was pushed as an RDD, which cannot be checkpointed", errfmt.Time(cp.Times[i]))
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
