package dstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
)

// fakeSource is a checkpointed source that records what the writer asks of it.
type fakeSource struct {
	input   // only sourceType is called
	from    []time.Time
	cleaned int
	fail    error // what Checkpoint returns
}

func (s *fakeSource) sourceType() string { return "fake" }
func (s *fakeSource) Checkpoint(from time.Time) ([]byte, error) {
	s.from = append(s.from, from)
	return []byte{0xc0}, s.fail // msgpack nil
}
func (s *fakeSource) Restore([]byte) error { return nil }
func (s *fakeSource) CheckpointSaved()     { s.cleaned++ }

// fakeCodec returns a state codec that saves data (or fails with err) and counts the
// saves made durable.
func fakeCodec(data []byte, err error, saved *int) *stateCodec {
	return &stateCodec{typ: "fake",
		save:  func(context.Context, time.Time, time.Time) ([]byte, error) { return data, err },
		saved: func() { *saved++ }}
}

// writerFixture is a ckptState over a temporary directory, with one source and
// two states.
type writerFixture struct {
	ck     *ckptState
	src    *fakeSource
	inputs []namedInput
	saved  int // saves the states were told of
}

func newWriterFixture(t *testing.T) *writerFixture {
	dir := t.TempDir()
	meta, err := checkpoint.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	state, err := checkpoint.Open(filepath.Join(dir, "state"), checkpoint.KeepAll())
	if err != nil {
		t.Fatal(err)
	}
	f := &writerFixture{ck: &ckptState{meta: meta, state: state}, src: &fakeSource{}}
	f.inputs = []namedInput{{name: "src", in: f.src, src: f.src}}
	return f
}

func (f *writerFixture) states(err error) map[string]*stateCodec {
	return map[string]*stateCodec{"b": fakeCodec([]byte{1}, err, &f.saved), "a": fakeCodec([]byte{2}, err, &f.saved)}
}

// metaTimes returns the state times the newest metadata checkpoint lists.
func (f *writerFixture) metaTimes(t *testing.T) (time.Time, []time.Time) {
	t.Helper()
	cp, err := f.ck.meta.Latest()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cp.Source(ctxEntry)
	if !ok {
		t.Fatalf("the checkpoint of %v has no %s entry", cp.Time, ctxEntry)
	}
	var cm ckptMeta
	if err := checkpoint.Decode(e.Data, &cm); err != nil {
		t.Fatal(err)
	}
	return cp.Time, cm.StateTimes
}

// expect checks what a write at wAt did when its outcome was out: the metadata of
// wAt lists out's states, the source was asked for its data from out.from and told
// the metadata is saved, the ledger is out's, and the states were told saved times.
func (f *writerFixture) expect(t *testing.T, out ckptOutcome, saved int) {
	t.Helper()
	at, times := f.metaTimes(t)
	if !at.Equal(wAt) || !cmp.Equal(times, out.ledger.times) {
		t.Errorf("the metadata of %v lists %v, want that of %v listing %v", at, times, wAt, out.ledger.times)
	}
	if !cmp.Equal(f.src.from, []time.Time{out.from}) || f.src.cleaned != 1 || f.saved != saved {
		t.Errorf("source asked from %v, cleaned %d times; states told saved %d times: want from %v, 1, %d",
			f.src.from, f.src.cleaned, f.saved, out.from, saved)
	}
	if diff := cmp.Diff(out.ledger, f.ck.ledger, cmp.AllowUnexported(stateLedger{})); diff != "" {
		t.Errorf("the ledger after (-want +got):\n%s", diff)
	}
}

var (
	wAt = sec(20)
	// wPlan saves a delta at wAt on the state at 15s: once saved, the ledger lists
	// it and the sources keep from 8s; else from 3s.
	wPlan = ckptPlan{state: saveDelta, base: sec(15),
		saved: ckptOutcome{ledger: stateLedger{times: []time.Time{sec(10), wAt}, base: wAt, deltas: 1},
			from: sec(8), compact: &compaction{at: wAt, keep: sec(10)}},
		kept: ckptOutcome{ledger: stateLedger{times: secs(5, 10)},
			from: sec(3)}}
)

