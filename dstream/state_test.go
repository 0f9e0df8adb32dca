package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// cappedSum returns an update function of running sums that drops a key
// whose sum passes limit.
func cappedSum(limit int) func(values []int, state ops.Maybe[int]) ops.Maybe[int] {
	return func(values []int, state ops.Maybe[int]) ops.Maybe[int] {
		n := state.OrElse(0)
		for _, v := range values {
			n += v
		}
		if n > limit {
			return ops.None[int]()
		}
		return ops.Some(n)
	}
}

func TestUpdateStateByKeyRunningCounts(t *testing.T) {
	// Running word counts; a key whose count passes 3 is dropped.
	update := cappedSum(3)
	got := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		pairs := dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		state := dstream.UpdateStateByKey(pairs, update, rdd.Partitions[string](3))
		return dstream.Transform(state, func(r *rdd.RDD[ops.KV[string, int]], _ time.Time) *rdd.RDD[ops.KV[string, int]] {
			if p, _ := rdd.PartitionerOf(r); r.NumPartitions() != 3 || p == nil {
				t.Errorf("state RDD has %d partitions, partitioner %v; want 3, hash", r.NumPartitions(), p)
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
	count := dstream.NewStateSpec(func(_ time.Time, k string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[kv] {
		n, _ := st.Get()
		n += v.OrElse(0)
		if err := st.Update(n); err != nil {
			return ops.None[kv]()
		}
		return ops.Some(ops.Pair(k, n))
	})
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
			in, q := dstream.QueueStream[kv](h.c, dstream.OneAtATime)
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
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2}, []int{3}, []int{4}, []int{5})
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

// stateInput feeds the UpdateStateByKeyWith tests: keys that repeat within
// a batch, come back, go idle, and empty batches.
var stateInput = [][]ops.KV[string, int]{
	{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "a", Value: 3}},
	{{Key: "c", Value: 4}},
	nil,
	{{Key: "a", Value: 5}, {Key: "d", Value: 6}, {Key: "d", Value: 7}, {Key: "b", Value: 8}},
	{{Key: "e", Value: 9}},
	nil,
	{{Key: "b", Value: 10}, {Key: "c", Value: 11}},
}

// refState is the plain-Go reference of a state updated key by key: after
// each of n batches (numbered from 1), update runs for every key with state
// or values, and the state is what it returns.
func refState[S any](input [][]ops.KV[string, int], n int, initial map[string]S, update func(k int, key string, values []int, old ops.Maybe[S]) ops.Maybe[S]) [][]ops.KV[string, S] {
	state := maps.Clone(initial)
	if state == nil {
		state = map[string]S{}
	}
	out := make([][]ops.KV[string, S], n)
	for k := 1; k <= n; k++ {
		values := map[string][]int{}
		if k <= len(input) {
			for _, kv := range input[k-1] {
				values[kv.Key] = append(values[kv.Key], kv.Value)
			}
		}
		keys := slices.Sorted(maps.Keys(state))
		for key := range values {
			if _, ok := state[key]; !ok {
				keys = append(keys, key)
			}
		}
		next := map[string]S{}
		for _, key := range keys {
			old := ops.None[S]()
			if st, ok := state[key]; ok {
				old = ops.Some(st)
			}
			if st := update(k, key, values[key], old); st.Ok {
				next[key] = st.Value
			}
		}
		state = next
		for _, key := range slices.Sorted(maps.Keys(state)) {
			out[k-1] = append(out[k-1], ops.Pair(key, state[key]))
		}
	}
	return out
}

// tally is a key's state in TestUpdateStateByKeyWithTimeAndKey: values
// weighted by their batch number, the last batch with values, and the key
// the function was given.
type tally struct {
	Key         string
	Total, Last int
}

// TestUpdateStateByKeyWithTimeAndKey checks UpdateSpec.Func (Spark's
// (Time, K, Seq[V], Option[S]) form) with an initial state and a partition
// count: the function gets the batch time and the key, every key with state
// or values every batch, and the initial state at the first batch.
func TestUpdateStateByKeyWithTimeAndKey(t *testing.T) {
	update := func(k int, key string, values []int, old ops.Maybe[tally]) ops.Maybe[tally] {
		st := old.OrElse(tally{Key: key})
		if len(values) == 0 {
			if k-st.Last >= 2 {
				return ops.None[tally]() // idle for two batches: dropped
			}
			return ops.Some(st)
		}
		for _, v := range values {
			st.Total += k * v
		}
		st.Last = k
		return ops.Some(st)
	}
	initial := map[string]tally{"a": {Key: "a", Total: 100}, "z": {Key: "z", Total: 50}}
	want := refState(stateInput, len(stateInput)+3, initial, update)
	dstreamtest.Run(t, stateInput, func(s *dstream.DStream[ops.KV[string, int]]) *dstream.DStream[ops.KV[string, tally]] {
		state := dstream.UpdateStateByKeyWith(s, dstream.NewUpdateSpec(func(t time.Time, key string, values []int, old ops.Maybe[tally]) ops.Maybe[tally] {
			return update(batchNo(t), key, values, old)
		}).InitialState(rdd.Parallelize(s.Context().Engine(), sortedPairs(initial), 1)), rdd.Partitions[string](3))
		return dstream.Transform(state, func(r *rdd.RDD[ops.KV[string, tally]], _ time.Time) *rdd.RDD[ops.KV[string, tally]] {
			if p, _ := rdd.PartitionerOf(r); r.NumPartitions() != 3 || p == nil {
				t.Errorf("state RDD has %d partitions, partitioner %v; want 3, hash", r.NumPartitions(), p)
			}
			return r
		})
	}, want, dstreamtest.Unordered())
}

// sortedPairs returns m's pairs by key.
func sortedPairs[V any](m map[string]V) []ops.KV[string, V] {
	var kvs []ops.KV[string, V]
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kvs = append(kvs, ops.Pair(k, m[k]))
	}
	return kvs
}

// TestUpdateStateByKeyWithPartitionFunc checks UpdateSpec.PartitionFunc
// (Spark's iterator form) with an initial state: it runs once per state
// partition and batch, gets every key of its partition with state or
// values once, and what it yields is the new state (a key not yielded is
// dropped).
func TestUpdateStateByKeyWithPartitionFunc(t *testing.T) {
	const parts = 3
	capped := cappedSum(20)
	update := func(_ int, _ string, values []int, old ops.Maybe[int]) ops.Maybe[int] { return capped(values, old) }
	initial := map[string]int{"b": 15, "q": 1}
	n := len(stateInput) + 2
	want := refState(stateInput, n, initial, update)
	var mu sync.Mutex // PartitionFunc runs in parallel tasks
	calls := map[int][]int{}
	dstreamtest.Run(t, stateInput, func(s *dstream.DStream[ops.KV[string, int]]) *dstream.DStream[ops.KV[string, int]] {
		return dstream.UpdateStateByKeyWith(s, dstream.NewPartitionUpdateSpec(func(_ context.Context, t time.Time, part int, in iter.Seq[dstream.StateInput[string, int, int]], yield func(ops.KV[string, int]) bool) error {
			mu.Lock()
			calls[batchNo(t)] = append(calls[batchNo(t)], part)
			mu.Unlock()
			seen := map[string]bool{}
			for g := range in {
				if seen[g.Key] {
					return fmt.Errorf("key %s given twice", g.Key)
				}
				seen[g.Key] = true
				if st := update(0, g.Key, g.Values, g.State); st.Ok && !yield(ops.Pair(g.Key, st.Value)) {
					return nil
				}
			}
			return nil
		}).InitialState(rdd.Parallelize(s.Context().Engine(), sortedPairs(initial), 2)), rdd.Partitions[string](parts))
	}, want, dstreamtest.Unordered())
	for k := 1; k <= n; k++ {
		slices.Sort(calls[k])
		if !slices.Equal(calls[k], []int{0, 1, 2}) {
			t.Errorf("batch %d: PartitionFunc ran for partitions %v, want each of 0..%d once", k, calls[k], parts-1)
		}
	}
}

// aged is a key of TestUpdateStateByKeyWithRepartitionState: a word and
// how many batches ago its values came.
type aged struct {
	Word string
	Age  int
}

// byAge partitions aged keys by age: a key that ages changes partition.
type byAge struct{ n int }

func (p byAge) NumPartitions() int     { return p.n }
func (p byAge) Partition(key aged) int { return key.Age % p.n }
func (p byAge) Equal(other shuffle.Partitioner[aged]) bool {
	o, ok := other.(byAge)
	return ok && o == p
}

// agedInput is stateInput's words, all of age 0.
func agedInput() [][]ops.KV[aged, int] {
	out := make([][]ops.KV[aged, int], len(stateInput))
	for k, batch := range stateInput {
		for _, kv := range batch {
			out[k] = append(out[k], ops.Pair(aged{kv.Key, 0}, kv.Value))
		}
	}
	return out
}

// ageing is a PartitionFunc that moves every key: the sum of a word's new
// values goes to age 1, and each state ages by one batch, up to 3.
func ageing(_ context.Context, _ time.Time, _ int, in iter.Seq[dstream.StateInput[aged, int, int]], yield func(ops.KV[aged, int]) bool) error {
	for g := range in {
		if g.State.Ok && g.Key.Age < 3 && !yield(ops.Pair(aged{g.Key.Word, g.Key.Age + 1}, g.State.Value)) {
			return nil
		}
		if len(g.Values) > 0 {
			sum := 0
			for _, v := range g.Values {
				sum += v
			}
			if !yield(ops.Pair(aged{g.Key.Word, 1}, sum)) {
				return nil
			}
		}
	}
	return nil
}

// TestUpdateStateByKeyWithRepartitionState checks a PartitionFunc that
// yields keys other than those it is given (Spark's rememberPartitioner =
// false): the state is partitioned again for the next batch, so every key
// meets its values and state.
func TestUpdateStateByKeyWithRepartitionState(t *testing.T) {
	n := len(stateInput) + 3
	want := make([][]ops.KV[aged, int], n)
	for k := 1; k <= n; k++ {
		for age := 1; age <= 3 && age <= k; age++ {
			if j := k - age + 1; j <= len(stateInput) {
				sums := map[string]int{}
				for _, kv := range stateInput[j-1] {
					sums[kv.Key] += kv.Value
				}
				for w, sum := range sums {
					want[k-1] = append(want[k-1], ops.Pair(aged{w, age}, sum))
				}
			}
		}
	}
	for name, opts := range map[string][]rdd.ShuffleOpt[aged]{"hash": nil, "by age": {rdd.WithPartitioner[aged](byAge{3})}} {
		t.Run(name, func(t *testing.T) {
			dstreamtest.Run(t, agedInput(), func(s *dstream.DStream[ops.KV[aged, int]]) *dstream.DStream[ops.KV[aged, int]] {
				return dstream.UpdateStateByKeyWith(s, dstream.NewPartitionUpdateSpec(ageing).RepartitionState(), opts...)
			}, want, dstreamtest.Unordered())
		})
	}
}

// runStateFailure runs build's stream over stateInput for one batch, which
// must fail, and returns Run's error. (Asking for a second batch raced with
// the first's failure ending Run.)
func runStateFailure(t *testing.T, build func(s *dstream.DStream[ops.KV[string, int]]) *dstream.DStream[ops.KV[string, int]]) error {
	t.Helper()
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, stateInput...)
	dstream.ForeachRDD(build(in), func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		return err
	})
	h.start(context.Background())
	h.batches(1)
	h.c.Stop()
	return h.result()
}

