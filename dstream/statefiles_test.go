package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// savedKind is what a state checkpoint file holds for one state.
type savedKind struct {
	Snapshot bool
	Keys     []string
	Deleted  []string
}

// stateFiles returns, by file name, oldest first, what each state checkpoint file of
// dir holds for the state named name.
func stateFiles(t *testing.T, dir, name string) (names []string, kinds []savedKind) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "state", "*.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted by the compactor meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		cp, err := checkpoint.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		e, ok := cp.State(name)
		if !ok {
			t.Fatalf("%s has no state %s", p, name)
		}
		var k savedKind
		if err := checkpoint.Decode(e.Data, &k); err != nil {
			t.Fatal(err)
		}
		slices.Sort(k.Keys)
		names, kinds = append(names, filepath.Base(p)), append(kinds, k)
	}
	return names, kinds
}

// countingJob builds a job counting words with MapWithState (saved as "counts"),
// checkpointing its state after every batch into dir, and records the counts after
// each batch.
func countingJob(push [][]string, out *seen) func(c *dstream.Context) error {
	return func(c *dstream.Context) error {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, push...)
		pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		mapped, snaps := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, k string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
			n, _ := st.Get()
			if k == "drop" {
				st.Remove()
				return ops.None[int]()
			}
			_ = st.Update(n + v.OrElse(0))
			return ops.None[int]()
		}))
		dstream.Named(mapped, "counts")
		dstream.ForeachRDD(snaps, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
			m, err := rdd.CollectAsMap(ctx, r)
			out.add(batchNo(bt), []string{fmt.Sprint(m)})
			return err
		})
		return nil
	}
}

func TestStateCheckpointsAreDeltas(t *testing.T) {
	dir := t.TempDir()
	var out seen
	batches := [][]string{{"a", "b", "c"}, {"a"}, {"b", "d"}, {"drop"}, {"a"}}
	h := newHarness(t)
	c, err := dstream.GetOrCreate(dir, countingJob(batches, &out), dstream.BatchInterval(interval), dstream.WithClock(h.clock),
		dstream.CheckpointInterval(interval), dstream.StateSnapshotEvery(100))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(len(batches))
	_, kinds := stateFiles(t, dir, "counts")
	want := []savedKind{
		{Snapshot: true, Keys: []string{"a", "b", "c"}},
		{Keys: []string{"a"}},
		{Keys: []string{"b", "d"}},
		{}, // "drop" never had a state: nothing changed
		{Keys: []string{"a"}},
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("the state files (-want +got):\n%s", diff)
	}

	// A restart reads the snapshot and the deltas, and goes on.
	h = newHarness(t)
	c, err = dstream.GetOrCreate(dir, countingJob([][]string{{"c"}}, &out), dstream.BatchInterval(interval), dstream.WithClock(h.clock),
		dstream.CheckpointInterval(interval), dstream.StateSnapshotEvery(100))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(len(batches) + 1)
	if got, want := out.get()[6], []string{"map[a:3 b:2 c:2 d:1]"}; !cmp.Equal(want, got) {
		t.Errorf("after the restart, batch 6: %v, want %v", got, want)
	}
}

func TestStateDeltasAreCompactedAndPruned(t *testing.T) {
	dir := t.TempDir()
	var out seen
	var batches [][]string
	for k := range 12 {
		batches = append(batches, []string{fmt.Sprint("k", k%4)})
	}
	done := make(chan int, 20)
	h := newHarness(t)
	c, err := dstream.GetOrCreate(dir, countingJob(batches, &out), dstream.BatchInterval(interval), dstream.WithClock(h.clock),
		dstream.CheckpointInterval(interval), dstream.StateSnapshotEvery(3), dstream.WithListener(completions{done}))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.start(context.Background())
	// Compactions run in the background: let each happen before the next batches,
	// so that what is kept is known.
	for k := 1; k <= 12; k++ {
		h.batches(1)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("batch %d was not processed within 5s", k)
		}
		if k == 4 || k == 7 || k == 10 {
			at := fmt.Sprintf("checkpoint-20260101T%06d", k)
			waitForFiles(t, dir, func(names []string, kinds []savedKind) bool {
				for i, n := range names {
					if kinds[i].Snapshot && n[:len(at)] == at {
						return true
					}
				}
				return false
			})
		}
	}
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	names, kinds := stateFiles(t, dir, "counts")
	// Saves: S1 d2 … d12; compacted at 4, 7, 10 (3 deltas each); by then the
	// files before the snapshot of 4 are deleted, one chain (from 4) kept to
	// fall back on.
	var snaps []string
	for i, k := range kinds {
		if k.Snapshot {
			snaps = append(snaps, names[i][len("checkpoint-"):len("checkpoint-20260101T000000")])
		}
	}
	if diff := cmp.Diff([]string{"20260101T000004", "20260101T000007", "20260101T000010"}, snaps); diff != "" {
		t.Errorf("the snapshots kept (-want +got):\n%s\nfiles: %v", diff, names)
	}
	if len(names) != 12 { // 4…12: 9 deltas, and 3 snapshots
		t.Errorf("%d state files kept, want 12: %v", len(names), names)
	}
	// A restart with the newest snapshot damaged falls back to the deltas.
	for i := len(names) - 1; i >= 0; i-- {
		if kinds[i].Snapshot {
			if err := os.WriteFile(filepath.Join(dir, "state", names[i]), []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	h = newHarness(t)
	c, err = dstream.GetOrCreate(dir, countingJob([][]string{{"k0"}}, &out), dstream.BatchInterval(interval), dstream.WithClock(h.clock),
		dstream.CheckpointInterval(interval), dstream.StateSnapshotEvery(3))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(13)
	if got, want := out.get()[13], []string{"map[k0:4 k1:3 k2:3 k3:3]"}; !cmp.Equal(want, got) {
		t.Errorf("after the restart, batch 13: %v, want %v", got, want)
	}
}

// waitForFiles polls the state files of dir until cond holds, for 5s at most.
func waitForFiles(t *testing.T, dir string, cond func(names []string, kinds []savedKind) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if names, kinds := stateFiles(t, dir, "counts"); cond(names, kinds) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the state files did not come to what was expected within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
