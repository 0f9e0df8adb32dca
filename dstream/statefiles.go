package dstream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
)

// State checkpoints are deltas: the first save of a run (and of a resumed run that
// has no state yet) is a snapshot, every key; each later one holds only the keys
// changed since the save before (its Base). A compactor, in the background, merges
// the newest snapshot and the deltas after it into a new snapshot once there are
// StateSnapshotEvery deltas, and deletes the files no restart can need any longer.
// The state at a save time is its file and, back along the bases, the files to the
// newest snapshot (a compaction's snapshot of a time replaces, when it can be read,
// the delta of that time).
//
//	save:      S1   d2   d3 … d10  d11  d12 …
//	compactor:                S10            (S1…d10 merged; files before the
//	                                          snapshot before S10 are deleted)

// defaultStateSnapshotEvery is StateSnapshotEvery's default.
const defaultStateSnapshotEvery = 10

// StateSnapshotEvery sets after how many delta state checkpoints the state is
// compacted into a full snapshot, in the background: a state checkpoint costs the keys
// changed since the last one, and a restart reads the newest snapshot and at most n
// deltas. n must be at least 1. Default: 10.
func StateSnapshotEvery(n int) Opt {
	return func(c *Context) {
		if n < 1 {
			c.invalidf("dstream.StateSnapshotEvery", "%d, want at least 1", n)
			return
		}
		c.snapshotEvery = n
	}
}

// stateCodec saves and restores a stateful stream's state.
type stateCodec struct {
	typ string
	// slides is the stream's default state checkpoint interval in slides
	// (MapWithState: 10); 0: the larger of its slide and 10s.
	slides int
	// save returns the state at batch t: a snapshot if base is zero, else the
	// keys changed since the save at base (see stateHeader); saved is called once
	// that is durable.
	save  func(ctx context.Context, t, base time.Time) ([]byte, error)
	saved func()
	// merge makes a snapshot of a snapshot and the deltas after it, oldest
	// first; restore sets the state of batch t from them, telling progress how
	// many more bytes of chain it has restored as it goes.
	merge   func(chain [][]byte) ([]byte, error)
	restore func(t time.Time, chain [][]byte, progress func(bytes int64)) error
}

// stateHeader is how every saved state entry starts: a snapshot, or the changes since
// the state saved at Base.
type stateHeader struct {
	Snapshot bool
	Base     time.Time
}

// stateChain returns the state checkpoints that make the state saved at t, oldest
// first: the newest snapshot of t or before, and the deltas after it to t.
func stateChain(store *checkpoint.Store, t time.Time) ([]*checkpoint.Checkpoint, error) {
	var chain []*checkpoint.Checkpoint
	for at := t; ; {
		cp, err := store.At(at)
		if err != nil {
			return nil, fmt.Errorf("the state saved at %v: %w", errfmt.Time(at), err)
		}
		h, err := chainHeader(cp)
		if err != nil {
			return nil, err
		}
		chain = append(chain, cp)
		if h.Snapshot {
			break
		}
		if !h.Base.Before(at) {
			return nil, fmt.Errorf("%w: the state delta saved at %v has base %v", checkpoint.ErrCorrupt, errfmt.Time(at), errfmt.Time(h.Base))
		}
		at = h.Base
	}
	slices.Reverse(chain)
	return chain, nil
}

// chainHeader returns the header that every state entry of cp has (they are saved
// together: all snapshots, or all deltas on one base).
func chainHeader(cp *checkpoint.Checkpoint) (stateHeader, error) {
	if len(cp.States) == 0 {
		return stateHeader{}, fmt.Errorf("%w: the state checkpoint of %v holds no state", checkpoint.ErrCorrupt, errfmt.Time(cp.Time))
	}
	var first stateHeader
	for i, e := range cp.States {
		var h stateHeader
		if err := checkpoint.Decode(e.Data, &h); err != nil {
			return stateHeader{}, fmt.Errorf("the state of %s saved at %v: %w", e.Name, errfmt.Time(cp.Time), err)
		}
		if i == 0 {
			first = h
		} else if h.Snapshot != first.Snapshot || !h.Base.Equal(first.Base) {
			return stateHeader{}, fmt.Errorf("%w: the states saved at %v are not of one kind (%s: %+v, %s: %+v)",
				checkpoint.ErrCorrupt, errfmt.Time(cp.Time), cp.States[0].Name, first, e.Name, h)
		}
	}
	return first, nil
}

// chainData returns the data of the state named name in every checkpoint of chain,
// oldest first.
func chainData(chain []*checkpoint.Checkpoint, name string) ([][]byte, error) {
	out := make([][]byte, len(chain))
	for i, cp := range chain {
		e, ok := cp.State(name)
		if !ok {
			return nil, fmt.Errorf("%w: the state checkpoint of %v has no state %s", checkpoint.ErrCorrupt, errfmt.Time(cp.Time), name)
		}
		out[i] = e.Data
	}
	return out, nil
}