// TestUpdateStateByKeyWithMisuse checks that what would silently corrupt the
// state fails the batch, naming the operator, the batch and the key: a
// PartitionFunc yielding a key of another partition without
// RepartitionState, a key yielded twice, an initial state with a key twice;
// yield returns false once the update has failed, so that the function stops.
func TestUpdateStateByKeyWithMisuse(t *testing.T) {
	t.Run("key of another partition", func(t *testing.T) {
		h := newHarness(t)
		in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, agedInput()...)
		state := dstream.UpdateStateByKeyWith(in, dstream.NewPartitionUpdateSpec(ageing), rdd.WithPartitioner[aged](byAge{3}))
		dstream.ForeachRDD(state, func(context.Context, *rdd.RDD[ops.KV[aged, int]], time.Time) error { return nil })
		h.start(context.Background())
		h.batches(1)
		h.c.Stop()
		err := h.result()
		for _, want := range []string{"dstream.UpdateStateByKey", "batch 2026-01-01T00:00:01Z", "of partition 1", "RepartitionState"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %v, want an error saying %q", err, want)
			}
		}
	})
	t.Run("key yielded twice", func(t *testing.T) {
		err := runStateFailure(t, func(s *dstream.DStream[ops.KV[string, int]]) *dstream.DStream[ops.KV[string, int]] {
			return dstream.UpdateStateByKeyWith(s, dstream.NewPartitionUpdateSpec(func(_ context.Context, _ time.Time, _ int, in iter.Seq[dstream.StateInput[string, int, int]], yield func(ops.KV[string, int]) bool) error {
				for g := range in {
					if !yield(ops.Pair(g.Key, 1)) || !yield(ops.Pair(g.Key, 2)) {
						return nil // the batch fails with the key twice
					}
					return errors.New("yield never returned false")
				}
				return nil // a partition with no key
			}))
		})
		for _, want := range []string{"dstream.UpdateStateByKey", "batch 2026-01-01T00:00:01Z", "yielded key", "twice"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %v, want an error saying %q", err, want)
			}
		}
		if err != nil && strings.Contains(err.Error(), "never returned false") {
			t.Error("yield went on returning true after a key twice")
		}
	})
	t.Run("initial state with a key twice", func(t *testing.T) {
		err := runStateFailure(t, func(s *dstream.DStream[ops.KV[string, int]]) *dstream.DStream[ops.KV[string, int]] {
			return dstream.UpdateStateByKeyWith(s, dstream.NewUpdateSpec(func(_ time.Time, _ string, _ []int, st ops.Maybe[int]) ops.Maybe[int] { return st }).InitialState(rdd.Parallelize(s.Context().Engine(), []ops.KV[string, int]{{Key: "q", Value: 1}, {Key: "q", Value: 2}}, 2)))
		})
		if err == nil || !strings.Contains(err.Error(), "key q has two initial states") {
			t.Errorf("Run = %v, want an error saying key q has two initial states", err)
		}
	})
}

