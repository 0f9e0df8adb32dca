package state_test

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/state"
)

func contents[K comparable, V any](s *state.Store[K, V]) map[K]V { return maps.Collect(s.All()) }

func changes[K comparable, V any](seq func(func(state.Change[K, V]) bool)) []state.Change[K, V] {
	var out []state.Change[K, V]
	for c := range seq {
		out = append(out, c)
	}
	return out
}

func TestStoreCommitAndRollback(t *testing.T) {
	s := state.New[string, int]()
	s.Put("a", 1)
	s.Put("b", 2)
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	// Version 2 changes a, deletes b, adds c, then fails.
	s.Put("a", 10)
	s.Put("a", 11)
	s.Delete("b")
	s.Put("c", 3)
	s.Delete("missing")
	want := []state.Change[string, int]{{Key: "a", Value: 11}, {Key: "b", Deleted: true}, {Key: "c", Value: 3}}
	if diff := cmp.Diff(want, changes(s.Changes())); diff != "" {
		t.Errorf("changes of version 2 (-want +got):\n%s", diff)
	}
	s.Rollback()
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 2}, contents(s)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
	if s.Version() != 1 || s.Changed() {
		t.Errorf("version %d, changed %v; want 1, false", s.Version(), s.Changed())
	}
	// Version 2 again, committed.
	s.Delete("a")
	if err := s.Commit(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(2); !errors.Is(err, state.ErrVersion) {
		t.Errorf("committing version 2 again: %v; want ErrVersion", err)
	}
	s.Rollback() // nothing to undo
	if diff := cmp.Diff(map[string]int{"b": 2}, contents(s)); diff != "" {
		t.Errorf("after version 2 (-want +got):\n%s", diff)
	}
}

