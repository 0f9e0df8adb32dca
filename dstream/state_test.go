package dstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func TestUpdateStateByKeyRunningCounts(t *testing.T) {
	// Running word counts; a key whose count passes 3 is dropped.
	update := func(values []int, state ops.Maybe[int]) ops.Maybe[int] {
		n := state.OrElse(0)
		for _, v := range values {
			n += v
		}
		if n > 3 {
			return ops.None[int]()
		}
		return ops.Some(n)
	}
	var depth []int
	got := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		pairs := dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		state := dstream.UpdateStateByKey(pairs, update, rdd.Partitions(3))
		return dstream.Transform(state, func(r *rdd.RDD[ops.KV[string, int]], _ time.Time) *rdd.RDD[ops.KV[string, int]] {
			if r.NumPartitions() != 3 || r.Partitioner() == nil {
				t.Errorf("state RDD has %d partitions, partitioner %v; want 3, hash", r.NumPartitions(), r.Partitioner())
			}
			depth = append(depth, strings.Count(r.DebugString(), "\n"))
			return r
		})
	})
	ref := map[string]int{}
	for k, batch := range windowInput {
		for _, w := range batch {
			ref[w]++
		}
		want := map[string]int{}
		for w, n := range ref {
			if n <= 3 {
				want[w] = n
			}
		}
		for w, n := range ref {
			if n > 3 {
				delete(ref, w) // dropped: counted again from scratch
			}
		}
		if diff := cmp.Diff(want, pairsToMap(got[k+1])); diff != "" {
			t.Errorf("state after batch %d (-want +got):\n%s", k+1, diff)
		}
	}
	// The lineage of the state does not grow with the batches.
	if len(depth) > 2 && depth[len(depth)-1] > depth[1] {
		t.Errorf("state lineage grows: %v lines per batch", depth)
	}
}

func TestSlice(t *testing.T) {
	h := newHarness(t, dstream.Remember(3*interval))
	in, _ := dstream.QueueStream(h.c, true, []int{1}, []int{2}, []int{3}, []int{4}, []int{5})
	got := map[int][]int{}
	var sliceErr error
	dstream.ForeachRDD(in, func(ctx context.Context, _ *rdd.RDD[int], bt time.Time) error {
		k := int(bt.Sub(epoch) / interval)
		rs, err := dstream.Slice(in, bt.Add(-2*interval), bt)
		if err != nil {
			return err
		}
		for _, r := range rs {
			xs, err := rdd.Collect(ctx, r)
			if err != nil {
				return err
			}
			got[k] = append(got[k], xs...)
		}
		if k == 5 {
			_, sliceErr = dstream.Slice(in, epoch.Add(interval), bt)
		}
		return nil
	})
	h.start(context.Background())
	h.batches(5)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	want := map[int][]int{1: {1}, 2: {1, 2}, 3: {1, 2, 3}, 4: {2, 3, 4}, 5: {3, 4, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slices (-want +got):\n%s", diff)
	}
	if sliceErr == nil || !strings.Contains(sliceErr.Error(), "forgotten") {
		t.Errorf("Slice over a forgotten batch = %v, want an error saying so", sliceErr)
	}
}
