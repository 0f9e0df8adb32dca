package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// batchOverhead measures what the streaming layer adds per batch: 1000
// batches of 1000 records through three stages (Map, Filter, Map, then
// Count) on two partitions, driven by the manual clock, minus the same work
// done directly on RDDs, batch by batch, in the same run. It prints
//
//	batchoverhead: spate_us_per_batch=<µs>
//
// (the median streamed time per batch minus the median direct time).
func batchOverhead(scale float64, rounds int) (string, error) {
	nbatches := max(int(1000*scale), 10)
	batches := make([][]int, nbatches)
	for i := range batches {
		batches[i] = make([]int, 1000)
		for j := range batches[i] {
			batches[i][j] = i*1000 + j
		}
	}
	const want = 500 // records per batch that pass the filter
	eng := rdd.NewEngine(rdd.Parallelism(2))
	stages := func(r *rdd.RDD[int]) *rdd.RDD[string] {
		even := rdd.Filter(rdd.Map(r, func(x int) int { return x * 3 }), func(x int) bool { return x%2 == 0 })
		return rdd.Map(even, strconv.Itoa)
	}

	direct := func(ctx context.Context) error {
		for _, b := range batches {
			n, err := rdd.Count(ctx, stages(rdd.Parallelize(eng, b, 2)))
			if err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("direct: batch count %d, want %d", n, want)
			}
		}
		return nil
	}
	stream := func(ctx context.Context) error {
		clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithEngine(eng))
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, batches...)
		out := dstream.Transform(in, func(r *rdd.RDD[int], _ time.Time) *rdd.RDD[string] { return stages(r) })
		var bad error
		dstream.ForeachRDD(out, func(ctx context.Context, r *rdd.RDD[string], t time.Time) error {
			n, err := rdd.Count(ctx, r)
			if err == nil && n != want {
				bad = fmt.Errorf("stream: batch %v count %d, want %d", t, n, want)
			}
			return err
		})
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for range nbatches {
			if err := clock.AwaitWaiters(ctx, 1); err != nil {
				return err
			}
			clock.Advance(time.Second)
		}
		c.Stop()
		if err := <-done; err != nil {
			return err
		}
		return bad
	}

	ctx := context.Background()
	var ts, td []time.Duration
	for i := range rounds + 1 {
		d1, err := timeOnly(ctx, stream)
		if err != nil {
			return "", err
		}
		d2, err := timeOnly(ctx, direct)
		if err != nil {
			return "", err
		}
		if i > 0 { // the first round warms up
			ts, td = append(ts, d1), append(td, d2)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(nbatches) }
	s, d := per(median(ts)), per(median(td))
	return fmt.Sprintf("batchoverhead: spate_us_per_batch=%.1f", s-d), nil
}

// timeOnly times f.
func timeOnly(ctx context.Context, f func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	err := f(ctx)
	return time.Since(start), err
}
