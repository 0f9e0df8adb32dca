package state_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
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
	s.Load(1, 10)
	s.Load(2, 20)
	s.LoadDeleted(2)
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
	s.Update("a", add(0))  // the same value: no change
	if diff := cmp.Diff(map[string]int{"a": 11, "c": 5}, contents(s)); diff != "" {
		t.Errorf("after the updates (-want +got):\n%s", diff)
	}
	want := []state.Change[string, int]{{Key: "a", Value: 11}, {Key: "b", Deleted: true}, {Key: "c", Value: 5}}
	if diff := cmp.Diff(want, changes(s.Changes())); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	s.Rollback()
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 2}, contents(s)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
	s.Put("a", 1) // the value a has
	if s.Changed() {
		t.Errorf("Put of the value a has: changes %v, want none", changes(s.Changes()))
	}
}

func TestStoreDeleteFunc(t *testing.T) {
	s := state.New[string, *int]()
	one, two := 1, 2
	s.Put("a", &one)
	s.Put("b", &two)
	s.Commit(1)
	odd := func(v *int) bool { return *v%2 == 1 }
	s.DeleteFunc("a", odd)
	s.DeleteFunc("b", odd) // kept: no change, though its value holds a pointer
	s.DeleteFunc("c", odd) // no value
	if got := changes(s.Changes()); len(got) != 1 || got[0].Key != "a" || !got[0].Deleted {
		t.Errorf("changes %v; want a deleted", got)
	}
	if _, ok := s.Get("b"); !ok || s.Len() != 1 {
		t.Errorf("b kept %v, %d keys; want b only", ok, s.Len())
	}
}

func TestStoreUpdateAllRecordsOnlyChanges(t *testing.T) {
	s := state.New[string, int](state.TrackDirty())
	s.Put("a", 1)
	s.Put("b", 2)
	s.Put("c", 3)
	s.Commit(1)
	s.MarkSaved()
	keys := []string{"b", "new", "gone"}
	called := map[string]int{}
	err := s.UpdateAll(keys, func(k string, i int, v int, ok bool) (int, bool, error) {
		called[k]++
		switch {
		case i >= 0 && keys[i] != k:
			t.Errorf("key %s given index %d, of %s", k, i, keys[i])
		case (k == "b" || k == "new" || k == "gone") != (i >= 0):
			t.Errorf("key %s given index %d", k, i)
		case ok != (k != "new" && k != "gone"):
			t.Errorf("key %s: ok %v", k, ok)
		}
		switch k {
		case "b":
			return 20, true, nil
		case "c":
			return 0, false, nil
		case "new":
			return 7, true, nil
		case "gone":
			return 0, false, nil // nothing to remove
		}
		return v, true, nil // a: unchanged
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1, "new": 1, "gone": 1}, called); diff != "" {
		t.Errorf("calls per key (-want +got):\n%s", diff)
	}
	got := changes(s.Changes())
	slices.SortFunc(got, func(x, y state.Change[string, int]) int { return strings.Compare(x.Key, y.Key) })
	want := []state.Change[string, int]{{Key: "b", Value: 20}, {Key: "c", Deleted: true}, {Key: "new", Value: 7}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if s.Dirty() != 3 {
		t.Errorf("%d dirty keys, want 3", s.Dirty())
	}
	s.Rollback()
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 2, "c": 3}, contents(s)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
}

func TestStoreUpdateAllStopsAtAnError(t *testing.T) {
	s := state.New[int, int]()
	for k := range 100 {
		s.Put(k, k)
	}
	s.Commit(1)
	stop := errors.New("stop")
	n := 0
	err := s.UpdateAll([]int{1000}, func(k, i, v int, ok bool) (int, bool, error) {
		if n++; n > 10 {
			return 0, false, stop
		}
		return v + 1, true, nil
	})
	if !errors.Is(err, stop) || n != 11 {
		t.Fatalf("UpdateAll: %v after %d calls; want stop after 11", err, n)
	}
	changed := 0
	for k, v := range s.All() {
		if v != k {
			changed++
		}
	}
	if changed != 10 || s.Len() != 100 {
		t.Errorf("%d keys changed, %d keys; want 10, 100", changed, s.Len())
	}
}

