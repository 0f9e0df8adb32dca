package rdd

import (
	"context"
	"sync"
	"sync/atomic"
)

// cache holds a persisted RDD's computed partitions.
type cache[T any] struct {
	mu    []sync.Mutex
	parts [][]T
	done  []atomic.Bool
	n     atomic.Int64 // partitions computed
}

func newCache[T any](n int) *cache[T] {
	return &cache[T]{mu: make([]sync.Mutex, n), parts: make([][]T, n), done: make([]atomic.Bool, n)}
}

func (c *cache[T]) complete() bool { return c.n.Load() == int64(len(c.parts)) }

// iter yields partition p from the cache, computing and storing the whole
// partition first if it is not there yet. Concurrent tasks wanting the same
// partition compute it once.
func (c *cache[T]) iter(r *RDD[T], tc *task, p int, yield func(T) bool) error {
	if !c.done[p].Load() {
		if err := c.fill(r, tc, p); err != nil {
			return err
		}
	}
	return yieldSlice(tc, c.parts[p], yield)
}

// fill computes and stores partition p unless another task has. A failure
// (an error, or a panic in user code that the task recovers) stores nothing
// and leaves the partition to the next action.
func (c *cache[T]) fill(r *RDD[T], tc *task, p int) error {
	c.mu[p].Lock()
	defer c.mu[p].Unlock()
	if c.done[p].Load() {
		return nil
	}
	var part []T
	err := r.compute(tc, p, func(t T) bool {
		part = append(part, t)
		return true
	})
	if err != nil {
		return err
	}
	c.parts[p] = part
	c.done[p].Store(true)
	c.n.Add(1)
	return nil
}

// Persist keeps the RDD's partitions in memory once an action has computed
// them, so that later actions (and other RDDs built on this one) read them
// instead of recomputing the lineage. A partition is always computed whole
// before it is kept, even under Take. Persisting an RDD that is already
// persisted does nothing. Persist returns r.
func (r *RDD[T]) Persist() *RDD[T] {
	if r == nil {
		return r
	}
	r.cache.CompareAndSwap(nil, newCache[T](r.nparts))
	return r
}

// Cache is Persist, Spark's shorthand.
func (r *RDD[T]) Cache() *RDD[T] { return r.Persist() }

// Unpersist drops the kept partitions; later actions recompute them.
// Actions already running keep what they read. Unpersist returns r.
func (r *RDD[T]) Unpersist() *RDD[T] {
	if r == nil {
		return r
	}
	r.cache.Store(nil)
	return r
}

// IsPersisted reports whether Persist is in effect.
func (r *RDD[T]) IsPersisted() bool { return r != nil && r.cache.Load() != nil }

// Computed reports whether r is persisted and every partition has been
// computed and kept, so that actions on r, and LocalCheckpoint, read memory
// only.
func (r *RDD[T]) Computed() bool {
	c := cacheOf(r)
	return c != nil && c.complete()
}

// LocalCheckpoint computes r (reading its persisted partitions if it has
// them) and returns a new RDD holding those partitions in memory, with r's
// partitioner and none of its lineage (Spark's localCheckpoint). Streams use
// it to cut chains such as an incremental window built on the previous
// window, which would otherwise grow with every batch.
func LocalCheckpoint[T any](ctx context.Context, r *RDD[T]) (*RDD[T], error) {
	var parts [][]T
	if c := cacheOf(r); c != nil && c.complete() {
		// Kept partitions are never modified: share them instead of
		// copying.
		parts = c.parts
	} else {
		var err error
		if parts, err = collectParts(ctx, "rdd.LocalCheckpoint", r); err != nil {
			return nil, err
		}
	}
	out := FromPartitions(r.eng, parts)
	out.name, out.part = "rdd.LocalCheckpoint", r.part
	return out, nil
}

// cacheOf returns r's cache, or nil for a nil or unpersisted RDD.
func cacheOf[T any](r *RDD[T]) *cache[T] {
	if r == nil {
		return nil
	}
	return r.cache.Load()
}
