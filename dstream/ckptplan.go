package dstream

import (
	"slices"
	"time"
)

// keepStates is how many saved states a checkpoint lists, oldest first: a restart
// that cannot read the newest may fall back twice.
const keepStates = 3

// stateLedger is what a checkpointing Context knows, between batches, of the states
// it has saved (or restored).
type stateLedger struct {
	// times are the saved states a restart may resume from, oldest first, at most
	// keepStates: what the next metadata checkpoint lists.
	times []time.Time
	// base is the last state saved or restored: the next save is a delta on it;
	// zero: none yet, the next save is a snapshot.
	base time.Time
	// deltas is how many deltas were saved since the last snapshot, or since the
	// last compaction was asked for.
	deltas int
}

// planInput is what the checkpoint after batch at is decided from.
type planInput struct {
	at       time.Time     // the batch completed
	zero     time.Time     // the time before the first batch
	interval time.Duration // the batch interval
	history  time.Duration // how far before a resumed state the windows read (Context.history)

	// states is whether the graph has states to save; every is the shortest of
	// their state checkpoint intervals (stateEvery); valid is whether every one
	// of them has an RDD at at (a state is saved only at its slides).
	states bool
	every  time.Duration
	valid  bool

	snapshotEvery int  // StateSnapshotEvery, its default applied
	compacts      bool // a compactor runs (it is asked to make a snapshot)

	ledger stateLedger // before this checkpoint
}

// stateSave is what a checkpoint does with the states.
type stateSave int

const (
	saveNone     stateSave = iota // not due: the metadata lists the states saved before
	saveSnapshot                  // every key of every state
	saveDelta                     // the keys changed since the state saved at the plan's base
)

func (s stateSave) String() string {
	switch s {
	case saveSnapshot:
		return "snapshot"
	case saveDelta:
		return "delta"
	}
	return "none"
}

// ckptPlan is what the checkpoint after a batch writes and what the Context keeps
// after it, decided before any of it is written (see planCheckpoint). The states are
// saved first; saved holds if that succeeds, kept if no save is due or it fails.
// Either way the metadata is written (see the package doc, "Order of a batch").
type ckptPlan struct {
	state stateSave
	base  time.Time // of a delta
	saved ckptOutcome
	kept  ckptOutcome
}

// ckptOutcome is what a checkpoint's metadata records and what the Context keeps
// after it.
type ckptOutcome struct {
	// ledger is the Context's ledger after the checkpoint; the metadata lists
	// ledger.times.
	ledger stateLedger
	// from is the first batch time the sources must be able to produce again
	// (CheckpointedSource.Checkpoint).
	from time.Time
	// compact, if not nil, is the compaction to ask the compactor for.
	compact *compaction
}

// planCheckpoint decides the checkpoint after batch in.at. It does no I/O.
//
// The states are due when the graph has states, each has an RDD at the batch, and
// none was saved yet or the last was saved at least in.every before. A due save is a
// snapshot if nothing was saved or restored yet, else a delta on the last. Once
// in.snapshotEvery deltas are saved in a row, a compaction of the state saved at the
// batch is asked for, which may delete the files before the oldest listed state.
//
// A restart resumes from the oldest listed state (with states but none saved yet,
// from the first batch; with no state, after the batch) and reads again the batches
// after it, and the windows' history before it: the sources must keep every batch
// from the first of these on.
func planCheckpoint(in planInput) ckptPlan {
	p := ckptPlan{kept: ckptOutcome{ledger: in.ledger, from: in.keepFrom(in.ledger.times)}}
	if !in.stateDue() {
		return p
	}
	l := stateLedger{times: appendKept(in.ledger.times, in.at), base: in.at, deltas: in.ledger.deltas + 1}
	p.state, p.base = saveDelta, in.ledger.base
	if p.base.IsZero() {
		p.state, l.deltas = saveSnapshot, 0
	}
	var compact *compaction
	if l.deltas >= in.snapshotEvery && in.compacts {
		l.deltas = 0
		compact = &compaction{at: in.at, keep: l.times[0]}
	}
	p.saved = ckptOutcome{ledger: l, from: in.keepFrom(l.times), compact: compact}
	return p
}

// stateDue reports whether the states are saved at in.at.
func (in planInput) stateDue() bool {
	if !in.states || !in.valid {
		return false
	}
	times := in.ledger.times
	return len(times) == 0 || in.at.Sub(times[len(times)-1]) >= in.every
}

// keepFrom returns the first batch a restart from a checkpoint listing the states
// saved at times may produce again.
func (in planInput) keepFrom(times []time.Time) time.Time {
	from := in.at
	switch {
	case in.states && len(times) > 0:
		from = times[0]
	case in.states:
		from = in.zero
	}
	from = from.Add(-in.history)
	if from.Before(in.zero) {
		from = in.zero
	}
	return from.Add(in.interval)
}

// appendKept returns times (not modified) with t appended, its keepStates newest.
func appendKept(times []time.Time, t time.Time) []time.Time {
	times = append(slices.Clone(times), t)
	return times[max(len(times)-keepStates, 0):]
}