// compactor merges state deltas into snapshots in the background (see
// StateSnapshotEvery) and deletes the state files no restart needs.
type compactor struct {
	store  *checkpoint.Store
	codecs map[string]*stateCodec
	jobs   chan compaction
	logger func(msg string, args ...any)

	mu    sync.Mutex
	snaps []time.Time // the snapshots this compactor wrote and has not deleted, oldest first
	err   error       // of the last compaction
}

// compaction asks for the state saved at at to be made a snapshot; files before the
// snapshot that the state saved at keep needs may go.
type compaction struct{ at, keep time.Time }

// newCompactor returns the compactor of a checkpointing Context with states to save,
// and makes it the one writeCheckpoint asks; nil if there is none to run.
func (c *Context) newCompactor() *compactor {
	if c.ckpt == nil {
		return nil
	}
	_, states, err := c.checkpointNames()
	if err != nil || len(states) == 0 {
		return nil
	}
	codecs := make(map[string]*stateCodec, len(states))
	for n, in := range states {
		codecs[n] = in.codec
	}
	k := &compactor{store: c.ckpt.state, codecs: codecs, jobs: make(chan compaction, 1), logger: c.logger.Warn}
	c.ckpt.compactor = k
	return k
}

// request queues a compaction, replacing one not started yet.
func (k *compactor) request(job compaction) {
	for {
		select {
		case k.jobs <- job:
			return
		default:
		}
		select {
		case <-k.jobs: // superseded
		default:
		}
	}
}

// run compacts until ctx ends.
func (k *compactor) run(ctx context.Context) {
	for {
		select {
		case job := <-k.jobs:
			err := k.compact(job)
			k.mu.Lock()
			k.err = err
			k.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				k.logger("dstream: compacting the state checkpoints failed; the deltas stay, and the next compaction tries again",
					"at", job.at, "error", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// compact writes the state saved at job.at as a snapshot, then deletes the files
// before the snapshot before it, if no restart needs them.
func (k *compactor) compact(job compaction) error {
	chain, err := stateChain(k.store, job.at)
	if err != nil {
		return err
	}
	if len(chain) > 1 {
		snap := &checkpoint.Checkpoint{Time: job.at, Interval: chain[len(chain)-1].Interval}
		for _, e := range chain[len(chain)-1].States {
			codec, ok := k.codecs[e.Name]
			if !ok {
				return fmt.Errorf("no codec for the state %s", e.Name)
			}
			datas, err := chainData(chain, e.Name)
			if err != nil {
				return err
			}
			data, err := codec.merge(datas)
			if err != nil {
				return fmt.Errorf("merging the state of %s: %w", e.Name, err)
			}
			snap.States = append(snap.States, checkpoint.Entry{Name: e.Name, Type: e.Type, Data: data})
		}
		if err := k.store.Save(snap); err != nil {
			return err
		}
	}
	// The state saved at job.keep (the oldest a restart may resume from) is made
	// of the files from the newest snapshot at or before it on. The files before
	// the snapshot before that one go: one more chain stays, for a restart to fall
	// back on if the newest snapshot cannot be read.
	k.mu.Lock()
	defer k.mu.Unlock()
	k.snaps = append(k.snaps, job.at)
	i, _ := slices.BinarySearchFunc(k.snaps, job.keep, func(a, b time.Time) int { return a.Compare(b) })
	if i < len(k.snaps) && k.snaps[i].Equal(job.keep) {
		i++
	}
	if i > 1 {
		k.store.PruneBefore(k.snaps[i-2])
		k.snaps = k.snaps[i-2:]
	}
	return nil
}

// stateMemory is the untyped view of a stateful stream's stores, for the Context to
// keep them within the memory budget and to delete their spill files.
type stateMemory interface {
	memBytes() int64
	evictTo(share float64) error
	close() error
}

// addStores registers a stateful stream's stores.
func (c *Context) addStores(m stateMemory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores = append(c.stores, m)
}

// fitStates moves cold state to the stores' spill files once the stores hold more
// than their part of the engine's memory budget (half of it: the rest is the
// shuffles'): every store keeps the same share of what it holds.
func (c *Context) fitStates() error {
	budget := c.eng.MemoryBudget() / 2
	if budget <= 0 || len(c.stores) == 0 {
		return nil
	}
	var total int64
	for _, m := range c.stores {
		total += m.memBytes()
	}
	if total <= budget {
		return nil
	}
	share := float64(budget) / float64(total)
	c.logger.Debug("dstream: the state stores hold more than their memory budget: spilling cold entries",
		"bytes", total, "budget", budget)
	for _, m := range c.stores {
		if err := m.evictTo(share); err != nil {
			return err
		}
	}
	return nil
}

// closeStores deletes the state stores' spill files, at the end of Run.
func (c *Context) closeStores() {
	for _, m := range c.stores {
		if err := m.close(); err != nil {
			c.logger.Warn("dstream: deleting a state store's spill file failed", "error", err)
		}
	}
}
