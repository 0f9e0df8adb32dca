package dstream

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// BatchLog is what a CheckpointedSource keeps to produce its batches again after a
// restart: what each batch it produced was (offset ranges, blocks, elements), by batch
// time, until no checkpoint needs it; and, once restored, the recorded batches still
// to produce again. Batch times are compared as instants, whatever their location.
// A BatchLog is safe for concurrent use; its zero value is empty and ready.
type BatchLog[T any] struct {
	mu    sync.Mutex
	kept  map[int64]T // by batch time in Unix nanoseconds
	again map[int64]T
}

// Record keeps what the batch at t was.
func (l *BatchLog[T]) Record(t time.Time, v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kept == nil {
		l.kept = map[int64]T{}
	}
	l.kept[t.UnixNano()] = v
}

// Again returns, and forgets, the restored batch of t, if there is one: the source
// must produce exactly it again. It is also recorded, for the next checkpoints.
func (l *BatchLog[T]) Again(t time.Time) (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok = l.again[t.UnixNano()]; ok {
		delete(l.again, t.UnixNano())
		if l.kept == nil {
			l.kept = map[int64]T{}
		}
		l.kept[t.UnixNano()] = v
	}
	return v, ok
}

// Saved returns every recorded batch from time from on, oldest first, and forgets
// the older ones: no later checkpoint needs them. A source's Checkpoint passes the
// first of the times it is asked for: batches it produced after the Context listed
// them are saved too, so that its positions, past them, stay consistent with what it
// saves.
func (l *BatchLog[T]) Saved(from time.Time) (ts []time.Time, vs []T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]int64, 0, len(l.kept))
	for t := range l.kept {
		if t < from.UnixNano() {
			delete(l.kept, t)
			continue
		}
		keys = append(keys, t)
	}
	slices.Sort(keys)
	for _, t := range keys {
		ts, vs = append(ts, time.Unix(0, t).UTC()), append(vs, l.kept[t])
	}
	return ts, vs
}

// Restore takes back what Saved returned, as the batches to produce again.
func (l *BatchLog[T]) Restore(ts []time.Time, vs []T) error {
	if len(ts) != len(vs) {
		return fmt.Errorf("dstream.BatchLog: %d batch times and %d batches", len(ts), len(vs))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.again = make(map[int64]T, len(ts))
	for i, t := range ts {
		l.again[t.UnixNano()] = vs[i]
	}
	return nil
}

// Restored returns the restored batches not produced again yet, oldest first.
func (l *BatchLog[T]) Restored() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]int64, 0, len(l.again))
	for t := range l.again {
		keys = append(keys, t)
	}
	slices.Sort(keys)
	out := make([]T, len(keys))
	for i, t := range keys {
		out[i] = l.again[t]
	}
	return out
}
