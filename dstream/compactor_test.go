package dstream

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
)

func TestPrunePoint(t *testing.T) {
	at := sec
	snaps := secs(4, 7, 10)
	tests := []struct {
		name   string
		snaps  []time.Time
		keep   time.Time
		before int // -1: nothing deleted
	}{
		{"no snapshot yet", nil, at(3), -1},
		{"the oldest state kept is before every snapshot", snaps, at(3), -1},
		{"the oldest state kept is the first snapshot: no older one to fall back on", snaps, at(4), -1},
		{"the oldest state kept is after the first snapshot", snaps, at(5), -1},
		{"the oldest state kept is the second snapshot: files before the first go", snaps, at(7), 0},
		{"the oldest state kept is after the second snapshot", snaps, at(8), 0},
		{"the oldest state kept is the third snapshot: files before the second go", snaps, at(10), 1},
		{"the oldest state kept is after every snapshot", snaps, at(12), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, ok := prunePoint(tt.snaps, tt.keep)
			if !ok {
				before = -1
			}
			if before != tt.before {
				t.Errorf("prunePoint = %d (ok %v), want %d", before, ok, tt.before)
			}
		})
	}
}

func TestCompactorRequestReplacesAPendingOne(t *testing.T) {
	k := &compactor{jobs: make(chan compaction, 1)}
	first, second := compaction{at: sec(1)}, compaction{at: sec(2)}
	k.request(first)
	k.request(second)
	if got := <-k.jobs; got != second {
		t.Errorf("the compaction queued: %+v, want the second, %+v", got, second)
	}
	if len(k.jobs) != 0 {
		t.Error("the first compaction is still queued")
	}
}

// savedKeys is a state entry of the tests: a stateHeader, and keys.
type savedKeys struct {
	Snapshot bool
	Base     time.Time
	Keys     []string
}

func TestCompactorMergesDeltasAndPrunes(t *testing.T) {
	store, at := newStateStore(t), sec
	save := func(n int, s savedKeys) { t.Helper(); store.save(n, "s", s) }
	read := func(n int) (savedKeys, error) {
		var s savedKeys
		cp, err := store.At(at(n))
		if err != nil {
			return s, err
		}
		return s, checkpoint.Decode(cp.States[0].Data, &s)
	}
	codec := &stateCodec{merge: func(chain [][]byte) ([]byte, error) {
		merged := savedKeys{Snapshot: true}
		for _, data := range chain {
			var s savedKeys
			if err := checkpoint.Decode(data, &s); err != nil {
				return nil, err
			}
			merged.Keys = append(merged.Keys, s.Keys...)
		}
		return checkpoint.Encode(merged)
	}}
	k := &compactor{store: store.Store, codecs: map[string]*stateCodec{"s": codec}}

	save(1, savedKeys{Snapshot: true, Keys: []string{"a"}})
	save(2, savedKeys{Base: at(1), Keys: []string{"b"}})
	save(3, savedKeys{Base: at(2), Keys: []string{"c"}})
	if err := k.compact(compaction{at: at(3), keep: at(1)}); err != nil {
		t.Fatal(err)
	}
	if s, err := read(3); err != nil || !s.Snapshot || !cmp.Equal(s.Keys, []string{"a", "b", "c"}) {
		t.Errorf("the state at 3s after its compaction: %+v, %v; want a snapshot of a, b, c", s, err)
	}
	save(4, savedKeys{Base: at(3), Keys: []string{"d"}})
	if err := k.compact(compaction{at: at(4), keep: at(3)}); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 4; n++ { // the snapshot of 3s is the oldest kept: none before it to fall back on
		if _, err := read(n); err != nil {
			t.Errorf("the state at %ds: %v", n, err)
		}
	}
	save(5, savedKeys{Base: at(4), Keys: []string{"e"}})
	if err := k.compact(compaction{at: at(5), keep: at(4)}); err != nil {
		t.Fatal(err)
	}
	// The oldest state kept (4s) is made of the snapshot of 4s: the files before
	// the snapshot before it (3s) go.
	for n := 1; n <= 5; n++ {
		_, err := read(n)
		if gone := n < 3; gone != errors.Is(err, checkpoint.ErrNoCheckpoint) {
			t.Errorf("the state at %ds: %v, want it deleted: %v", n, err, gone)
		}
	}
	if !cmp.Equal(k.snaps, secs(3, 4, 5)) {
		t.Errorf("the snapshots remembered: %v", k.snaps)
	}
}

func TestCompactorWithoutTheStatesCodec(t *testing.T) {
	store := newStateStore(t)
	store.save(1, "unknown", savedKeys{Snapshot: true})
	store.save(2, "unknown", savedKeys{Base: sec(1)})
	k := &compactor{store: store.Store, codecs: map[string]*stateCodec{}}
	if err := k.compact(compaction{at: sec(2)}); err == nil {
		t.Error("compact of a state it has no codec for = nil, want an error")
	}
}
