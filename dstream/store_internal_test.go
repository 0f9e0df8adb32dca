package dstream

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// modN is a partitioner of ints by their value mod n.
type modN struct{ n int }

func (m modN) NumPartitions() int  { return m.n }
func (m modN) Partition(k int) int { return k % m.n }
func (m modN) Equal(other shuffle.Partitioner[int]) bool {
	o, ok := other.(modN)
	return ok && o == m
}

func TestKeyedStoreSettleCommitsOrRollsBack(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	ks := &keyedStore[int, stateEntry[string]]{name: "test", seen: func(e stateEntry[string]) int64 { return e.Seen }}
	ks.setPartitioner(rdd.NewEngine(), modN{2})
	put := func(at time.Time, k int, v string) {
		st, err := ks.store(k%2, at)
		if err != nil {
			t.Fatal(err)
		}
		st.Put(k, stateEntry[string]{v, at.UnixNano()})
		ks.timeoutsOf(k%2).Touch(k, at.UnixNano())
	}
	contents := func() map[int]string {
		out := map[int]string{}
		for _, st := range ks.stores {
			for k, e := range st.All() {
				out[k] = e.Value
			}
		}
		return out
	}
	// Batch 1 succeeds.
	if err := ks.begin(t0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	put(t0, 1, "a")
	put(t0, 2, "b")
	if err := ks.settle(t0, true); err != nil {
		t.Fatal(err)
	}
	// Batch 2 changes both keys, drains key 2's timeout bucket, and fails.
	if err := ks.begin(t1, t0); err != nil {
		t.Fatal(err)
	}
	put(t1, 1, "a2")
	ks.stores[0].Delete(2)
	for range ks.timeoutsOf(0).Due(t0.UnixNano()) {
	}
	if err := ks.settle(t1, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int]string{1: "a", 2: "b"}, contents()); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
	// The timeout index follows the store back: key 2 is due again.
	var due []int
	for k := range ks.timeoutsOf(0).Due(t0.UnixNano()) {
		due = append(due, k)
	}
	if diff := cmp.Diff([]int{2}, due); diff != "" {
		t.Errorf("keys due after the rollback (-want +got):\n%s", diff)
	}
	// The batch runs again on the state of batch 1, and reading its state after
	// the state moved on is an error.
	if err := ks.begin(t1, t0); err != nil {
		t.Fatalf("the batch again: %v", err)
	}
	if err := ks.settle(t1, true); err != nil {
		t.Fatal(err)
	}
	if err := ks.begin(t2, t0); err == nil {
		t.Error("batch 3 applied to the state of batch 1: want an error")
	}
	if _, err := ks.store(0, t0); err == nil {
		t.Error("reading the state of batch 1 once the stores hold batch 2: want an error")
	}
}
