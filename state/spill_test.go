package state_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/internal/argerr"
	"github.com/spatedev/spate/state"
)

func TestEvictMovesColdEntriesToAFile(t *testing.T) {
	dir := t.TempDir()
	s := state.New[string, int](state.Spill(dir), state.TrackDirty())
	defer s.Close()
	for i := range 1000 {
		s.Put(strings.Repeat("k", i%7+1)+string(rune('a'+i%26))+string(rune('A'+i/26)), i)
	}
	want := contents(s)
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	s.MarkSaved()
	s.Put("hot", 1)
	s.Commit(2)
	moved, err := s.Evict(s.MemBytes() / 10)
	if err != nil || moved < 800 {
		t.Fatalf("Evict moved %d, %v; want most entries", moved, err)
	}
	if _, inMem := maps.Collect(s.All())["hot"]; !inMem || s.Spilled() != moved || s.Len() != 1001 {
		t.Errorf("spilled %d, len %d", s.Spilled(), s.Len())
	}
	want["hot"] = 1
	if diff := cmp.Diff(want, contents(s)); diff != "" {
		t.Fatalf("All over memory and file (-want +got):\n%s", diff)
	}
	// A spilled entry read, changed or deleted comes back to memory, and a
	// rolled-back version leaves the store as it was.
	var spilled []string
	for k := range want {
		if k != "hot" {
			spilled = append(spilled, k)
		}
	}
	slices.Sort(spilled)
	a, b, c := spilled[0], spilled[1], spilled[2]
	s.Put(a, -1)
	s.Delete(b)
	if v, ok := s.Get(c); !ok || v != want[c] {
		t.Errorf("Get(%s) = %d, %v; want %d", c, v, ok, want[c])
	}
	s.Rollback()
	if diff := cmp.Diff(want, contents(s)); diff != "" {
		t.Fatalf("after a rollback (-want +got):\n%s", diff)
	}
	s.Put(a, -1)
	s.Delete(b)
	s.Commit(3)
	want[a] = -1
	delete(want, b)
	if diff := cmp.Diff(want, contents(s)); diff != "" {
		t.Fatalf("after version 3 (-want +got):\n%s", diff)
	}
	// The delta holds the keys changed since the save, spilled or not.
	if _, err := s.Evict(0); err != nil {
		t.Fatal(err)
	}
	got := changes(s.Delta())
	slices.SortFunc(got, func(x, y state.Change[string, int]) int { return strings.Compare(x.Key, y.Key) })
	wantDelta := []state.Change[string, int]{{Key: a, Value: -1}, {Key: b, Deleted: true}, {Key: "hot", Value: 1}}
	slices.SortFunc(wantDelta, func(x, y state.Change[string, int]) int { return strings.Compare(x.Key, y.Key) })
	if diff := cmp.Diff(wantDelta, got); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Fatalf("spill files %v, want 1", files)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Errorf("the spill file is still there after Close: %v", err)
	}
}

func TestKeysWithPointersCannotBeSpilled(t *testing.T) {
	type key struct{ p *int }
	s := state.New[key, int](state.Spill(t.TempDir()))
	defer s.Close()
	x := 1
	s.Put(key{&x}, 1)
	s.Commit(1)
	if _, err := s.Evict(0); err == nil || !strings.Contains(err.Error(), "cannot be spilled") || s.Err() == nil {
		t.Fatalf("Evict of pointer keys: %v; want an error saying they cannot be spilled", err)
	}
	if _, err := state.New[int, int]().Evict(0); err == nil {
		t.Error("Evict without Spill: want an error")
	}
}