func TestCkptWriterSavesTheStatesThenTheMetadataListingThem(t *testing.T) {
	f := newWriterFixture(t)
	f.ck.compactor = &compactor{jobs: make(chan compaction, 1)}
	if err := f.ck.write(context.Background(), wPlan, wAt, time.Second, ckptMeta{Zero: testZero}, f.inputs, f.states(nil)); err != nil {
		t.Fatal(err)
	}
	st, err := f.ck.state.At(wAt)
	if err != nil {
		t.Fatalf("the state saved at %v: %v", wAt, err)
	}
	if got := []string{st.States[0].Name, st.States[1].Name}; !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("the state file holds %v, want a and b, in order", got)
	}
	f.expect(t, wPlan.saved, 2)
	select {
	case job := <-f.ck.compactor.jobs:
		if job != *wPlan.saved.compact {
			t.Errorf("compaction %+v asked for, want %+v", job, *wPlan.saved.compact)
		}
	default:
		t.Error("no compaction asked for")
	}
}

func TestCkptWriterWritesTheMetadataWhenTheStatesCannotBeSaved(t *testing.T) {
	f := newWriterFixture(t)
	f.ck.compactor = &compactor{jobs: make(chan compaction, 1)}
	boom := errors.New("boom")
	err := f.ck.write(context.Background(), wPlan, wAt, time.Second, ckptMeta{Zero: testZero}, f.inputs, f.states(boom))
	if !errors.Is(err, boom) {
		t.Fatalf("write = %v, want the state's error", err)
	}
	if _, err := f.ck.state.At(wAt); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("a state file of %v: %v", wAt, err)
	}
	f.expect(t, wPlan.kept, 0)
	if len(f.ck.compactor.jobs) != 0 {
		t.Error("a compaction was asked for a state that is not saved")
	}
}

func TestCkptWriterWithoutStatesDue(t *testing.T) {
	f := newWriterFixture(t)
	p := ckptPlan{kept: wPlan.kept}
	if err := f.ck.write(context.Background(), p, wAt, time.Second, ckptMeta{Zero: testZero}, f.inputs, f.states(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ck.state.Latest(); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("a state file: %v", err)
	}
	f.expect(t, wPlan.kept, 0)
}

// A source is told to clean up only once the metadata holding its data is durable.
func TestCkptWriterCleansUpOnlyAfterTheMetadataIsSaved(t *testing.T) {
	t.Run("the source fails", func(t *testing.T) {
		f := newWriterFixture(t)
		f.src.fail = errors.New("boom")
		err := f.ck.write(context.Background(), wPlan, wAt, time.Second, ckptMeta{Zero: testZero}, f.inputs, f.states(nil))
		if err == nil || !errors.Is(err, f.src.fail) {
			t.Fatalf("write = %v, want the source's error", err)
		}
		if _, err := f.ck.meta.Latest(); !errors.Is(err, checkpoint.ErrNoCheckpoint) || f.src.cleaned != 0 {
			t.Errorf("metadata: %v; cleaned %d times: want none, 0", err, f.src.cleaned)
		}
	})
	t.Run("the metadata cannot be saved", func(t *testing.T) {
		f := newWriterFixture(t)
		if err := os.RemoveAll(f.ck.meta.Dir()); err != nil {
			t.Fatal(err)
		}
		if err := f.ck.write(context.Background(), wPlan, wAt, time.Second, ckptMeta{Zero: testZero}, f.inputs, f.states(nil)); err == nil {
			t.Fatal("write = nil, want the metadata's error")
		}
		if f.src.cleaned != 0 {
			t.Errorf("cleaned %d times, want 0", f.src.cleaned)
		}
	})
}
