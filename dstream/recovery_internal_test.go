package dstream

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
)

func TestResumePoint(t *testing.T) {
	zero, at := testZero, sec
	chain := func(ns ...int) []*checkpoint.Checkpoint {
		var out []*checkpoint.Checkpoint
		for _, n := range ns {
			out = append(out, &checkpoint.Checkpoint{Time: at(n)})
		}
		return out
	}
	tests := []struct {
		name       string
		cm         ckptMeta
		states     bool
		chain      []*checkpoint.Checkpoint
		history    time.Duration
		want       recovery
		wantLedger stateLedger
	}{{
		name:    "no state: after the last batch completed, the windows' history read again",
		cm:      ckptMeta{Zero: zero},
		history: 3 * time.Second,
		want:    recovery{zero: zero, state: at(10), history: at(7)},
	}, {
		name:    "states, none saved yet: every batch again, from the first",
		cm:      ckptMeta{Zero: zero},
		states:  true,
		history: 3 * time.Second,
		want:    recovery{zero: zero, state: zero, history: zero},
	}, {
		name:       "a snapshot and 2 deltas restored: after them; a newer state unread is no longer listed",
		cm:         ckptMeta{Zero: zero, StateTimes: []time.Time{at(4), at(6), at(8)}},
		states:     true,
		chain:      chain(2, 4, 6),
		history:    3 * time.Second,
		want:       recovery{zero: zero, state: at(6), history: at(3)},
		wantLedger: stateLedger{times: []time.Time{at(4), at(6)}, base: at(6), deltas: 2},
	}, {
		name:       "a history longer than the job: from the first batch",
		cm:         ckptMeta{Zero: zero, StateTimes: []time.Time{at(2)}},
		states:     true,
		chain:      chain(2),
		history:    time.Minute,
		want:       recovery{zero: zero, state: at(2), history: zero},
		wantLedger: stateLedger{times: []time.Time{at(2)}, base: at(2)},
	}, {
		name:       "a history that is not whole batches: from the batch before",
		cm:         ckptMeta{Zero: zero, StateTimes: []time.Time{at(8)}},
		states:     true,
		chain:      chain(8),
		history:    2500 * time.Millisecond,
		want:       recovery{zero: zero, state: at(8), history: at(5)},
		wantLedger: stateLedger{times: []time.Time{at(8)}, base: at(8)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ledger := resumePoint(tt.cm, at(10), tt.states, tt.chain, time.UTC, tt.history, time.Second)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(recovery{})); diff != "" {
				t.Errorf("resumePoint (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLedger, ledger, cmp.AllowUnexported(stateLedger{})); diff != "" {
				t.Errorf("the ledger (-want +got):\n%s", diff)
			}
		})
	}
}

// A resumed Context's batch times are in its clock's location, whatever the
// location of the decoded checkpoint.
func TestResumePointIsInTheClocksLocation(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	zero := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := zero.Add(4 * time.Second).Local()
	r, _ := resumePoint(ckptMeta{Zero: zero.Local(), StateTimes: []time.Time{st}}, st, true,
		[]*checkpoint.Checkpoint{{Time: st}}, loc, 0, time.Second)
	for _, tm := range []time.Time{r.zero, r.state, r.history} {
		if tm.Location() != loc {
			t.Errorf("%v is in %v, want %v", tm, tm.Location(), loc)
		}
	}
}

func TestGraphDiffs(t *testing.T) {
	meta := &checkpoint.Checkpoint{Sources: []checkpoint.Entry{
		{Name: ctxEntry, Type: "dstream.ckptMeta"},
		{Name: "kept", Type: "queue"},
		{Name: "retyped", Type: "queue"},
		{Name: "gone", Type: "queue"},
	}}
	src := func(name, typ string) namedInput { return namedInput{name: name, in: typedInput{typ: typ}} }
	inputs := []namedInput{src("kept", "queue"), src("retyped", "kafka"), src("new", "queue")}
	states := map[string]*streamInfo{
		"counts":  {codec: &stateCodec{typ: "int"}},
		"renamed": {codec: &stateCodec{typ: "int"}},
		"sums":    {codec: &stateCodec{typ: "float"}},
	}
	chain := []*checkpoint.Checkpoint{{}, {States: []checkpoint.Entry{
		{Name: "counts", Type: "int"}, {Name: "sums", Type: "int"}, {Name: "old", Type: "int"},
	}}}
	want := []string{
		"source gone (queue) of the checkpoint is not in the graph",
		"source new is not in the checkpoint",
		"source retyped was a queue, is a kafka",
		"stateful stream old (int) of the checkpoint is not in the graph",
		"stateful stream renamed is not in the checkpoint",
		"stateful stream sums was a int, is a float",
	}
	if diff := cmp.Diff(want, graphDiffs(meta, chain, inputs, states)); diff != "" {
		t.Errorf("graphDiffs (-want +got):\n%s", diff)
	}
	// Without a restored state (none saved yet), the states are not compared.
	if diff := cmp.Diff(want[:3], graphDiffs(meta, nil, inputs, states)); diff != "" {
		t.Errorf("graphDiffs without a state (-want +got):\n%s", diff)
	}
	if got := graphDiffs(meta, nil, inputs[:2:2], nil); len(got) != 2 {
		t.Errorf("graphDiffs = %q, want the retyped and the gone source", got)
	}
}

// typedInput is an input of which only sourceType is called.
type typedInput struct {
	input
	typ string
}

func (in typedInput) sourceType() string { return in.typ }

func TestReadStateFallsBackToAnOlderState(t *testing.T) {
	store, at := newStateStore(t), sec
	save := func(n int, h stateHeader) { t.Helper(); store.save(n, "s", h) }
	save(1, stateHeader{Snapshot: true})
	save(2, stateHeader{Base: at(1)})
	save(3, stateHeader{Base: at(9)}) // its base was never saved
	c := &Context{logger: slog.New(slog.DiscardHandler), ckpt: &ckptState{state: store.Store}}
	chain, err := c.readState(at(3), secs(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !chain[0].Time.Equal(at(1)) || !chain[1].Time.Equal(at(2)) {
		t.Errorf("the chain read: %v, want the states of 1s and 2s", chain)
	}
	if _, err := c.readState(at(3), secs(3, 4)); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("readState of states that cannot be read = %v, want ErrCorrupt", err)
	}
}

// The Context entry of a checkpoint written when it had a History field (which
// nothing read) still decodes.
func TestACkptMetaWithHistoryStillDecodes(t *testing.T) {
	zero := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := struct {
		Zero          time.Time
		StateTimes    []time.Time
		LastGenerated time.Time
		History       time.Duration
	}{zero, []time.Time{zero.Add(time.Second)}, zero.Add(2 * time.Second), time.Minute}
	data, err := checkpoint.Encode(old)
	if err != nil {
		t.Fatal(err)
	}
	var cm ckptMeta
	if err := checkpoint.Decode(data, &cm); err != nil {
		t.Fatalf("Decode = %v", err)
	}
	want := ckptMeta{Zero: old.Zero, StateTimes: old.StateTimes, LastGenerated: old.LastGenerated}
	if diff := cmp.Diff(want, cm); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}
