package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// stateBench measures what a batch of a stateful stream costs as its state grows: a
// state of 10k, 100k and 1M int keys (an initial state), then batches of 10k records
// over 100 hot keys, each adding its value to its key's count. It prints, per size,
//
//	state: keys=<n> ustate_ms=<ms> ustate_new_ms=<ms> mws_ms=<ms> hand_ms=<ms> hand1_ms=<ms> hand2_ms=<ms> mws_ratio=<mws/hand> bytes_per_key=<b> hand_bytes_per_key=<b>
//
// ustate is UpdateStateByKey (Spark's semantics: the function runs for every key,
// every batch), ustate_new its variant that runs only for keys with new values
// (OnlyValues), both with an output that does not read the whole state; mws is
// MapWithState, whose output counts the mapped records; hand is the better of a
// map[int]int updated by the same records (hand1) and two goroutines, each owning
// half the keys in a map of its own (hand2). Times are the
// median wall time from a batch's start to its end (OnBatchStarted to
// OnBatchCompleted) over the measured batches; bytes_per_key is the heap the
// MapWithState job holds per key of state (after a GC), against the hand map's.
func stateBench(scale float64, rounds int) (string, error) {
	var lines []string
	for _, keys := range []int{10_000, 100_000, 1_000_000} {
		n := max(int(float64(keys)*scale), 100)
		line, err := stateLine(n, max(rounds, 3))
		if err != nil {
			return "", err
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n"), nil
}

const (
	stateBatchRecords = 10_000
	stateHotKeys      = 100
)

// stateBatches returns batches of records over the hot keys (a key's value is 1).
func stateBatches(n int) [][]ops.KV[int, int] {
	out := make([][]ops.KV[int, int], n)
	for b := range out {
		out[b] = make([]ops.KV[int, int], stateBatchRecords)
		for i := range out[b] {
			out[b][i] = ops.Pair((i*7+b)%stateHotKeys, 1)
		}
	}
	return out
}

func stateLine(keys, batches int) (string, error) {
	sum := func(vs []int, st ops.Maybe[int]) ops.Maybe[int] {
		n := st.OrElse(0)
		for _, v := range vs {
			n += v
		}
		return ops.Some(n)
	}
	ustate, _, err := timeStateJob(keys, batches, false, func(in *dstream.DStream[ops.KV[int, int]], initial *rdd.RDD[ops.KV[int, int]]) *dstream.DStream[ops.KV[int, int]] {
		return dstream.UpdateStateByKeyWith(in, dstream.NewUpdateSpec(func(_ time.Time, _ int, vs []int, st ops.Maybe[int]) ops.Maybe[int] { return sum(vs, st) }).InitialState(initial))
	})
	if err != nil {
		return "", fmt.Errorf("UpdateStateByKey: %w", err)
	}
	ustateNew, _, err := timeStateJob(keys, batches, false, func(in *dstream.DStream[ops.KV[int, int]], initial *rdd.RDD[ops.KV[int, int]]) *dstream.DStream[ops.KV[int, int]] {
		return dstream.UpdateStateByKeyWith(in, dstream.NewUpdateSpec(func(_ time.Time, _ int, vs []int, st ops.Maybe[int]) ops.Maybe[int] { return sum(vs, st) }).InitialState(initial).OnlyValues())
	})
	if err != nil {
		return "", fmt.Errorf("UpdateStateByKey (new values only): %w", err)
	}
	mws, heap, err := timeStateJob(keys, batches, true, func(in *dstream.DStream[ops.KV[int, int]], initial *rdd.RDD[ops.KV[int, int]]) *dstream.DStream[ops.KV[int, int]] {
		mapped, _ := dstream.MapWithState(in, dstream.NewStateSpec(func(_ time.Time, k int, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[ops.KV[int, int]] {
			n, _ := st.Get()
			n += v.OrElse(0)
			if err := st.Update(n); err != nil {
				return ops.None[ops.KV[int, int]]()
			}
			return ops.Some(ops.Pair(k, n))
		}).InitialState(initial))
		return mapped
	})
	if err != nil {
		return "", fmt.Errorf("MapWithState: %w", err)
	}
	hand1, hand2, handHeap := timeHandState(keys, batches)
	hand := min(hand1, hand2) // the better baseline
	return fmt.Sprintf("state: keys=%d ustate_ms=%.2f ustate_new_ms=%.2f mws_ms=%.2f hand_ms=%.3f hand1_ms=%.3f hand2_ms=%.3f mws_ratio=%.1f bytes_per_key=%.0f hand_bytes_per_key=%.0f",
		keys, ms(ustate), ms(ustateNew), ms(mws), ms(hand), ms(hand1), ms(hand2), float64(mws)/float64(max(hand, 1)),
		float64(heap)/float64(keys), float64(handHeap)/float64(keys)), nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// batchTimer is a listener timing each batch from its start to its end, in wall time.
type batchTimer struct {
	dstream.BaseListener
	mu    sync.Mutex
	start time.Time
	times []time.Duration
	done  chan struct{}
}

func (b *batchTimer) OnBatchStarted(dstream.BatchInfo) {
	b.mu.Lock()
	b.start = time.Now()
	b.mu.Unlock()
}

func (b *batchTimer) OnBatchCompleted(dstream.BatchInfo) {
	b.mu.Lock()
	b.times = append(b.times, time.Since(b.start))
	b.mu.Unlock()
	b.done <- struct{}{}
}

// timeStateJob runs build over a stream of the state batches, with an initial state
// of keys keys, on two partitions, with an output that counts build's stream if read
// (else reads nothing: the state is updated all the same), and returns the median time of the batches after
// the first (which loads the initial state) and the heap held per the whole state
// (measured in the last batch's output, after a GC, less the heap before the job and
// the initial pairs).
func timeStateJob(keys, batches int, read bool, build func(in *dstream.DStream[ops.KV[int, int]], initial *rdd.RDD[ops.KV[int, int]]) *dstream.DStream[ops.KV[int, int]]) (time.Duration, int64, error) {
	ctx := context.Background()
	runtime.GC()
	before := heapInUse()
	eng := rdd.NewEngine(rdd.Parallelism(2))
	pairs := make([]ops.KV[int, int], keys)
	for i := range pairs {
		pairs[i] = ops.Pair(i, 1)
	}
	initial := rdd.Parallelize(eng, pairs, 2)
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	timer := &batchTimer{done: make(chan struct{}, batches+1)}
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithEngine(eng), dstream.WithListener(timer))
	in, _ := dstream.QueueStream(c, dstream.OneAtATime, stateBatches(batches+1)...)
	out := build(in, initial)
	var heap int64
	seen := 0
	dstream.ForeachRDD(out, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], _ time.Time) error {
		if read {
			if _, err := rdd.Count(ctx, r); err != nil {
				return err
			}
		}
		if seen++; seen == batches+1 {
			runtime.GC()
			heap = heapInUse() - before - int64(keys)*int64(unsafe.Sizeof(ops.KV[int, int]{}))
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for range batches + 1 {
		if err := clock.AwaitWaiters(ctx, 1); err != nil {
			return 0, 0, err
		}
		clock.Advance(time.Second)
		<-timer.done
	}
	c.Stop()
	if err := <-done; err != nil {
		return 0, 0, err
	}
	times := slices.Clone(timer.times[1:])
	slices.Sort(times)
	return times[len(times)/2], heap, nil
}

// timeHandState is the hand-written baseline: a map of keys ints, updated by every
// record of each batch, by one goroutine (hand1) and by two, each owning the keys of
// one hash half in its own map (hand2); it returns the median time of a batch of
// each, and the single map's heap.
func timeHandState(keys, batches int) (hand1, hand2 time.Duration, heap int64) {
	runtime.GC()
	before := heapInUse()
	m := make(map[int]int)
	for i := range keys {
		m[i] = 1
	}
	runtime.GC()
	heap = heapInUse() - before
	halves := [2]map[int]int{{}, {}}
	for k, v := range m {
		halves[k&1][k] = v
	}
	var t1, t2 []time.Duration
	for _, b := range stateBatches(batches) {
		start := time.Now()
		for _, kv := range b {
			m[kv.Key] += kv.Value
		}
		t1 = append(t1, time.Since(start))
		start = time.Now()
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				h := halves[w]
				for _, kv := range b {
					if kv.Key&1 == w {
						h[kv.Key] += kv.Value
					}
				}
			})
		}
		wg.Wait()
		t2 = append(t2, time.Since(start))
	}
	runtime.KeepAlive(m)
	slices.Sort(t1)
	slices.Sort(t2)
	return t1[len(t1)/2], t2[len(t2)/2], heap
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
