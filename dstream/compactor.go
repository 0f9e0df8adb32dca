package dstream

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spatedev/spate/checkpoint"
)

// compactor merges state deltas into snapshots in the background (see
// StateSnapshotEvery) and deletes the state files no restart needs. The checkpoint
// writer asks it for compactions (request); one goroutine runs them (run).
type compactor struct {
	store  *checkpoint.Store
	codecs map[string]*stateCodec
	jobs   chan compaction
	logger func(msg string, args ...any)

	// snaps are the snapshots this compactor wrote and has not deleted, oldest
	// first (run's goroutine only).
	snaps []time.Time
}

// compaction asks for the state saved at at to be made a snapshot; files before the
// snapshot that the state saved at keep needs may go.
type compaction struct{ at, keep time.Time }

// newCompactor returns the compactor of a checkpointing Context with states to save,
// and makes it the one the checkpoint writer asks; nil if there is none to run.
func (c *Context) newCompactor() *compactor {
	if c.ckpt == nil {
		return nil
	}
	_, states, err := c.checkpointNames()
	if err != nil || len(states) == 0 {
		return nil
	}
	k := &compactor{store: c.ckpt.state, codecs: codecsOf(states), jobs: make(chan compaction, 1), logger: c.logger.Warn}
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
			if err := k.compact(job); err != nil && ctx.Err() == nil {
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
		snap, err := k.merge(job.at, chain)
		if err != nil {
			return err
		}
		if err := k.store.Save(snap); err != nil {
			return err
		}
	}
	k.snaps = append(k.snaps, job.at)
	if before, ok := prunePoint(k.snaps, job.keep); ok {
		k.store.PruneBefore(k.snaps[before])
		k.snaps = k.snaps[before:]
	}
	return nil
}

// merge returns the snapshot of the state saved at at, which chain makes: a snapshot
// and the deltas after it, oldest first.
func (k *compactor) merge(at time.Time, chain []*checkpoint.Checkpoint) (*checkpoint.Checkpoint, error) {
	last := chain[len(chain)-1]
	snap := &checkpoint.Checkpoint{Time: at, Interval: last.Interval}
	for _, e := range last.States {
		codec, ok := k.codecs[e.Name]
		if !ok {
			return nil, fmt.Errorf("no codec for the state %s", e.Name)
		}
		datas, err := chainData(chain, e.Name)
		if err != nil {
			return nil, err
		}
		data, err := codec.merge(datas)
		if err != nil {
			return nil, fmt.Errorf("merging the state of %s: %w", e.Name, err)
		}
		snap.States = append(snap.States, checkpoint.Entry{Name: e.Name, Type: e.Type, Data: data})
	}
	return snap, nil
}

// prunePoint returns the index in snaps (the snapshots written, oldest first) of
// the snapshot before which the state files may be deleted, if any, when keep is
// the oldest state a restart may resume from. That state is made of the files from
// the newest snapshot at or before it on; the snapshot before that one stays too,
// with the files after it: a restart that cannot read the newer snapshot falls back
// on it.
func prunePoint(snaps []time.Time, keep time.Time) (int, bool) {
	n, found := slices.BinarySearchFunc(snaps, keep, time.Time.Compare) // the snapshots before keep
	if found {
		n++
	}
	return n - 2, n > 1
}
