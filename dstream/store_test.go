package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// TestUpdateStateByKeyOnlyValues checks the variant that runs the function only
// for the keys of the batch: the others keep their state, untouched.
func TestUpdateStateByKeyOnlyValues(t *testing.T) {
	type pair = ops.KV[string, int]
	input := [][]pair{{ops.Pair("a", 1), ops.Pair("b", 1)}, {ops.Pair("a", 2)}, {}, {ops.Pair("b", 5)}}
	var mu sync.Mutex // the partitions' tasks call the function concurrently
	var calls []string
	op := func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
		return dstream.UpdateStateByKeyWith(s, dstream.NewUpdateSpec(func(t time.Time, k string, vs []int, st ops.Maybe[int]) ops.Maybe[int] {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("%d:%s", batchNo(t), k))
			mu.Unlock()
			n := st.OrElse(0)
			for _, v := range vs {
				n += v
			}
			return ops.Some(n)
		}).OnlyValues())
	}
	want := [][]pair{
		{ops.Pair("a", 1), ops.Pair("b", 1)},
		{ops.Pair("a", 3), ops.Pair("b", 1)},
		{ops.Pair("a", 3), ops.Pair("b", 1)},
		{ops.Pair("a", 3), ops.Pair("b", 6)},
	}
	dstreamtest.Run(t, input, op, want, dstreamtest.Unordered())
	sort.Strings(calls)
	if diff := cmp.Diff([]string{"1:a", "1:b", "2:a", "4:b"}, calls); diff != "" {
		t.Errorf("the function's calls (-want +got):\n%s", diff)
	}
}

// TestAStatesRDDIsReadInItsBatch checks that a stateful stream's RDD read after the
// state moved on (Slice from a later batch) is a clear error, not the later state.
func TestAStatesRDDIsReadInItsBatch(t *testing.T) {
	h := newHarness(t, dstream.Remember(3*interval))
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []ops.KV[string, int]{ops.Pair("a", 1)}, []ops.KV[string, int]{ops.Pair("a", 1)})
	counts := dstream.UpdateStateByKey(in, func(vs []int, st ops.Maybe[int]) ops.Maybe[int] { return ops.Some(st.OrElse(0) + len(vs)) })
	dstream.ForeachRDD(counts, func(ctx context.Context, _ *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
		if batchNo(bt) != 2 {
			return nil
		}
		rs, err := dstream.Slice(counts, bt.Add(-interval), bt.Add(-interval))
		if err != nil {
			return err
		}
		_, err = rdd.Collect(ctx, rs[0])
		return err
	})
	h.start(context.Background())
	h.batches(2)
	h.c.Stop()
	err := h.result()
	if err == nil || !strings.Contains(err.Error(), "the state of batch 2026-01-01T00:00:01Z is no longer held") {
		t.Fatalf("Run: %v; want an error saying batch 1's state is no longer held", err)
	}
}

