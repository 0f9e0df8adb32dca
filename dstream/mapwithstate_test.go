package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func TestMapWithState(t *testing.T) {
	const timeout = 2 * interval
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, windowInput...)
	pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	initial := rdd.Parallelize(h.c.Engine(), []ops.KV[string, int]{{Key: "z", Value: 10}}, 1)
	var mu sync.Mutex // Func runs in parallel tasks
	var updateErr error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		updateErr = errors.Join(updateErr, err)
	}
	mapped, snaps := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, key string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[string] {
		if st.IsTimingOut() {
			if err := st.Update(0); !errors.Is(err, dstream.ErrStateTimingOut) {
				fail(fmt.Errorf("Update while timing out = %v", err))
			}
			n, _ := st.Get()
			return ops.Some(fmt.Sprintf("%s:timeout@%d", key, n))
		}
		n, _ := st.Get()
		n += v.Value
		if err := st.Update(n); err != nil {
			fail(err)
		}
		if n == 3 && key == "a" {
			st.Remove() // a restarts after reaching 3
		}
		return ops.Some(fmt.Sprintf("%s=%d", key, n))
	}).Timeout(timeout).InitialState(initial), rdd.Partitions[string](2))
	gotMapped, gotSnaps := recordMapWithState(mapped, dstream.Transform(snaps, func(r *rdd.RDD[ops.KV[string, int]], _ time.Time) *rdd.RDD[ops.KV[string, int]] {
		if r.NumPartitions() != 2 {
			t.Errorf("snapshot has %d partitions, want 2", r.NumPartitions())
		}
		return r
	}))
	h.runBatches(len(windowInput))
	if updateErr != nil {
		t.Fatal(updateErr)
	}

	// Reference: plain maps.
	type entry struct{ n, seen int }
	state := map[string]entry{"z": {10, 1}}
	for k, batch := range windowInput {
		k++
		var want []string
		touched := map[string]bool{}
		for _, w := range batch {
			e := state[w]
			e.n++
			want = append(want, fmt.Sprintf("%s=%d", w, e.n))
			e.seen = k
			state[w] = e
			touched[w] = true
			if w == "a" && e.n == 3 {
				delete(state, w)
			}
		}
		for w, e := range state {
			if !touched[w] && time.Duration(k-e.seen)*interval >= timeout {
				want = append(want, fmt.Sprintf("%s:timeout@%d", w, e.n))
				delete(state, w)
			}
		}
		slices.Sort(want)
		wantSnap := map[string]int{}
		for w, e := range state {
			wantSnap[w] = e.n
		}
		if diff := cmp.Diff(want, gotMapped[k]); diff != "" {
			t.Errorf("mapped, batch %d (-want +got):\n%s", k, diff)
		}
		if diff := cmp.Diff(wantSnap, gotSnaps[k]); diff != "" {
			t.Errorf("snapshot after batch %d (-want +got):\n%s", k, diff)
		}
	}
}

// stateUse runs a MapWithState whose function is f over batches of words
// (each worth 1), with a timeout of one batch, and returns what f emitted in
// each batch (sorted) and the snapshots after each.
func stateUse(t *testing.T, batches [][]string, f func(key string, v ops.Maybe[int], st *dstream.State[int]) string) (map[int][]string, map[int]map[string]int) {
	t.Helper()
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, batches...)
	pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	mapped, snaps := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, key string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[string] {
		return ops.Some(f(key, v, st))
	}).Timeout(interval))
	gotMapped, gotSnaps := recordMapWithState(mapped, snaps)
	h.runBatches(len(batches))
	return gotMapped, gotSnaps
}

// recordMapWithState records, by batch number, what mapped emits (sorted)
// and the snapshots.
func recordMapWithState(mapped *dstream.DStream[string], snaps *dstream.DStream[ops.KV[string, int]]) (map[int][]string, map[int]map[string]int) {
	gotMapped, gotSnaps := map[int][]string{}, map[int]map[string]int{}
	dstream.ForeachRDD(mapped, func(ctx context.Context, r *rdd.RDD[string], bt time.Time) error {
		xs, err := rdd.Collect(ctx, r)
		slices.Sort(xs)
		gotMapped[batchNo(bt)] = xs
		return err
	})
	dstream.ForeachRDD(snaps, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
		m, err := rdd.CollectAsMap(ctx, r)
		gotSnaps[batchNo(bt)] = m
		return err
	})
	return gotMapped, gotSnaps
}

