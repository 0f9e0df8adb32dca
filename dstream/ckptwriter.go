package dstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spatedev/spate/checkpoint"
)

// ckptMeta is the Context's own entry of a checkpoint. (Checkpoints written before
// it lost its History field, which nothing read, decode into it: the field is
// skipped.)
type ckptMeta struct {
	Zero          time.Time
	StateTimes    []time.Time // the state checkpoints this one can resume from, oldest first
	LastGenerated time.Time   // logged when a Context resumes
}

const ctxEntry = "dstream.Context"

// ckptState is a checkpointing Context's open checkpoint directory: the stores of
// its metadata and of its states, and what it keeps between batches. Recovery reads
// it (GetOrCreate); write executes each batch's plan into it.
type ckptState struct {
	meta, state *checkpoint.Store
	lock        *checkpoint.DirLock // held from GetOrCreate (or Run) until Run returns
	ledger      stateLedger
	compactor   *compactor // while Run runs, with states to save
}

// openCheckpoints locks the Context's checkpoint directory, so that no other job
// uses it meanwhile, and opens its checkpoint stores.
func (c *Context) openCheckpoints() (err error) {
	if c.ckpt != nil || c.ckptDir == "" {
		return nil
	}
	lock, err := checkpoint.Lock(c.ckptDir)
	if err != nil {
		return fmt.Errorf("dstream: %w", err)
	}
	defer func() {
		if err != nil {
			lock.Unlock()
		}
	}()
	meta, err := checkpoint.Open(c.ckptDir+"/meta", checkpoint.WithLogger(c.logger))
	if err != nil {
		return err
	}
	state, err := checkpoint.Open(c.ckptDir+"/state", checkpoint.WithLogger(c.logger), checkpoint.KeepAll())
	if err != nil {
		return err
	}
	c.ckpt = &ckptState{meta: meta, state: state, lock: lock}
	return nil
}

// closeCheckpoints releases the checkpoint directory, at the end of Run.
func (c *Context) closeCheckpoints() {
	if c.ckpt == nil {
		return
	}
	if err := c.ckpt.lock.Unlock(); err != nil {
		c.logger.Warn("dstream: releasing the checkpoint directory", "dir", c.ckptDir, "error", err)
	}
}

// checkpointBatch writes the checkpoint of a completed batch. A failure is
// logged and recorded in the batch's CheckpointErr; it is the error of Run once
// MaxCheckpointFailures batches in a row have failed to checkpoint.
func (c *Context) checkpointBatch(ctx context.Context, info *BatchInfo) error {
	c.mu.Lock()
	last := c.lastGen
	c.mu.Unlock()
	start := time.Now()
	err := c.writeCheckpoint(ctx, info.Time, last)
	info.CheckpointDuration = time.Since(start)
	if err == nil {
		c.ckptFailures = 0
		return nil
	}
	info.CheckpointErr = err
	c.ckptFailures++
	limit := c.maxCkptFailures
	if limit == 0 {
		limit = defaultMaxCheckpointFailures
	}
	if c.ckptFailures < limit {
		c.logger.Error("dstream: writing the checkpoint failed; a restart would resume from an older one",
			"batch", info.Time, "dir", c.ckptDir, "failures_in_a_row", c.ckptFailures, "limit", limit, "error", err)
		return nil
	}
	return &BatchError{Time: info.Time, Op: "dstream.Checkpoint",
		Err: fmt.Errorf("%d batches in a row could not be checkpointed into %s (MaxCheckpointFailures): the last: %w", c.ckptFailures, c.ckptDir, err)}
}

// writeCheckpoint saves the checkpoint after batch t (lastGenerated: the last batch
// generated): it plans it (planCheckpoint) and has c.ckpt write it.
func (c *Context) writeCheckpoint(ctx context.Context, t, lastGenerated time.Time) error {
	if err := c.openCheckpoints(); err != nil {
		return err
	}
	inputs, states, err := c.checkpointNames()
	if err != nil {
		return err
	}
	p := planCheckpoint(c.planInput(t, states))
	cm := ckptMeta{Zero: c.zero, LastGenerated: lastGenerated}
	return c.ckpt.write(ctx, p, t, c.interval, cm, inputs, codecsOf(states))
}