// TestUpdateStateByKeyWithInvalidSpec checks the specs Run refuses before
// any batch: no function (the zero UpdateSpec), RepartitionState with the
// function of NewUpdateSpec, OnlyValues with a partition function, a nil
// initial state.
func TestUpdateStateByKeyWithInvalidSpec(t *testing.T) {
	fn := func(_ time.Time, _ string, _ []int, st ops.Maybe[int]) ops.Maybe[int] { return st }
	pfn := func(context.Context, time.Time, int, iter.Seq[dstream.StateInput[string, int, int]], func(ops.KV[string, int]) bool) error {
		return nil
	}
	for name, tt := range map[string]struct {
		spec dstream.UpdateSpec[string, int, int]
		want string
	}{
		"no function":                    {dstream.UpdateSpec[string, int, int]{}, "nil function"},
		"RepartitionState, Func":         {dstream.NewUpdateSpec(fn).RepartitionState(), "UpdateSpec.RepartitionState is for a partition function"},
		"OnlyValues, partition function": {dstream.NewPartitionUpdateSpec(pfn).OnlyValues(), "UpdateSpec.OnlyValues is for the function of NewUpdateSpec"},
		"nil initial state":              {dstream.NewUpdateSpec(fn).InitialState(nil), "UpdateSpec.InitialState(nil), want an RDD"},
		"nil partition function":         {dstream.NewPartitionUpdateSpec[string, int, int](nil), "nil function"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			in, _ := dstream.QueueStream[ops.KV[string, int]](h.c, dstream.OneAtATime)
			dstream.ForeachRDD(dstream.UpdateStateByKeyWith(in, tt.spec), func(context.Context, *rdd.RDD[ops.KV[string, int]], time.Time) error { return nil })
			err := runRefused(t, h)
			if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "dstream.UpdateStateByKeyWith: invalid argument: "+tt.want) {
				t.Errorf("Run = %v, want ErrInvalid naming dstream.UpdateStateByKeyWith and %q", err, tt.want)
			}
		})
	}
}