// TestStateUpdateAfterRemove checks Spark's rule: within one call, Update
// after Remove fails (ErrStateRemoved) and leaves the state removed; the
// next call, for the key's next record, starts afresh and may set it again.
func TestStateUpdateAfterRemove(t *testing.T) {
	// Each call for "a" flips its state: set when absent, removed (then an
	// Update tried) when present. Three records: set, removed, set, in any
	// order of the values. "b" is removed and set again by one call: refused.
	mapped, snaps := stateUse(t, [][]string{{"a", "a", "a", "b"}, {"b"}}, func(key string, _ ops.Maybe[int], st *dstream.State[int]) string {
		switch {
		case st.IsTimingOut():
			return key + " timed out"
		case key == "b" && st.Exists():
			st.Remove()
			err := st.Update(7)
			n, ok := st.Get()
			return fmt.Sprintf("b: Update after Remove = %v, state %d %v", errors.Is(err, dstream.ErrStateRemoved), n, ok)
		case key == "b" || !st.Exists():
			if err := st.Update(1); err != nil {
				return "Update: " + err.Error()
			}
			return key + " set"
		default:
			st.Remove()
			err := st.Update(2)
			return fmt.Sprintf("a removed, Update after = %v", errors.Is(err, dstream.ErrStateRemoved))
		}
	})
	want := map[int][]string{
		1: {"a removed, Update after = true", "a set", "a set", "b set"},
		2: {"a timed out", "b: Update after Remove = true, state 0 false"},
	}
	if diff := cmp.Diff(want, mapped); diff != "" {
		t.Errorf("emitted (-want +got):\n%s", diff)
	}
	// a is set again by its third call, then times out; b stays removed.
	if diff := cmp.Diff(map[int]map[string]int{1: {"a": 1, "b": 1}, 2: {}}, snaps); diff != "" {
		t.Errorf("snapshots (-want +got):\n%s", diff)
	}
}

// TestStateRemoveTwiceAndWhileTimingOut checks Remove against Spark's
// StateImpl: Remove without a state is allowed, a second Remove in one call
// fails with ErrStateRemoved, and Remove (or Update) on a state that is
// timing out fails with ErrStateTimingOut and leaves it as it is for the
// rest of the call.
func TestStateRemoveTwiceAndWhileTimingOut(t *testing.T) {
	mapped, snaps := stateUse(t, [][]string{{"a", "b", "c"}, {"a"}, nil}, func(key string, v ops.Maybe[int], st *dstream.State[int]) string {
		switch {
		case st.IsTimingOut():
			errRemove, errUpdate := st.Remove(), st.Update(5)
			n, ok := st.Get()
			return fmt.Sprintf("%s timing out: Remove %v, Update %v, state %d %v", key,
				errors.Is(errRemove, dstream.ErrStateTimingOut), errors.Is(errUpdate, dstream.ErrStateTimingOut), n, ok)
		case key == "c":
			return fmt.Sprintf("c: Remove without state %v", st.Remove())
		case st.Exists():
			first, second := st.Remove(), st.Remove()
			return fmt.Sprintf("%s: Remove %v, again %v", key, first, errors.Is(second, dstream.ErrStateRemoved))
		default:
			if err := st.Update(1); err != nil {
				return "Update: " + err.Error()
			}
			return key + " set"
		}
	})
	want := map[int][]string{
		1: {"a set", "b set", "c: Remove without state <nil>"},
		2: {"a: Remove <nil>, again true", "b timing out: Remove true, Update true, state 1 true"},
		3: nil,
	}
	if diff := cmp.Diff(want, mapped); diff != "" {
		t.Errorf("emitted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int]map[string]int{1: {"a": 1, "b": 1}, 2: {}, 3: {}}, snaps); diff != "" {
		t.Errorf("snapshots (-want +got):\n%s", diff)
	}
}

// stateSaves records, after every batch, the time of the newest state
// checkpoint in a checkpoint directory (a batch's checkpoint is written
// before the listeners hear it completed).
type stateSaves struct {
	dstream.BaseListener
	t     *testing.T
	store *checkpoint.Store
	every time.Duration
	saved []int // the batches whose state was saved, in order
}

func (l *stateSaves) OnBatchCompleted(b dstream.BatchInfo) {
	cp, err := l.store.Latest()
	if err != nil {
		l.t.Errorf("batch %v: the state checkpoint: %v", b.Time, err)
		return
	}
	if k := int(cp.Time.Sub(epoch) / l.every); len(l.saved) == 0 || l.saved[len(l.saved)-1] != k {
		l.saved = append(l.saved, k)
	}
}

// runStateSaves runs n batches of a MapWithState that counts words, in a
// Context with batch interval every that checkpoints into a new directory,
// with configure applied to its two streams, and returns the batches whose
// state was saved.
func runStateSaves(t *testing.T, every time.Duration, n int, configure func(mapped *dstream.DStream[string], snaps *dstream.DStream[ops.KV[string, int]])) []int {
	t.Helper()
	dir := t.TempDir()
	store, err := checkpoint.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	saves := &stateSaves{t: t, store: store, every: every}
	clock := dstream.NewManualClock(epoch)
	c := dstream.NewContext(dstream.BatchInterval(every), dstream.WithClock(clock), dstream.CheckpointDir(dir), dstream.WithListener(saves))
	in, q := dstream.QueueStream[string](c, dstream.OneAtATime)
	for k := range n {
		q.Push([]string{"a", fmt.Sprint(k)})
	}
	pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	mapped, snaps := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, key string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[string] {
		n, _ := st.Get()
		_ = st.Update(n + v.Value)
		return ops.Some(key)
	}))
	configure(mapped, snaps)
	dstream.ForeachRDD(mapped, func(ctx context.Context, r *rdd.RDD[string], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		return err
	})
	h := &harness{t: t, clock: clock, c: c}
	h.runBatches(n)
	return saves.saved
}

