package dstream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func ExampleReduceByKey() {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	lines, _ := dstream.QueueStream(c, true, []string{"to be or", "not to be"}, nil, []string{"be quick"})
	words := dstream.FlatMap(lines, strings.Fields)
	pairs := dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	counts := dstream.ReduceByKey(pairs, ops.Sum[int])
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], t time.Time) error {
		got, err := rdd.Collect(ctx, r)
		if err != nil {
			return err
		}
		// A batch's pairs come in no particular order: sort them to print.
		slices.SortFunc(got, func(a, b ops.KV[string, int]) int { return strings.Compare(a.Key, b.Key) })
		fmt.Println(t.Format(time.TimeOnly), got)
		return nil
	})

	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	for range 3 {
		// Move time only once the scheduler waits for the next batch.
		_ = clock.AwaitWaiters(context.Background(), 1)
		clock.Advance(time.Second)
	}
	c.Stop()
	fmt.Println(<-done)
	// Output:
	// 00:00:01 [(be, 2) (not, 1) (or, 1) (to, 2)]
	// 00:00:02 []
	// 00:00:03 [(be, 1) (quick, 1)]
	// <nil>
}

func ExampleMapValues() {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	orders, _ := dstream.QueueStream(c, true, []ops.KV[string, string]{{Key: "ann", Value: "3 apples"}, {Key: "bob", Value: "10 pears"}})
	// The keys stay where they are: a keyed stream stays partitioned by key.
	lengths := dstream.MapValues(orders, func(s string) int { return len(s) })
	dstream.ForeachRDD(lengths, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		got, err := rdd.Collect(ctx, r)
		slices.SortFunc(got, func(a, b ops.KV[string, int]) int { return strings.Compare(a.Key, b.Key) })
		fmt.Println(got)
		return err
	})
	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	_ = clock.AwaitWaiters(context.Background(), 1)
	clock.Advance(time.Second)
	c.Stop()
	fmt.Println(<-done)
	// Output:
	// [(ann, 8) (bob, 8)]
	// <nil>
}

func ExampleReduceByKeyAndWindow() {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	words, _ := dstream.QueueStream(c, true, []string{"go", "rust"}, []string{"go"}, []string{"zig", "zig"})
	ones := dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	// Counts over the last two batches, every batch.
	counts := dstream.ReduceByKeyAndWindow(ones, ops.Sum[int], 2*time.Second, time.Second)
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], t time.Time) error {
		got, err := rdd.Collect(ctx, r)
		slices.SortFunc(got, func(a, b ops.KV[string, int]) int { return strings.Compare(a.Key, b.Key) })
		fmt.Println(t.Format(time.TimeOnly), got)
		return err
	})
	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	for range 4 {
		_ = clock.AwaitWaiters(context.Background(), 1)
		clock.Advance(time.Second)
	}
	c.Stop()
	fmt.Println(<-done)
	// Output:
	// 00:00:01 [(go, 1) (rust, 1)]
	// 00:00:02 [(go, 2) (rust, 1)]
	// 00:00:03 [(go, 1) (zig, 2)]
	// 00:00:04 [(zig, 2)]
	// <nil>
}
