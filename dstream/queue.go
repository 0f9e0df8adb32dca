package dstream

import (
	"context"
	"sync"
	"time"

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
}

// QueueStream returns an input stream reading from a new Queue, and the
// queue, initially holding batches (each becomes an RDD with the engine's
// default partitioning).
func QueueStream[T any](c *Context, oneAtATime bool, batches ...[]T) (*DStream[T], *Queue[T]) {
	q := &Queue[T]{oneAtATime: oneAtATime, eng: c.eng}
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
}

// PushRDD queues one batch as an RDD; its record count (for metrics) is
// reported as -1, unknown.
func (q *Queue[T]) PushRDD(r *rdd.RDD[T]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, r)
	q.counts = append(q.counts, -1)
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

// Batch takes the next queued batch (or all of them), or an empty RDD.
func (q *Queue[T]) Batch(_ context.Context, _ time.Time) (*rdd.RDD[T], int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.queued)
	if n == 0 {
		return rdd.Empty[T](q.eng), 0, nil
	}
	if q.oneAtATime {
		n = 1
	}
	taken, counts := q.queued[:n], q.counts[:n]
	q.queued, q.counts = q.queued[n:], q.counts[n:]
	records := int64(0)
	for _, c := range counts {
		if c < 0 {
			records = -1
			break
		}
		records += c
	}
	if n == 1 {
		return taken[0], records, nil
	}
	return rdd.Union(taken...), records, nil
}