// heap returns the bytes of the heap in use, after a collection.
func heap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestEvictGivesTheMemoryBack checks, on the heap, that the memory of evicted
// entries goes (the table is rebuilt for the entries left), and that MemBytes is
// the memory the entries take.
func TestEvictGivesTheMemoryBack(t *testing.T) {
	before := heap()
	s := state.New[int64, [4]int64](state.Spill(t.TempDir()))
	defer s.Close()
	const n = 200_000
	for k := range int64(n) {
		s.Put(k, [4]int64{k})
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	s.Put(0, [4]int64{-1}) // a small version: the undo log of the first goes
	if err := s.Commit(2); err != nil {
		t.Fatal(err)
	}
	full := heap() - before
	if mb := s.MemBytes(); mb < full*8/10 || mb > full*12/10 {
		t.Errorf("MemBytes %d; the heap holds %d more", mb, full)
	}
	target := s.MemBytes() / 10
	if _, err := s.Evict(target); err != nil {
		t.Fatal(err)
	}
	if s.MemBytes() > target {
		t.Errorf("after Evict(%d): MemBytes %d", target, s.MemBytes())
	}
	// A tenth for the entries left, and some for the file's own bookkeeping
	// (bbolt's free list).
	if left := heap() - before; left > full*3/10 {
		t.Errorf("after evicting to a tenth: the heap holds %d bytes more than before the store, %d when full", left, full)
	}
	if s.Len() != n {
		t.Errorf("Len %d, want %d", s.Len(), n)
	}
}

// TestUpdateAllOverSpilledEntries changes spilled entries with UpdateAll: a changed
// entry comes back to memory and its copy in the file is stale, so that it is counted
// once and, deleted later, does not come back from the file.
func TestUpdateAllOverSpilledEntries(t *testing.T) {
	s := state.New[int, int](state.Spill(t.TempDir()))
	defer s.Close()
	for k := range 100 {
		s.Put(k, k)
	}
	s.Commit(1)
	if _, err := s.Evict(0); err != nil || s.Spilled() != 100 {
		t.Fatalf("Evict: %v, %d spilled; want all 100", err, s.Spilled())
	}
	err := s.UpdateAll([]int{5, 1000}, func(k, i, v int, ok bool) (int, bool, error) {
		switch {
		case k == 5 && i != 0, k == 1000 && (i != 1 || ok), k != 5 && k != 1000 && i != -1:
			t.Errorf("key %d: index %d, ok %v", k, i, ok)
		}
		if k%2 == 0 {
			return v + 1, true, nil // changed: back in memory
		}
		return v, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Commit(2)
	if s.Len() != 101 {
		t.Errorf("Len %d after the pass, want 101", s.Len())
	}
	for k := range 100 {
		s.Delete(k)
	}
	s.Commit(3)
	if got := contents(s); !maps.Equal(got, map[int]int{1000: 1}) {
		t.Errorf("after deleting every key but 1000: %v", got)
	}
}

// TestStringKeysKeepOnlyTheirBytes checks that a string key cut from a larger string
// does not keep the larger string in memory: the store keeps a copy of its bytes.
func TestStringKeysKeepOnlyTheirBytes(t *testing.T) {
	before := heap()
	s := state.New[string, int]()
	for i := range 1000 {
		line := strings.Repeat("x", 64<<10) + strconv.Itoa(i) // 64 KiB, of which the key is a few bytes
		s.Put(line[len(line)-8:], i)
	}
	if held := heap() - before; held > 1<<20 {
		t.Errorf("1000 keys of 8 bytes hold %d bytes of heap; want the keys', not the 64 KiB lines they were cut from", held)
	}
	if s.Len() != 1000 {
		t.Errorf("Len %d, want 1000", s.Len())
	}
}

// Spill of an empty directory is the store's construction error, from the
// start (not an error of the first Evict, nor a store that never spills), and
// it wraps the module's ErrInvalid.
func TestSpillEmptyDirIsInvalid(t *testing.T) {
	s := state.New[int, int](state.Spill(""), nil)
	err := s.Err()
	if err == nil || err.Error() != `state.New: invalid argument: Spill(""), want a directory` || !errors.Is(err, argerr.ErrInvalid) {
		t.Fatalf("Err() = %v, want the invalid Spill named, wrapping ErrInvalid", err)
	}
	s.Put(1, 1)
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Evict(0); !errors.Is(err, argerr.ErrInvalid) {
		t.Errorf("Evict = %v, want the construction error", err)
	}
}
