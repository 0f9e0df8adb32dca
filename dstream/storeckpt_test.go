package dstream

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/state"
)

// namedStores is the fmt.Stringer saveStores names in errors.
type namedStores string

func (n namedStores) String() string { return string(n) }

// decodedStore is what a saved state holds, its keys in order.
type decodedStore struct {
	Snapshot bool
	Keys     []int
	Values   []string
	Deleted  []int
}

func decodeSorted(t *testing.T, data []byte) decodedStore {
	t.Helper()
	st, err := decodeStore[int, string](data)
	if err != nil {
		t.Fatal(err)
	}
	out := decodedStore{Snapshot: st.Snapshot, Deleted: slices.Sorted(slices.Values(st.Deleted))}
	idx := make([]int, len(st.Keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return st.Keys[a] - st.Keys[b] })
	for _, i := range idx {
		out.Keys, out.Values = append(out.Keys, st.Keys[i]), append(out.Values, st.Values[i])
	}
	return out
}

// A state is saved as a snapshot, then as the keys changed since (with the keys
// deleted, and those save does not keep); merged, a snapshot and its deltas make the
// state at the last.
func TestStoresSaveSnapshotsAndDeltas(t *testing.T) {
	zero := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1, t2 := zero.Add(time.Second), zero.Add(2*time.Second)
	ks := &keyedStore[int, string]{name: "test", storeOpts: []state.Opt{state.TrackDirty()}}
	ks.setPartitioner(rdd.NewEngine(), modN{2})
	// save keeps every value but "": an entry that is not saved.
	save := func(e string) (string, bool) { return e, e != "" }
	batch := func(at time.Time, f func()) {
		t.Helper()
		if err := ks.begin(at, ks.done); err != nil {
			t.Fatal(err)
		}
		f()
		if err := ks.settle(at, true); err != nil {
			t.Fatal(err)
		}
	}
	put := func(k int, v string) { ks.stores[k%2].Put(k, v) }
	batch(t1, func() { put(1, "a"); put(2, "b"); put(3, "c"); put(4, "") })
	ctx := context.Background()
	snap, err := saveStores(ctx, ks, namedStores("test"), t1, time.Time{}, save)
	if err != nil {
		t.Fatal(err)
	}
	want := decodedStore{Snapshot: true, Keys: []int{1, 2, 3}, Values: []string{"a", "b", "c"}}
	if diff := cmp.Diff(want, decodeSorted(t, snap)); diff != "" {
		t.Errorf("the snapshot (-want +got):\n%s", diff)
	}
	for _, st := range ks.stores {
		st.MarkSaved()
	}
	if _, err := saveStores(ctx, ks, namedStores("test"), t2, t1, save); err == nil {
		t.Error("a save of a batch the stores do not hold = nil, want an error")
	}
	batch(t2, func() { put(1, "a2"); ks.stores[0].Delete(2); put(3, ""); put(5, "e") })
	delta, err := saveStores(ctx, ks, namedStores("test"), t2, t1, save)
	if err != nil {
		t.Fatal(err)
	}
	want = decodedStore{Keys: []int{1, 5}, Values: []string{"a2", "e"}, Deleted: []int{2, 3}}
	if diff := cmp.Diff(want, decodeSorted(t, delta)); diff != "" {
		t.Errorf("the delta (-want +got):\n%s", diff)
	}
	merged, err := mergeSaved[int, string]([][]byte{snap, delta})
	if err != nil {
		t.Fatal(err)
	}
	want = decodedStore{Snapshot: true, Keys: []int{1, 5}, Values: []string{"a2", "e"}}
	if diff := cmp.Diff(want, decodeSorted(t, merged)); diff != "" {
		t.Errorf("the merged snapshot (-want +got):\n%s", diff)
	}
	if _, err := mergeSaved[int, string]([][]byte{delta, snap}); err == nil {
		t.Error("a merge of a chain that does not begin with its snapshot = nil, want an error")
	}
}

// A replay tells its progress in bytes of the chain, up to the whole chain.
func TestReplayTellsItsProgress(t *testing.T) {
	var chain [][]byte
	var total int64
	for i, st := range []savedStore[int, int]{
		{Snapshot: true, Partitions: 1, Keys: make([]int, 3*progressKeys), Values: make([]int, 3*progressKeys)},
		{Partitions: 1, Keys: []int{1}, Values: []int{1}, Deleted: []int{2}},
		{Partitions: 1},
	} {
		data, err := checkpoint.Encode(st)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		chain, total = append(chain, data), total+int64(len(data))
	}
	var told int64
	var reports int
	sets := 0
	partitions, err := replay(chain, func(int, int, bool) { sets++ }, func(b int64) { told += b; reports++ })
	if err != nil {
		t.Fatal(err)
	}
	if partitions != 1 || sets != 3*progressKeys+2 || told != total || reports < 4 {
		t.Errorf("replay: %d partitions, %d keys set, %d of %d bytes told in %d reports; want 1, %d, all, at least 4",
			partitions, sets, told, total, reports, 3*progressKeys+2)
	}
}