// runRefused runs h's Context, which must refuse its graph: it returns Run's
// error, or fails the test if Run starts generating batches.
func runRefused(t *testing.T, h *harness) error {
	t.Helper()
	h.start(context.Background())
	if err := h.d.AwaitScheduler(); err == nil {
		h.d.Close()
		t.Fatalf("Run accepted the graph and waits for its first batch (then %v)", h.result())
	}
	return h.result()
}

// TestUpdateStateByKeyInitialStateResumes runs a job with an initial state
// that checkpoints its state every batch, then resumes it: the resumed job
// goes on from the restored state and does not apply the initial state
// again.
func TestUpdateStateByKeyInitialStateResumes(t *testing.T) {
	dir := t.TempDir()
	got := map[int]map[string]int{}
	run := func(batches [][]string, n int) {
		t.Helper()
		h := newHarness(t)
		var q *dstream.Queue[string]
		c, err := dstream.GetOrCreate(dir, func(c *dstream.Context) error {
			in, queue := dstream.QueueStream[string](c, dstream.OneAtATime)
			q = queue
			pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
			counts := dstream.UpdateStateByKeyWith(pairs, dstream.NewUpdateSpec(func(_ time.Time, _ string, values []int, st ops.Maybe[int]) ops.Maybe[int] {
				return sumUpdate(values, st)
			}).InitialState(rdd.Parallelize(c.Engine(), []ops.KV[string, int]{{Key: "a", Value: 100}, {Key: "z", Value: 7}}, 1)))
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
				m, err := rdd.CollectAsMap(ctx, r)
				got[batchNo(bt)] = m
				return err
			})
			return nil
		}, dstream.BatchInterval(interval), dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
		if err != nil {
			t.Fatal(err)
		}
		h.c = c
		for _, b := range batches {
			q.Push(b)
		}
		h.runBatches(n)
	}
	run([][]string{{"a", "b"}, {"a"}}, 2)
	run([][]string{{"b"}}, 3) // resumes after batch 2
	want := map[int]map[string]int{
		1: {"a": 101, "b": 1, "z": 7},
		2: {"a": 102, "b": 1, "z": 7},
		3: {"a": 102, "b": 2, "z": 7},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state after each batch (-want +got):\n%s", diff)
	}
}
