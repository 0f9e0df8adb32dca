package dstream

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPlanCheckpoint(t *testing.T) {
	zero, at, times := testZero, sec, secs
	// in is a batch at 20s of a graph with states saved every 5s, windows reading 3s
	// back, a snapshot every 3 deltas, and a compactor: each case changes it.
	in := func(f func(in *planInput)) planInput {
		p := planInput{at: at(20), zero: zero, interval: time.Second, history: 3 * time.Second,
			states: true, every: 5 * time.Second, valid: true, snapshotEvery: 3, compacts: true}
		f(&p)
		return p
	}
	tests := []struct {
		name string
		in   planInput
		want ckptPlan
	}{{
		name: "no state: the sources keep the batches after this one and the windows' history",
		in:   in(func(in *planInput) { in.states = false }),
		want: ckptPlan{kept: ckptOutcome{from: at(18)}},
	}, {
		name: "no state, history back to before the first batch: from the first batch",
		in:   in(func(in *planInput) { in.states, in.at = false, at(2) }),
		want: ckptPlan{kept: ckptOutcome{from: at(1)}},
	}, {
		name: "first state checkpoint: a snapshot; unsaved, a restart runs every batch again",
		in:   in(func(*planInput) {}),
		want: ckptPlan{state: saveSnapshot,
			saved: ckptOutcome{ledger: stateLedger{times: times(20), base: at(20)}, from: at(18)},
			kept:  ckptOutcome{from: at(1)}},
	}, {
		name: "a state without an RDD at the batch (between its slides): nothing saved",
		in:   in(func(in *planInput) { in.valid = false }),
		want: ckptPlan{kept: ckptOutcome{from: at(1)}},
	}, {
		name: "interval not reached: nothing saved, the sources keep from the oldest state listed",
		in: in(func(in *planInput) {
			in.ledger = stateLedger{times: times(10, 16), base: at(16), deltas: 1}
		}),
		want: ckptPlan{kept: ckptOutcome{ledger: stateLedger{times: times(10, 16), base: at(16), deltas: 1}, from: at(8)}},
	}, {
		name: "interval reached: a delta on the last state saved",
		in: in(func(in *planInput) {
			in.ledger = stateLedger{times: times(10, 15), base: at(15), deltas: 1}
		}),
		want: ckptPlan{state: saveDelta, base: at(15),
			saved: ckptOutcome{ledger: stateLedger{times: times(10, 15, 20), base: at(20), deltas: 2}, from: at(8)},
			kept:  ckptOutcome{ledger: stateLedger{times: times(10, 15), base: at(15), deltas: 1}, from: at(8)}},
	}, {
		name: "the fourth state saved: the oldest is no longer listed, nor kept by the sources",
		in: in(func(in *planInput) {
			in.ledger = stateLedger{times: times(5, 10, 15), base: at(15), deltas: 1}
		}),
		want: ckptPlan{state: saveDelta, base: at(15),
			saved: ckptOutcome{ledger: stateLedger{times: times(10, 15, 20), base: at(20), deltas: 2}, from: at(8)},
			kept:  ckptOutcome{ledger: stateLedger{times: times(5, 10, 15), base: at(15), deltas: 1}, from: at(3)}},
	}, {
		name: "StateSnapshotEvery deltas: the compactor makes a snapshot of this state",
		in: in(func(in *planInput) {
			in.ledger = stateLedger{times: times(5, 10, 15), base: at(15), deltas: 2}
		}),
		want: ckptPlan{state: saveDelta, base: at(15),
			saved: ckptOutcome{ledger: stateLedger{times: times(10, 15, 20), base: at(20)}, from: at(8),
				compact: &compaction{at: at(20), keep: at(10)}},
			kept: ckptOutcome{ledger: stateLedger{times: times(5, 10, 15), base: at(15), deltas: 2}, from: at(3)}},
	}, {
		name: "StateSnapshotEvery deltas without a compactor: the deltas go on counting",
		in: in(func(in *planInput) {
			in.compacts = false
			in.ledger = stateLedger{times: times(15), base: at(15), deltas: 4}
		}),
		want: ckptPlan{state: saveDelta, base: at(15),
			saved: ckptOutcome{ledger: stateLedger{times: times(15, 20), base: at(20), deltas: 5}, from: at(13)},
			kept:  ckptOutcome{ledger: stateLedger{times: times(15), base: at(15), deltas: 4}, from: at(13)}},
	}, {
		name: "after a restore of a snapshot and 2 deltas: a delta on the restored state",
		in: in(func(in *planInput) {
			in.at = at(13)
			in.ledger = stateLedger{times: times(4, 8), base: at(8), deltas: 2}
		}),
		want: ckptPlan{state: saveDelta, base: at(8),
			saved: ckptOutcome{ledger: stateLedger{times: times(4, 8, 13), base: at(13)}, from: at(2),
				compact: &compaction{at: at(13), keep: at(4)}},
			kept: ckptOutcome{ledger: stateLedger{times: times(4, 8), base: at(8), deltas: 2}, from: at(2)}},
	}, {
		name: "after a restore of a job stopped before its first state: a snapshot",
		in:   in(func(in *planInput) { in.at = at(3) }),
		want: ckptPlan{state: saveSnapshot,
			saved: ckptOutcome{ledger: stateLedger{times: times(3), base: at(3)}, from: at(1)},
			kept:  ckptOutcome{from: at(1)}},
	}, {
		// Nothing distinguishes the last batch before a graceful stop: its
		// checkpoint is planned as any other, and a restart runs the batches
		// after the last state saved again.
		name: "the last batch before a stop: as any other",
		in: in(func(in *planInput) {
			in.at = at(21)
			in.ledger = stateLedger{times: times(20), base: at(20)}
		}),
		want: ckptPlan{kept: ckptOutcome{ledger: stateLedger{times: times(20), base: at(20)}, from: at(18)}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planCheckpoint(tt.in)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(ckptPlan{}, ckptOutcome{}, stateLedger{}, compaction{})); diff != "" {
				t.Errorf("planCheckpoint (-want +got):\n%s", diff)
			}
		})
	}
}

// The plan appends to a copy of the ledger's times: the ledger it was given (the
// Context's, until the state is saved) stays as it was.
func TestPlanCheckpointLeavesItsLedgerAlone(t *testing.T) {
	zero := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	times := make([]time.Time, 1, 4)
	times[0] = zero.Add(time.Second)
	in := planInput{at: zero.Add(2 * time.Second), zero: zero, interval: time.Second, states: true, every: time.Second,
		valid: true, snapshotEvery: 10, ledger: stateLedger{times: times, base: times[0]}}
	p := planCheckpoint(in)
	if p.state != saveDelta || len(p.saved.ledger.times) != 2 {
		t.Fatalf("plan %+v, want a delta listing 2 states", p)
	}
	if got := times[:2][1]; !got.IsZero() {
		t.Errorf("the plan wrote %v into the ledger's times", got)
	}
}

func TestStateSaveString(t *testing.T) {
	for s, want := range map[stateSave]string{saveNone: "none", saveSnapshot: "snapshot", saveDelta: "delta"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}