func TestStoreDeltaHoldsEveryKeyChangedSinceTheSave(t *testing.T) {
	s := state.New[int, string](state.TrackDirty())
	s.Put(1, "x")
	s.Put(2, "y")
	s.Commit(1)
	s.MarkSaved()
	s.Put(1, "x2")
	s.Commit(2)
	s.Delete(2)
	s.Put(3, "z")
	s.Commit(3)
	s.Put(4, "w")
	s.Rollback() // a rolled back key may stay in the delta, with its value now (none)
	got := changes(s.Delta())
	slices.SortFunc(got, func(a, b state.Change[int, string]) int { return a.Key - b.Key })
	want := []state.Change[int, string]{{Key: 1, Value: "x2"}, {Key: 2, Deleted: true}, {Key: 3, Value: "z"}, {Key: 4, Deleted: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
	// Applying the delta to the saved state gives the state now.
	saved := state.New[int, string]()
	saved.Apply(slices.Values([]state.Change[int, string]{{Key: 1, Value: "x"}, {Key: 2, Value: "y"}}))
	saved.Apply(slices.Values(got))
	if diff := cmp.Diff(contents(s), contents(saved)); diff != "" {
		t.Errorf("saved state plus delta (-now +restored):\n%s", diff)
	}
	s.MarkSaved()
	if s.Dirty() != 0 || len(changes(s.Delta())) != 0 {
		t.Errorf("after MarkSaved: %d dirty keys", s.Dirty())
	}
}

// TestStoreAgainstAMap runs random versions of random changes, some rolled back,
// against a plain map kept by hand.
func TestStoreAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := state.New[int, int]()
	committed := map[int]int{}
	for v := int64(1); v <= 300; v++ {
		now := maps.Clone(committed)
		for range rng.IntN(20) {
			k := rng.IntN(50)
			if rng.IntN(3) == 0 {
				s.Delete(k)
				delete(now, k)
			} else {
				x := rng.Int()
				s.Put(k, x)
				now[k] = x
			}
		}
		if diff := cmp.Diff(now, contents(s)); diff != "" {
			t.Fatalf("version %d before commit (-want +got):\n%s", v, diff)
		}
		if rng.IntN(4) == 0 {
			s.Rollback()
		} else {
			if err := s.Commit(v); err != nil {
				t.Fatal(err)
			}
			committed = now
		}
		if diff := cmp.Diff(committed, contents(s)); diff != "" {
			t.Fatalf("version %d (-want +got):\n%s", v, diff)
		}
	}
}

func TestStoreChangeValuesDuringAll(t *testing.T) {
	s := state.New[int, int]()
	for k := range 100 {
		s.Put(k, k)
	}
	s.Commit(1)
	for k, v := range s.All() {
		if k%2 == 0 {
			s.Delete(k)
		} else {
			s.Put(k, v*10)
		}
	}
	if s.Len() != 50 {
		t.Fatalf("%d keys, want 50", s.Len())
	}
	for k, v := range s.All() {
		if k%2 == 0 || v != 10*k {
			t.Errorf("key %d = %d", k, v)
		}
	}
	s.Rollback()
	if s.Len() != 100 {
		t.Errorf("after the rollback %d keys, want 100", s.Len())
	}
}

func TestTimeoutsYieldDueKeysOnce(t *testing.T) {
	x := state.NewTimeouts[string]()
	x.Touch("a", 10)
	x.Touch("b", 10)
	x.Touch("a", 20) // touched again: its bucket at 10 is stale, the caller skips it
	x.Touch("c", 30)
	x.Touch("d", 5) // out of order: placed first
	type due struct {
		Key string
		At  int64
	}
	var got []due
	for k, at := range x.Due(20) {
		got = append(got, due{k, at})
	}
	want := []due{{"d", 5}, {"a", 10}, {"b", 10}, {"a", 20}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("due at 20 (-want +got):\n%s", diff)
	}
	if x.Len() != 1 {
		t.Errorf("%d touches left, want 1 (c)", x.Len())
	}
	// Breaking out keeps the rest.
	x.Touch("e", 30)
	for range x.Due(100) {
		break
	}
	got = nil
	for k, at := range x.Due(100) {
		got = append(got, due{k, at})
	}
	if diff := cmp.Diff([]due{{"e", 30}}, got); diff != "" {
		t.Errorf("after a break (-want +got):\n%s", diff)
	}
}

func TestStoreWithoutTrackDirtyKeepsNoDelta(t *testing.T) {
	s := state.New[int, int]()
	s.Put(1, 1)
	s.Commit(1)
	if s.Dirty() != 0 || len(changes(s.Delta())) != 0 {
		t.Errorf("%d dirty keys without TrackDirty", s.Dirty())
	}
}

func TestStoreLoadIsCommittedState(t *testing.T) {
	s := state.New[int, int](state.TrackDirty())
	s.Load(1, 10, false)
	s.Load(2, 20, false)
	s.Load(2, 0, true)
	s.Rollback()
	if diff := cmp.Diff(map[int]int{1: 10}, contents(s)); diff != "" {
		t.Errorf("loaded, then rolled back (-want +got):\n%s", diff)
	}
	if s.Changed() || s.Dirty() != 0 {
		t.Errorf("changed %v, %d dirty keys after loading: want none", s.Changed(), s.Dirty())
	}
}

func TestStoreUpdate(t *testing.T) {
	s := state.New[string, int]()
	s.Put("a", 1)
	s.Put("b", 2)
	s.Commit(1)
	add := func(n int) func(int, bool) (int, bool) {
		return func(v int, ok bool) (int, bool) { return v + n, v+n != 0 }
	}
	s.Update("a", add(10)) // 11
	s.Update("b", add(-2)) // removed
	s.Update("c", add(5))  // new
	s.Update("d", add(0))  // no value, none kept: nothing happens
	if diff := cmp.Diff(map[string]int{"a": 11, "c": 5}, contents(s)); diff != "" {
		t.Errorf("after the updates (-want +got):\n%s", diff)
	}
	s.Rollback()
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 2}, contents(s)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
}

func TestStoreReplaceRecordsOnlyChanges(t *testing.T) {
	s := state.New[string, int](state.TrackDirty())
	s.Put("a", 1)
	s.Put("b", 2)
	s.Commit(1)
	s.MarkSaved()
	for k, v := range s.All() {
		next := v
		if k == "b" {
			next = 20
		}
		s.Replace(k, v, next)
	}
	if got := changes(s.Changes()); !cmp.Equal(got, []state.Change[string, int]{{Key: "b", Value: 20}}) {
		t.Errorf("changes %v; want b only", got)
	}
	if s.Dirty() != 1 {
		t.Errorf("%d dirty keys, want 1", s.Dirty())
	}
	s.Rollback()
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 2}, contents(s)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
}
