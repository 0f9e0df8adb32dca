package dstream

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
)

// recovery is what GetOrCreate found to resume from.
type recovery struct {
	zero    time.Time // the time before the first batch, as in the run that saved it
	state   time.Time // the batch the restored state is of: later ones run again
	history time.Time // batches after it and up to state are read again, without output
}

// recover loads the newest checkpoint of the directory, if any, checks it against
// the graph and prepares Run to resume from it: it restores the sources' data and
// the states, and the ledger of saved states the next checkpoints plan from.
func (c *Context) recover() error {
	c.ckptChecked = true
	if err := c.openCheckpoints(); err != nil {
		return err
	}
	meta, cm, err := c.latestCheckpoint()
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return nil // a fresh start
	}
	if err != nil {
		return err
	}
	if meta.Interval != c.interval {
		return fmt.Errorf("dstream.GetOrCreate: %w: the checkpoint's batch interval is %v, the Context's %v", ErrInvalid, meta.Interval, c.interval)
	}
	inputs, states, err := c.checkpointNames()
	if err != nil {
		return err
	}
	// The restored state: a snapshot and the deltas after it. None when the job
	// stopped before the first was saved. It is read also when the graph has no
	// stateful stream, so that graphDiffs names the saved states it would drop.
	var chain []*checkpoint.Checkpoint
	if len(cm.StateTimes) > 0 {
		if chain, err = c.readState(meta.Time, cm.StateTimes); err != nil {
			return err
		}
	}
	if diffs := graphDiffs(meta, chain, inputs, states); len(diffs) > 0 {
		return fmt.Errorf("dstream.GetOrCreate: %w: the graph does not match the checkpoint of %v in %s:\n  %s",
			ErrInvalid, errfmt.Time(meta.Time), c.ckptDir, strings.Join(diffs, "\n  "))
	}
	r, ledger := resumePoint(cm, meta.Time, len(states) > 0, chain, c.clock.Now().Location(), c.history(), c.interval)
	c.zero = r.zero
	for _, in := range inputs {
		e, _ := meta.Source(in.name)
		if err := in.src.Restore(e.Data); err != nil {
			return fmt.Errorf("dstream.GetOrCreate: restoring source %s: %w", in.name, err)
		}
	}
	if chain != nil {
		if err := c.restoreStates(states, chain, r.state); err != nil {
			return err
		}
	}
	c.recovery, c.ckpt.ledger = &r, ledger
	c.logger.Info("dstream: resuming from a checkpoint", "dir", c.ckptDir, "last_completed", meta.Time,
		"state", r.state, "last_generated", cm.LastGenerated)
	return nil
}

// latestCheckpoint returns the directory's newest metadata checkpoint and its
// Context entry (checkpoint.ErrNoCheckpoint: none).
func (c *Context) latestCheckpoint() (*checkpoint.Checkpoint, ckptMeta, error) {
	var cm ckptMeta
	meta, err := c.ckpt.meta.Latest()
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return nil, cm, err
	}
	if err != nil {
		return nil, cm, fmt.Errorf("dstream.GetOrCreate: %w", err)
	}
	entry, ok := meta.Source(ctxEntry)
	if !ok {
		return nil, cm, fmt.Errorf("dstream.GetOrCreate: checkpoint of %v in %s has no %s entry", errfmt.Time(meta.Time), c.ckptDir, ctxEntry)
	}
	if err := checkpoint.Decode(entry.Data, &cm); err != nil {
		return nil, cm, fmt.Errorf("dstream.GetOrCreate: checkpoint of %v: %w", errfmt.Time(meta.Time), err)
	}
	return meta, cm, nil
}

