package dstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// TestForgetDuringCatchUp queues a backlog of batches (the clock jumps n
// intervals while the first batch's output is held) and checks, as each
// batch of the backlog is processed, what every stream holds: its RDDs
// from the batch before the one processed (the remember duration is one
// interval) to the last generated, listed oldest first, so that forgetting
// drops from the front of that list instead of walking the whole backlog.
func TestForgetDuringCatchUp(t *testing.T) {
	leakcheck.Check(t)
	const n = 50
	batches := make([][]int, n)
	for i := range batches {
		batches[i] = []int{i}
	}
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, batches...)
	doubled := dstream.Map(in, func(x int) int { return 2 * x })
	release := make(chan struct{})
	var bad []string
	dstream.ForeachRDD(doubled, func(ctx context.Context, r *rdd.RDD[int], bt time.Time) error {
		if bt.Equal(epoch.Add(interval)) {
			<-release
		}
		k := int(bt.Sub(epoch) / interval)
		var want []time.Time
		for i := max(k-1, 1); i <= n; i++ {
			want = append(want, epoch.Add(time.Duration(i)*interval))
		}
		for _, s := range []*dstream.DStream[int]{in, doubled} {
			got, ok := dstream.GeneratedTimes(s)
			if !ok {
				bad = append(bad, fmt.Sprintf("batch %d: %v: the list of times disagrees with the RDDs held", k, s))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				bad = append(bad, fmt.Sprintf("batch %d: %v holds (-want +got):\n%s", k, s, diff))
			}
		}
		_, err := rdd.Count(ctx, r)
		return err
	})
	h.start(context.Background())
	h.awaitGenerator()
	h.clock.Advance(n * interval)
	h.awaitGenerator() // every batch of the backlog is generated
	close(release)
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
	// After the last batch, only it is kept.
	for _, s := range []*dstream.DStream[int]{in, doubled} {
		got, ok := dstream.GeneratedTimes(s)
		if want := []time.Time{epoch.Add(n * interval)}; !ok || !cmp.Equal(want, got) {
			t.Errorf("after the drain %v holds %v (consistent: %v), want %v", s, got, ok, want)
		}
	}
}

// TestForgetARestoredState resumes a running count from a checkpoint: the
// state restored for the last checkpointed batch is forgotten like any RDD
// once the batches after it no longer need it.
func TestForgetARestoredState(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	run := func(batches [][]string, upTo int) []string {
		h := newHarness(t)
		var q *dstream.Queue[string]
		var bad []string
		c, err := dstream.GetOrCreate(dir, func(c *dstream.Context) error {
			in, queue := dstream.QueueStream[string](c, dstream.OneAtATime)
			q = queue
			pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
			counts := dstream.UpdateStateByKey(pairs, sumUpdate)
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
				k := int(bt.Sub(epoch) / interval)
				// Later batches may be generated already: the RDDs held are
				// this batch's and later ones, in order.
				if got, ok := dstream.GeneratedTimes(counts); !ok || len(got) == 0 || got[0].After(bt) {
					bad = append(bad, fmt.Sprintf("batch %d: the state stream holds %v (consistent: %v), want this batch's first", k, got, ok))
				}
				m, err := rdd.CollectAsMap(ctx, r)
				if k == 6 && fmt.Sprint(m) != "map[a:3 b:2 c:1]" {
					bad = append(bad, fmt.Sprintf("batch 6: the state is %v, want map[a:3 b:2 c:1]", m))
				}
				return err
			})
			return nil
		}, dstream.BatchInterval(interval), dstream.WithClock(h.clock), dstream.CheckpointInterval(interval),
			dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
		if err != nil {
			t.Fatal(err)
		}
		h.c = c
		for _, b := range batches {
			q.Push(b)
		}
		h.start(context.Background())
		h.batches(upTo)
		h.c.Stop()
		if err := h.result(); err != nil {
			t.Fatal(err)
		}
		return bad
	}
	run([][]string{{"a"}, {"b"}, {"a"}}, 3)
	// Resumed after batch 3, whose state is restored: batches 4 to 6 run.
	for _, b := range run([][]string{{"c"}, {"a"}, {"b"}}, 6) {
		t.Error(b)
	}
}