// TestAFailedBatchLeavesNoTraceInTheCheckpoint checks that a batch whose output fails
// leaves no trace in the saved state: the checkpoint written before it holds the
// state before it, and a restart from it counts every record once.
func TestAFailedBatchLeavesNoTraceInTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	var states seen
	failAt := 2
	build := func(push [][]string) func(c *dstream.Context) error {
		return func(c *dstream.Context) error {
			in, _ := dstream.QueueStream(c, dstream.OneAtATime, push...)
			pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
			mapped, snaps := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, _ string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
				n, _ := st.Get()
				_ = st.Update(n + v.OrElse(0))
				return ops.None[int]()
			}))
			dstream.ForeachRDD(mapped, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
			dstream.ForeachRDD(snaps, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
				m, err := rdd.CollectAsMap(ctx, r)
				if batchNo(bt) == failAt {
					return errors.New("the output fails")
				}
				states.add(batchNo(bt), []string{fmt.Sprint(m)})
				return err
			})
			return nil
		}
	}
	h := newHarness(t)
	c, err := dstream.GetOrCreate(dir, build([][]string{{"a"}, {"a", "b"}}), dstream.BatchInterval(interval),
		dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.start(context.Background())
	h.batches(2)
	if err := h.result(); err == nil || !strings.Contains(err.Error(), "the output fails") {
		t.Fatalf("run 1: %v; want the output's failure", err)
	}
	failAt = 0
	h = newHarness(t)
	c, err = dstream.GetOrCreate(dir, build(nil), dstream.BatchInterval(interval),
		dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(2)
	want := map[int][]string{1: {"map[a:1]"}, 2: {"map[a:2 b:1]"}}
	if diff := cmp.Diff(want, states.get()); diff != "" {
		t.Errorf("the state after each batch (-want +got):\n%s", diff)
	}
}

// TestUpdateStateByKeyPassesOverSpilledKeysOnce runs UpdateStateByKey, whose
// function runs for every key, over a state beyond a small memory budget: batch 2
// changes every key, spilled or not, and batch 3 drops them all. Each key's function
// runs once per batch, and no dropped key comes back from its spill file.
func TestUpdateStateByKeyPassesOverSpilledKeysOnce(t *testing.T) {
	spillDir := t.TempDir()
	eng := rdd.NewEngine(rdd.Parallelism(2), rdd.MemoryBudget(32<<10), rdd.SpillDir(spillDir))
	h := newHarness(t, dstream.WithEngine(eng))
	const keys = 1500
	first := make([]ops.KV[int, int], keys)
	for k := range first {
		first[k] = ops.Pair(k, 1)
	}
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, first, nil, nil, nil)
	var mu sync.Mutex
	calls := map[int]map[int]int{} // batch → key → calls
	counts := dstream.UpdateStateByKeyWith(in, dstream.NewUpdateSpec(func(t time.Time, k int, vs []int, st ops.Maybe[int]) ops.Maybe[int] {
		b := batchNo(t)
		mu.Lock()
		if calls[b] == nil {
			calls[b] = map[int]int{}
		}
		calls[b][k]++
		mu.Unlock()
		switch b {
		case 1:
			return ops.Some(len(vs))
		case 2:
			return ops.Some(st.OrElse(0) + 1)
		}
		return ops.None[int]()
	}))
	var sizes []int
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], _ time.Time) error {
		m, err := rdd.CollectAsMap(ctx, r)
		sizes = append(sizes, len(m))
		return err
	})
	h.runBatches(4)
	if diff := cmp.Diff([]int{keys, keys, 0, 0}, sizes); diff != "" {
		t.Errorf("keys in the state after each batch (-want +got):\n%s", diff)
	}
	for b := 1; b <= 3; b++ {
		twice := 0
		for _, n := range calls[b] {
			if n != 1 {
				twice++
			}
		}
		if len(calls[b]) != keys || twice > 0 {
			t.Errorf("batch %d: the function ran for %d keys, %d of them more than once; want %d keys once", b, len(calls[b]), twice, keys)
		}
	}
}

// TestStateBeyondTheMemoryBudgetSpills runs MapWithState and UpdateStateByKey over
// more keys than a small memory budget holds: their cold entries go to spill files,
// the results are those of a plain map, and the files are gone after Run.
func TestStateBeyondTheMemoryBudgetSpills(t *testing.T) {
	spillDir := t.TempDir()
	eng := rdd.NewEngine(rdd.Parallelism(2), rdd.MemoryBudget(32<<10), rdd.SpillDir(spillDir))
	h := newHarness(t, dstream.WithEngine(eng))
	const keys = 1500
	var batches [][]ops.KV[int, int]
	for b := range 6 {
		var batch []ops.KV[int, int]
		for i := range keys / 2 {
			batch = append(batch, ops.Pair((b*keys/4+i)%keys, 1))
		}
		batches = append(batches, batch)
	}
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, batches...)
	_, snaps := dstream.MapWithState(in, dstream.NewStateSpec(func(_ time.Time, _ int, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
		n, _ := st.Get()
		_ = st.Update(n + v.OrElse(0))
		return ops.None[int]()
	}))
	counts := dstream.UpdateStateByKey(in, func(vs []int, st ops.Maybe[int]) ops.Maybe[int] { return ops.Some(st.OrElse(0) + len(vs)) })
	var mws, ustate []map[int]int
	var spilled []int
	dstream.ForeachRDD(snaps, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], _ time.Time) error {
		m, err := rdd.CollectAsMap(ctx, r)
		mws = append(mws, m)
		files, _ := filepath.Glob(filepath.Join(spillDir, "*.spill"))
		spilled = append(spilled, len(files))
		return err
	})
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], _ time.Time) error {
		m, err := rdd.CollectAsMap(ctx, r)
		ustate = append(ustate, m)
		return err
	})
	h.runBatches(len(batches))
	want := map[int]int{}
	for b, batch := range batches {
		for _, kv := range batch {
			want[kv.Key] += kv.Value
		}
		if diff := cmp.Diff(want, mws[b]); diff != "" {
			t.Fatalf("MapWithState after batch %d (-want +got):\n%s", b+1, diff)
		}
		if diff := cmp.Diff(want, ustate[b]); diff != "" {
			t.Fatalf("UpdateStateByKey after batch %d (-want +got):\n%s", b+1, diff)
		}
	}
	if spilled[len(spilled)-1] == 0 {
		t.Errorf("spill files during the run: %v; want some (the state is beyond the budget)", spilled)
	}
	if files, _ := filepath.Glob(filepath.Join(spillDir, "*")); len(files) != 0 {
		t.Errorf("spill files left after Run: %v", files)
	}
}