// readState returns the files of the newest of times (the states the checkpoint of
// last lists) that can be read, from its snapshot on; else of an older one, saying
// so.
func (c *Context) readState(last time.Time, times []time.Time) ([]*checkpoint.Checkpoint, error) {
	var errs []string
	for _, at := range slices.Backward(times) {
		chain, err := stateChain(c.ckpt.state, at)
		if err == nil {
			return chain, nil
		}
		c.logger.Warn("dstream: a saved state cannot be read: falling back to an older one", "dir", c.ckptDir, "state", at, "error", err)
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("dstream.GetOrCreate: %w: none of the states the checkpoint of %v lists (%v) can be read: %s",
		checkpoint.ErrCorrupt, errfmt.Time(last), times, strings.Join(errs, "; "))
}

// graphDiffs lists, sorted, how the graph's sources and states differ, by name and
// type, from the sources of the metadata checkpoint meta and the states of the
// newest file of chain (not compared when chain is empty).
func graphDiffs(meta *checkpoint.Checkpoint, chain []*checkpoint.Checkpoint, inputs []namedInput, states map[string]*streamInfo) []string {
	sources := make(map[string]string, len(inputs))
	for _, in := range inputs {
		sources[in.name] = in.in.sourceType()
	}
	saved := slices.DeleteFunc(slices.Clone(meta.Sources), func(e checkpoint.Entry) bool { return e.Name == ctxEntry })
	diffs := entryDiffs("source", sources, saved)
	if len(chain) > 0 {
		types := make(map[string]string, len(states))
		for n, in := range states {
			types[n] = in.codec.typ
		}
		diffs = append(diffs, entryDiffs("stateful stream", types, chain[len(chain)-1].States)...)
	}
	slices.Sort(diffs)
	return diffs
}

// entryDiffs lists how the graph's entries of a kind (their types by name) differ
// from the saved ones.
func entryDiffs(kind string, graph map[string]string, saved []checkpoint.Entry) []string {
	var diffs []string
	for _, n := range slices.Sorted(maps.Keys(graph)) {
		i := slices.IndexFunc(saved, func(e checkpoint.Entry) bool { return e.Name == n })
		switch {
		case i < 0:
			diffs = append(diffs, fmt.Sprintf("%s %s is not in the checkpoint", kind, n))
		case saved[i].Type != graph[n]:
			diffs = append(diffs, fmt.Sprintf("%s %s was a %s, is a %s", kind, n, saved[i].Type, graph[n]))
		}
	}
	for _, e := range saved {
		if _, ok := graph[e.Name]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %s (%s) of the checkpoint is not in the graph", kind, e.Name, e.Type))
		}
	}
	return diffs
}

// resumePoint returns where a Context resumes from the checkpoint of batch last,
// whose Context entry is cm, with the states of chain restored (none: the graph has
// no state, or none was saved), and the ledger of saved states it plans its next
// checkpoints from. The clock's location is loc; history and interval are the
// graph's (Context.history) and the batch interval. It does no I/O.
//
// It resumes after the restored state; with states but none saved, from the first
// batch; with no state, after last. The windows read again the batches of history
// before it (none before the first batch).
func resumePoint(cm ckptMeta, last time.Time, states bool, chain []*checkpoint.Checkpoint, loc *time.Location, history, interval time.Duration) (recovery, stateLedger) {
	at := last
	switch {
	case len(chain) > 0:
		at = chain[len(chain)-1].Time
	case states:
		at = cm.Zero
	}
	// Batch times are derived from the zero time, as in the run that saved them
	// (times are map keys), in the clock's location, as in a fresh start (decoded
	// times are in time.Local).
	zero := cm.Zero.In(loc)
	at = zero.Add(at.Sub(zero))
	from := at.Add(-history)
	if from.Before(zero) {
		from = zero
	}
	from = from.Add(-from.Sub(zero) % interval)
	var l stateLedger
	if states {
		l.times = slices.DeleteFunc(slices.Clone(cm.StateTimes), func(t time.Time) bool { return t.After(at) })
	}
	if len(chain) > 0 {
		l.base, l.deltas = at, len(chain)-1
	}
	return recovery{zero: zero, state: at, history: from}, l
}

// restoreStates restores every state of states from chain, the state checkpoints of
// stateTime, reporting its progress in bytes of the saved states (Progress, op
// "dstream.restore").
func (c *Context) restoreStates(states map[string]*streamInfo, chain []*checkpoint.Checkpoint, stateTime time.Time) (err error) {
	datas := make(map[string][][]byte, len(states))
	var size int64
	for n := range states {
		d, err := chainData(chain, n)
		if err != nil {
			return fmt.Errorf("dstream.GetOrCreate: restoring the state of %s at %v: %w", n, errfmt.Time(stateTime), err)
		}
		datas[n] = d
		for _, b := range d {
			size += int64(len(b))
		}
	}
	progress := c.StartProgress("dstream.restore", c.ckptDir, size, "bytes")
	defer func() { progress.Done(err) }()
	for _, n := range slices.Sorted(maps.Keys(states)) {
		if err := states[n].codec.restore(stateTime, datas[n], progress.Add); err != nil {
			return fmt.Errorf("dstream.GetOrCreate: restoring the state of %s at %v: %w", n, errfmt.Time(stateTime), err)
		}
	}
	return nil
}

// startCatchup starts the progress report (op "dstream.catchup") of the batches a
// resumed Context has due at now, when Run starts: those after its restored state,
// to the last batch time at or before now, which it returns. It returns nil if the
// Context did not resume or has no batch due.
func (c *Context) startCatchup(now time.Time) (*ProgressReporter, time.Time) {
	if c.recovery == nil {
		return nil, time.Time{}
	}
	last := now.Add(-now.Sub(c.zero) % c.interval)
	n := int64(last.Sub(c.recovery.state) / c.interval)
	if n < 1 {
		return nil, time.Time{}
	}
	return c.StartProgress("dstream.catchup", c.ckptDir, n, "batches"), last
}

// resumed reports whether batch time t is at or before the batch the Context
// resumed from: its RDDs come from history, and a stream built on its previous
// RDD starts afresh after it.
func (c *Context) resumed(t time.Time) bool {
	return c.recovery != nil && !t.After(c.recovery.state)
}