// TestStoreAgainstAMap runs random versions of every kind of change (Put, Delete,
// Update, UpdateRef with Refs that may have gone stale, UpdateAll), reads,
// rollbacks, commits, saves (Delta) and, with Spill, evictions and warming, against
// a plain map kept by hand.
func TestStoreAgainstAMap(t *testing.T) {
	t.Run("memory", func(t *testing.T) { checkStoreOps(t, false) })
	t.Run("spill", func(t *testing.T) { checkStoreOps(t, true) })
}

func checkStoreOps(t *testing.T, spill bool) {
	rng := rand.New(rand.NewPCG(5, 6))
	opts := []state.Opt{state.TrackDirty()}
	if spill {
		opts = append(opts, state.Spill(t.TempDir()))
	}
	s := state.New[int, int](opts...)
	defer s.Close()
	committed, saved := map[int]int{}, map[int]int{}
	refs := map[int]state.Ref{}
	var validRefs, staleRefs int
	for version := int64(1); version <= 400; version++ {
		now := maps.Clone(committed)
		space := 50 + int(version/20%4)*400 // the state grows and shrinks
		// expect checks what a function of the store gets for k.
		expect := func(op string, k, v int, ok bool) {
			t.Helper()
			if want, wok := now[k]; ok != wok || v != want {
				t.Fatalf("version %d: %s of %d gets %d, %v; want %d, %v", version, op, k, v, ok, want, wok)
			}
		}
		// next returns a random next value, or keep false.
		next := func() (int, bool) {
			if rng.IntN(4) == 0 {
				return 0, false
			}
			return rng.IntN(3), true // often unchanged
		}
		set := func(k, v int, keep bool) {
			if keep {
				now[k] = v
			} else {
				delete(now, k)
			}
		}
		for range rng.IntN(80) {
			k := rng.IntN(space)
			switch rng.IntN(9) {
			case 0:
				x := rng.Int()
				s.Put(k, x)
				now[k] = x
			case 1:
				s.Delete(k)
				delete(now, k)
			case 2:
				v, ok := s.Get(k)
				expect("Get", k, v, ok)
			case 3:
				s.Update(k, func(v int, ok bool) (int, bool) {
					expect("Update", k, v, ok)
					n, keep := next()
					set(k, n, keep)
					return n, keep
				})
			case 4, 5:
				r := refs[k]
				if s.RefValid(r, k) {
					validRefs++
				} else if r != (state.Ref{}) {
					staleRefs++
				}
				refs[k] = s.UpdateRef(r, k, func(v int, ok bool) (int, bool) {
					expect("UpdateRef", k, v, ok)
					n, keep := next()
					set(k, n, keep)
					return n, keep
				})
			case 6:
				if rng.IntN(10) != 0 {
					continue // a pass over every key is rare
				}
				keys := make([]int, rng.IntN(5))
				for i := range keys {
					keys[i] = rng.IntN(space)
				}
				slices.Sort(keys)
				keys = slices.Compact(keys)
				calls := map[int]int{}
				err := s.UpdateAll(keys, func(k, i, v int, ok bool) (int, bool, error) {
					calls[k]++
					if in := slices.Contains(keys, k); in != (i >= 0) || in && keys[i] != k {
						t.Fatalf("version %d: UpdateAll gives %d index %d, keys %v", version, k, i, keys)
					}
					expect("UpdateAll", k, v, ok)
					n, keep := next()
					if rng.IntN(2) == 0 {
						n, keep = v, ok // most keys stay as they are
					}
					set(k, n, keep)
					return n, keep, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for k := range now {
					if calls[k] != 1 && !slices.Contains(keys, k) {
						t.Fatalf("version %d: UpdateAll called %d times for %d", version, calls[k], k)
					}
				}
			case 7:
				if spill {
					s.Warm([]int{k, rng.IntN(space), k})
				}
			case 8:
				if rng.IntN(2) == 0 {
					x := rng.Int()
					s.Put(space+k, x) // a key the state has not seen: the table grows
					now[space+k] = x
				}
			}
		}
		if diff := cmp.Diff(now, contents(s)); diff != "" {
			t.Fatalf("version %d before commit (-want +got):\n%s", version, diff)
		}
		for c := range s.Changes() {
			if v, ok := now[c.Key]; ok == c.Deleted || v != c.Value {
				t.Fatalf("version %d: change %+v, the key's value is %d, %v", version, c, v, ok)
			}
		}
		if rng.IntN(4) == 0 {
			s.Rollback()
		} else {
			if err := s.Commit(version); err != nil {
				t.Fatal(err)
			}
			committed = now
		}
		if spill && rng.IntN(3) == 0 {
			if _, err := s.Evict(s.MemBytes() * int64(rng.IntN(100)) / 100); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(5) == 0 { // a save: the delta brings the last save to the state now
			got := maps.Clone(saved)
			for c := range s.Delta() {
				if c.Deleted {
					delete(got, c.Key)
				} else {
					got[c.Key] = c.Value
				}
			}
			if diff := cmp.Diff(committed, got); diff != "" {
				t.Fatalf("version %d: the last save plus the delta (-want +got):\n%s", version, diff)
			}
			s.MarkSaved()
			saved = maps.Clone(committed)
		}
		if diff := cmp.Diff(committed, contents(s)); diff != "" {
			t.Fatalf("version %d (-want +got):\n%s", version, diff)
		}
		if s.Len() != len(committed) {
			t.Fatalf("version %d: Len %d, want %d", version, s.Len(), len(committed))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if validRefs < 50 || staleRefs < 50 {
		t.Errorf("%d valid and %d stale Refs used; want both paths taken", validRefs, staleRefs)
	}
	t.Logf("%d valid and %d stale Refs used", validRefs, staleRefs)
}

func ExampleStore_UpdateRef() {
	s := state.New[string, int]()
	add := func(n int) func(int, bool) (int, bool) {
		return func(v int, _ bool) (int, bool) { return v + n, true }
	}
	r := s.UpdateRef(state.Ref{}, "a", add(1)) // a lookup
	s.UpdateRef(r, "a", add(2))                // none: r reaches the entry
	v, _ := s.Get("a")
	fmt.Println(v)
	// Output: 3
}

// TestStoreValuesWithReferencesAreChangedWhenSet checks that setting a value that
// holds a reference (a map here) is a change even if it is the same map: what it
// holds may have changed through it, and a delta checkpoint must save it.
func TestStoreValuesWithReferencesAreChangedWhenSet(t *testing.T) {
	s := state.New[string, map[string]int](state.TrackDirty())
	s.Put("a", map[string]int{"x": 1})
	s.Put("b", map[string]int{"y": 1})
	s.Commit(1)
	s.MarkSaved()
	m, _ := s.Get("a")
	m["x"]++
	s.Put("a", m) // the same map, changed
	s.Update("b", func(m map[string]int, _ bool) (map[string]int, bool) { m["y"]++; return m, true })
	if err := s.UpdateAll(nil, func(k string, _ int, m map[string]int, _ bool) (map[string]int, bool, error) {
		return m, true, nil
	}); err != nil {
		t.Fatal(err)
	}
	got := changes(s.Delta())
	slices.SortFunc(got, func(x, y state.Change[string, map[string]int]) int { return strings.Compare(x.Key, y.Key) })
	want := []state.Change[string, map[string]int]{{Key: "a", Value: map[string]int{"x": 2}}, {Key: "b", Value: map[string]int{"y": 2}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
	// A plain value set to what it is is no change.
	p := state.New[string, [2]int](state.TrackDirty())
	p.Put("a", [2]int{1, 2})
	p.Commit(1)
	p.MarkSaved()
	p.Put("a", [2]int{1, 2})
	if p.Changed() || p.Dirty() != 0 {
		t.Errorf("a plain value set to itself: changed %v, %d dirty keys; want none", p.Changed(), p.Dirty())
	}
}
