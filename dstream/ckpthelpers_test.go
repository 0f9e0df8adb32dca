package dstream

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/spatedev/spate/checkpoint"
)

// testZero is the time before the first batch in the checkpoint tests.
var testZero = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sec returns the time n seconds after testZero.
func sec(n int) time.Time { return testZero.Add(time.Duration(n) * time.Second) }

// secs returns the times ns seconds after testZero.
func secs(ns ...int) []time.Time {
	var out []time.Time
	for _, n := range ns {
		out = append(out, sec(n))
	}
	return out
}

// stateStore is a store of state checkpoints in a temporary directory.
type stateStore struct {
	*checkpoint.Store
	t *testing.T
}

func newStateStore(t *testing.T) stateStore {
	t.Helper()
	store, err := checkpoint.Open(filepath.Join(t.TempDir(), "state"), checkpoint.KeepAll())
	if err != nil {
		t.Fatal(err)
	}
	return stateStore{store, t}
}

// save saves v as the state named name at sec(n).
func (s stateStore) save(n int, name string, v any) {
	s.t.Helper()
	e, err := checkpoint.NewEntry(name, v)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.Save(&checkpoint.Checkpoint{Time: sec(n), Interval: time.Second, States: []checkpoint.Entry{e}}); err != nil {
		s.t.Fatal(err)
	}
}
