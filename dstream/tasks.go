package dstream

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/shuffle"
	"github.com/spatedev/spate/state"
)

// TaskState is the state of a stateful stream (UpdateStateByKey, MapWithState)
// partitioned by task, as the source that owns the tasks sees it. A source whose
// batch RDDs carry a partitioner of its own, partition q being its task q (the
// Kafka keyed stream's), gives it to the stateful streams over it: they keep one
// store per task, and the source moves each task's state in and out of the process
// as it gains and loses the task, through these methods. Keys and values are
// encoded as checkpoints encode them (msgpack, package checkpoint).
//
// The methods are meant for a source's PrepareBatch and CommitBatch, which the
// Context calls while no batch runs.
type TaskState interface {
	// Name is the stateful stream's name (see DStream.Named): what names its
	// state outside the process, such as a changelog topic.
	Name() string
	// Tasks is the number of tasks (partitions) of the state.
	Tasks() int
	// Len returns how many keys task holds.
	Len(task int) int
	// Changes calls f with each key that the batch being committed changed in
	// task, encoded, with its value now; value is nil for a key the batch removed
	// (or timed out). It stops at f's first error, which it returns.
	Changes(task int, f func(key, value []byte) error) error
	// Entries calls f with every entry of task's store, encoded: a copy of the
	// task's state to keep outside the process. It stops at f's first error.
	Entries(task int, f func(key, value []byte) error) error
	// Restore empties task's store, then sets every entry of entries in order (a
	// nil value deletes the key): the task's state as a changelog holds it.
	Restore(task int, entries iter.Seq2[[]byte, []byte]) error
	// Drop empties task's store, for a task the process no longer owns; an
	// error is one of removing the store's spill file.
	Drop(task int) error
}

// TaskPartitioner is implemented by the partitioner of a source whose partition q
// is its task q, which moves between processes (kafka.TaskPartitioner): the
// stateful streams partitioned by it keep one store per task, which the source
// moves in and out of the process with the task (TaskStates). Such a stream's
// state must hold all that the stream needs to go on in another process: a
// windowed reduce's entries then hold each key's values of the window's batches
// (ReduceByKeyAndWindowInv takes the leaving ones out of them, not out of batches
// the process read: it may not have read them). The windows that hold records
// (Window, GroupByKeyAndWindow, ReduceByWindow, CountByWindow) keep no state: over
// such a stream, a task the process gains enters their windows from the batch
// that gained it, as the first windows after a start are partial.
type TaskPartitioner interface {
	// Tasks returns the number of tasks: the partition count.
	Tasks() int
}

// ErrBatchAborted is wrapped by the error a source's PrepareBatch or CommitBatch
// returns to abort the batch without ending Run: the batch's state changes are
// rolled back, its transactional outputs not committed, listeners hear it failed
// (BatchInfo.Err), and Run goes on with the next batch. The source must see to it
// that the batch's records are processed again, by this process or another: a Kafka
// stream fenced by its consumer group (its partitions went to another member) aborts
// its batch so. Spark has no such outcome: any failed job fails the batch.
var ErrBatchAborted = errors.New("dstream: batch aborted")

// BatchPreparer is implemented by a Source that must act before each batch is
// processed, once the batches before it are complete, such as one that moves the
// state of the tasks it gained or lost into or out of the stateful streams
// (TaskStates). The Context calls PrepareBatch from the goroutine that processes
// batches, before the batch's stateful streams are computed (step 1 of "Order of a
// batch" in the package doc); an error fails the batch, naming the source.
type BatchPreparer interface {
	PrepareBatch(ctx context.Context, t time.Time) error
}

// BatchCommitter is implemented by a Source that takes part in each batch's
// commit: the Context calls CommitBatch once the batch's outputs have succeeded and
// before its state changes are kept as the stores' new version (step 5 of "Order of
// a batch" in the package doc), from the goroutine that processes batches. An error
// fails the batch: its state changes are rolled back. A source writing the batch's state changes (TaskState.Changes) and its
// offsets in one transaction does it here.
type BatchCommitter interface {
	CommitBatch(ctx context.Context, t time.Time) error
}

// TaskStates returns the stateful streams of c partitioned by part, a source's
// task partitioner: those whose input carried it (or a partitioner its Equal
// method says places keys alike) at their first batch (UpdateStateByKey,
// MapWithState and the windowed reduces; see TaskPartitioner).
func (c *Context) TaskStates(part TaskPartitioner) []TaskState {
	c.mu.Lock()
	statefuls := slices.Clone(c.statefuls)
	c.mu.Unlock()
	_, names, _ := c.stableNames() // collisions fail Run at start when a source uses them
	var out []TaskState
	for _, st := range statefuls {
		h, ok := st.info().store.(interface {
			taskState(part TaskPartitioner, name string) TaskState
		})
		if n, named := names[st.info()]; ok && named {
			if ts := h.taskState(part, n); ts != nil {
				out = append(out, ts)
			}
		}
	}
	return out
}

