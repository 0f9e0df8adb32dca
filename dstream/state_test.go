package dstream_test

import (
	"context"
	"fmt"
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
	got := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		pairs := dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		state := dstream.UpdateStateByKey(pairs, update, rdd.Partitions(3))
		return dstream.Transform(state, func(r *rdd.RDD[ops.KV[string, int]], _ time.Time) *rdd.RDD[ops.KV[string, int]] {
			if r.NumPartitions() != 3 || r.Partitioner() == nil {
				t.Errorf("state RDD has %d partitions, partitioner %v; want 3, hash", r.NumPartitions(), r.Partitioner())
			}
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
}

// TestStateLineageStaysShort checks that a stateful stream's RDD, built on
// the previous batch's, does not drag every earlier batch's lineage along:
// when each batch is processed before the next is generated, the lineage
// depth stays the same from batch to batch.
func TestStateLineageStaysShort(t *testing.T) {
	type kv = ops.KV[string, int]
	sum := func(values []int, state ops.Maybe[int]) ops.Maybe[int] {
		n := state.OrElse(0)
		for _, v := range values {
			n += v
		}
		return ops.Some(n)
	}
	count := dstream.StateSpec[string, int, int, kv]{Func: func(_ time.Time, k string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[kv] {
		n, _ := st.Get()
		n += v.OrElse(0)
		if err := st.Update(n); err != nil {
			return ops.None[kv]()
		}
		return ops.Some(ops.Pair(k, n))
	}}
	cases := map[string]func(*dstream.DStream[kv]) *dstream.DStream[kv]{
		"UpdateStateByKey": func(s *dstream.DStream[kv]) *dstream.DStream[kv] { return dstream.UpdateStateByKey(s, sum) },
		"MapWithState": func(s *dstream.DStream[kv]) *dstream.DStream[kv] {
			mapped, _ := dstream.MapWithState(s, count)
			return mapped
		},
		"ReduceByKeyAndWindowInv": func(s *dstream.DStream[kv]) *dstream.DStream[kv] {
			return dstream.ReduceByKeyAndWindowInv(s, ops.SumInv[int](), 2*interval, interval, nil)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			in, q := dstream.QueueStream[kv](h.c, true)
			processed := make(chan int, 1)
			var depth []int
			dstream.ForeachRDD(build(in), func(ctx context.Context, r *rdd.RDD[kv], _ time.Time) error {
				depth = append(depth, strings.Count(r.DebugString(), "\n"))
				_, err := rdd.Count(ctx, r)
				processed <- len(depth)
				return err
			})
			h.start(context.Background())
			for k := range 8 {
				q.Push([]kv{ops.Pair("a", k), ops.Pair(fmt.Sprint(k), 1)})
				h.batches(1)
				select {
				case <-processed:
				case <-time.After(5 * time.Second):
					t.Fatalf("batch %d was not processed within 5s", k+1)
				}
			}
			h.c.Stop()
			if err := h.result(); err != nil {
				t.Fatal(err)
			}
			if depth[len(depth)-1] > depth[2] {
				t.Errorf("lineage grows: %v lines per batch", depth)
			}
		})
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
	h.runBatches(5)
	want := map[int][]int{1: {1}, 2: {1, 2}, 3: {1, 2, 3}, 4: {2, 3, 4}, 5: {3, 4, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slices (-want +got):\n%s", diff)
	}
	if sliceErr == nil || !strings.Contains(sliceErr.Error(), "forgotten") {
		t.Errorf("Slice over a forgotten batch = %v, want an error saying so", sliceErr)
	}
}