// TestMapWithStateCheckpointEvery sets the state checkpoint interval on each
// of the two streams MapWithState returns: either sets it for the state they
// derive from (it was ignored: the state was saved every 10s).
func TestMapWithStateCheckpointEvery(t *testing.T) {
	for name, configure := range map[string]func(*dstream.DStream[string], *dstream.DStream[ops.KV[string, int]]){
		"mapped": func(m *dstream.DStream[string], _ *dstream.DStream[ops.KV[string, int]]) {
			dstream.CheckpointEvery(m, 2*interval)
		},
		"snapshots": func(_ *dstream.DStream[string], s *dstream.DStream[ops.KV[string, int]]) {
			dstream.CheckpointEvery(s, 2*interval)
		},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff([]int{1, 3, 5}, runStateSaves(t, interval, 6, configure)); diff != "" {
				t.Errorf("batches whose state was saved (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMapWithStateDefaultCheckpointInterval checks MapWithState's default
// state checkpoint interval: 10 batch intervals, as in Spark (not the 10s of
// UpdateStateByKey: with 100ms batches, that is every 100 batches).
func TestMapWithStateDefaultCheckpointInterval(t *testing.T) {
	got := runStateSaves(t, 100*time.Millisecond, 21, func(*dstream.DStream[string], *dstream.DStream[ops.KV[string, int]]) {})
	if diff := cmp.Diff([]int{1, 11, 21}, got); diff != "" {
		t.Errorf("batches whose state was saved (-want +got):\n%s", diff)
	}
}

// TestCheckpointEveryNeedsState checks that CheckpointEvery on a stream that
// holds no state, which Spate cannot checkpoint, is an error (it was
// ignored).
func TestCheckpointEveryNeedsState(t *testing.T) {
	h := newHarness(t)
	in, _ := dstream.QueueStream[ops.KV[string, int]](h.c, dstream.OneAtATime)
	counts := dstream.UpdateStateByKey(in, sumUpdate)
	doubled := dstream.CheckpointEvery(dstream.Map(counts, func(kv ops.KV[string, int]) int { return 2 * kv.Value }), interval)
	dstream.ForeachRDD(doubled, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	err := runRefused(t, h)
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "dstream.Map") || !strings.Contains(err.Error(), "holds no state") {
		t.Errorf("Run = %v, want ErrInvalid: dstream.Map holds no state", err)
	}
}