func (h storeStream[K, E]) taskState(part TaskPartitioner, name string) TaskState {
	ks := h.ks
	ks.mu.Lock()
	defer ks.mu.Unlock()
	p, ok := part.(shuffle.Partitioner[K])
	if ks.part == nil || !ok || !ks.part.Equal(p) || ks.codec == nil {
		return nil
	}
	return taskState[K, E]{ks, name}
}

// storeCodec encodes a store's entries for TaskState: as a checkpoint saves them.
type storeCodec[K comparable, E any] struct {
	// encode returns k's value to write, nil for none (e is not kept: a timed
	// out MapWithState entry).
	encode func(e E) ([]byte, error)
	decode func(value []byte) (E, error)
}

type taskState[K comparable, E any] struct {
	ks   *keyedStore[K, E]
	name string
}

func (s taskState[K, E]) Name() string { return s.name }

func (s taskState[K, E]) Tasks() int {
	s.ks.mu.Lock()
	defer s.ks.mu.Unlock()
	return len(s.ks.stores)
}

func (s taskState[K, E]) Len(task int) int {
	s.ks.mu.Lock()
	defer s.ks.mu.Unlock()
	return s.ks.stores[task].Len()
}

func (s taskState[K, E]) Changes(task int, f func(key, value []byte) error) error {
	ks := s.ks
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for c := range ks.stores[task].Changes() {
		kb, err := checkpoint.Encode(c.Key)
		if err != nil {
			return fmt.Errorf("%s: task %d: key %v: %w", ks.name, task, c.Key, err)
		}
		var vb []byte
		if !c.Deleted {
			if vb, err = ks.codec.encode(c.Value); err != nil {
				return fmt.Errorf("%s: task %d: the value of key %v: %w", ks.name, task, c.Key, err)
			}
		}
		if err := f(kb, vb); err != nil {
			return err
		}
	}
	return ks.stores[task].Err()
}

func (s taskState[K, E]) Entries(task int, f func(key, value []byte) error) error {
	ks := s.ks
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for k, e := range ks.stores[task].All() {
		kb, err := checkpoint.Encode(k)
		if err != nil {
			return fmt.Errorf("%s: task %d: key %v: %w", ks.name, task, k, err)
		}
		vb, err := ks.codec.encode(e)
		if err != nil {
			return fmt.Errorf("%s: task %d: the value of key %v: %w", ks.name, task, k, err)
		}
		if vb == nil {
			continue // not kept (a timed-out entry)
		}
		if err := f(kb, vb); err != nil {
			return err
		}
	}
	return ks.stores[task].Err()
}

func (s taskState[K, E]) Restore(task int, entries iter.Seq2[[]byte, []byte]) error {
	ks := s.ks
	ks.mu.Lock()
	defer ks.mu.Unlock()
	st, err := ks.emptyStore(task)
	if err != nil {
		return err
	}
	n := 0
	for kb, vb := range entries {
		n++
		var k K
		if err := checkpoint.Decode(kb, &k); err != nil {
			return fmt.Errorf("%s: task %d: restoring entry %d: the key: %w", ks.name, task, n, err)
		}
		if vb == nil {
			st.LoadDeleted(k)
			continue
		}
		e, err := ks.codec.decode(vb)
		if err != nil {
			return fmt.Errorf("%s: task %d: restoring entry %d: the value of key %v: %w", ks.name, task, n, k, err)
		}
		st.Load(k, e)
	}
	ks.reindex(task)
	return st.Err()
}

func (s taskState[K, E]) Drop(task int) error {
	s.ks.mu.Lock()
	defer s.ks.mu.Unlock()
	_, err := s.ks.emptyStore(task)
	s.ks.reindex(task)
	return err
}

// emptyStore replaces task's store with an empty one at the same version, closing
// the old one (removing its spill file), and returns it. ks.mu is held.
func (ks *keyedStore[K, E]) emptyStore(task int) (*state.Store[K, E], error) {
	old := ks.stores[task]
	st := ks.newStore()
	if v := old.Version(); v > 0 {
		if err := st.Commit(v); err != nil { // an empty store moves to any later version
			return nil, fmt.Errorf("%s: task %d: %w", ks.name, task, err)
		}
	}
	ks.stores[task] = st
	if err := old.Close(); err != nil {
		return st, fmt.Errorf("%s: task %d: closing the store it held: %w", ks.name, task, err)
	}
	return st, nil
}