// planInput returns what the checkpoint after batch t is planned from, with the
// graph's states states.
func (c *Context) planInput(t time.Time, states map[string]*streamInfo) planInput {
	in := planInput{at: t, zero: c.zero, interval: c.interval, history: c.history(),
		states: len(states) > 0, valid: true,
		snapshotEvery: cmp.Or(c.snapshotEvery, defaultStateSnapshotEvery),
		compacts:      c.ckpt.compactor != nil, ledger: c.ckpt.ledger}
	for _, s := range states {
		if every := s.stateEvery(c.ckptInterval); in.every == 0 || every < in.every {
			in.every = every
		}
		in.valid = in.valid && s.validAt(t)
	}
	return in
}

// codecsOf returns the codecs of states, by name.
func codecsOf(states map[string]*streamInfo) map[string]*stateCodec {
	codecs := make(map[string]*stateCodec, len(states))
	for n, in := range states {
		codecs[n] = in.codec
	}
	return codecs
}

// write executes plan p, the checkpoint after batch t (interval: the batch
// interval), in the order "Order of a batch" in the package doc gives: the states,
// if due, then the metadata — cm, listing the states of the outcome, and each
// input's data from the outcome's from — then tells the inputs that clean up after
// checkpoints. A failure to save the states is returned, after the metadata.
func (ck *ckptState) write(ctx context.Context, p ckptPlan, t time.Time, interval time.Duration, cm ckptMeta, inputs []namedInput, states map[string]*stateCodec) error {
	out := p.kept
	var stateErr error
	if p.state != saveNone {
		if stateErr = ck.saveState(ctx, t, p.base, interval, states); stateErr == nil {
			out = p.saved
		}
	}
	ck.ledger = out.ledger
	if out.compact != nil && ck.compactor != nil {
		ck.compactor.request(*out.compact)
	}
	cm.StateTimes = out.ledger.times
	entry, err := checkpoint.NewEntry(ctxEntry, cm)
	if err != nil {
		return errors.Join(stateErr, err)
	}
	meta := &checkpoint.Checkpoint{Time: t, Interval: interval, Sources: []checkpoint.Entry{entry}}
	for _, in := range inputs {
		data, err := in.src.Checkpoint(out.from)
		if err != nil {
			return errors.Join(stateErr, fmt.Errorf("checkpointing source %s: %w", in.name, err))
		}
		meta.Sources = append(meta.Sources, checkpoint.Entry{Name: in.name, Type: in.in.sourceType(), Data: data})
	}
	if err := ck.meta.Save(meta); err != nil {
		return errors.Join(stateErr, err)
	}
	for _, in := range inputs {
		if cl, ok := in.src.(CheckpointCleaner); ok {
			cl.CheckpointSaved()
		}
	}
	return stateErr
}

// saveState saves every state of states at batch t in the state store: a snapshot
// if base is zero, else the changes since the save at base. Once the file is
// durable, the states forget which keys changed.
func (ck *ckptState) saveState(ctx context.Context, t, base time.Time, interval time.Duration, states map[string]*stateCodec) error {
	state := &checkpoint.Checkpoint{Time: t, Interval: interval}
	for n, codec := range states {
		data, err := codec.save(ctx, t, base)
		if err != nil {
			return fmt.Errorf("checkpointing the state of %s: %w", n, err)
		}
		state.States = append(state.States, checkpoint.Entry{Name: n, Type: codec.typ, Data: data})
	}
	slices.SortFunc(state.States, func(a, b checkpoint.Entry) int { return strings.Compare(a.Name, b.Name) })
	if err := ck.state.Save(state); err != nil {
		return err
	}
	for _, codec := range states {
		codec.saved()
	}
	return nil
}
