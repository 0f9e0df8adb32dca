package dstream_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// printSorted prints each batch of s, sorted by key, with its time.
func printSorted[S any](s *dstream.DStream[ops.KV[string, S]]) {
	dstream.ForeachRDD(s, func(ctx context.Context, r *rdd.RDD[ops.KV[string, S]], t time.Time) error {
		got, err := rdd.Collect(ctx, r)
		if err != nil {
			return err
		}
		slices.SortFunc(got, func(a, b ops.KV[string, S]) int { return strings.Compare(a.Key, b.Key) })
		fmt.Println(t.Format(time.TimeOnly), got)
		return nil
	})
}

// runExample runs c for n batches on its manual clock, then stops it.
func runExample(c *dstream.Context, clock *dstream.ManualClock, n int) {
	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	for range n {
		// Move time only once the scheduler waits for the next batch.
		_ = clock.AwaitWaiters(context.Background(), 1)
		clock.Advance(time.Second)
	}
	c.Stop()
	fmt.Println(<-done)
}

func ExampleUpdateStateByKeyWith() {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	words, _ := dstream.QueueStream(c, true, []string{"go", "spark", "go"}, nil, []string{"spark"})
	pairs := dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })

	// Each word's count and the batch it was last seen at, starting from the
	// counts of an earlier job.
	type seen struct {
		Count int
		Last  string
	}
	earlier := rdd.Parallelize(c.Engine(), []ops.KV[string, seen]{{Key: "go", Value: seen{10, "yesterday"}}}, 1)
	counts := dstream.UpdateStateByKeyWith(pairs, dstream.UpdateSpec[string, int, seen]{
		Func: func(t time.Time, _ string, values []int, old ops.Maybe[seen]) ops.Maybe[seen] {
			st := old.OrElse(seen{})
			if len(values) > 0 {
				st.Count += len(values)
				st.Last = t.Format(time.TimeOnly)
			}
			return ops.Some(st)
		},
		Initial: earlier,
	})
	printSorted(counts)
	runExample(c, clock, 3)
	// Output:
	// 00:00:01 [(go, {12 00:00:01}) (spark, {1 00:00:01})]
	// 00:00:02 [(go, {12 00:00:01}) (spark, {1 00:00:01})]
	// 00:00:03 [(go, {12 00:00:01}) (spark, {2 00:00:03})]
	// <nil>
}

func ExampleUpdateStateByKeyWith_partitionFunc() {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	clicks, _ := dstream.QueueStream(c, true,
		[]ops.KV[string, int]{{Key: "ann", Value: 1}, {Key: "bob", Value: 2}},
		[]ops.KV[string, int]{{Key: "ann", Value: 3}},
		[]ops.KV[string, int]{{Key: "bob", Value: 1}})

	// Clicks per session: a user's session ends with the first batch without
	// clicks. The function runs once per state partition and batch: the place
	// for per-partition set-up, such as one connection for the partition's
	// keys.
	sessions := dstream.UpdateStateByKeyWith(clicks, dstream.UpdateSpec[string, int, int]{
		PartitionFunc: func(ctx context.Context, _ time.Time, _ int, users iter.Seq[dstream.StateInput[string, int, int]], emit func(ops.KV[string, int])) error {
			for u := range users {
				if len(u.Values) == 0 {
					continue // not emitted: the key is dropped
				}
				total := u.State.OrElse(0)
				for _, n := range u.Values {
					total += n
				}
				emit(ops.Pair(u.Key, total))
			}
			return nil
		},
		Partitioning: []rdd.ShuffleOpt[string]{rdd.Partitions[string](4)},
	})
	printSorted(sessions)
	runExample(c, clock, 3)
	// Output:
	// 00:00:01 [(ann, 1) (bob, 2)]
	// 00:00:02 [(ann, 4)]
	// 00:00:03 [(bob, 1)]
	// <nil>
}
