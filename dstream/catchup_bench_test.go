package dstream_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// BenchmarkCatchUp drains a backlog of 100 or 1,000 small batches (the
// manual clock jumps that many intervals at once) and reports the time per
// batch: it should not grow with the backlog.
func BenchmarkCatchUp(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("backlog="+strconv.Itoa(n), func(b *testing.B) {
			batches := make([][]int, n)
			for i := range batches {
				batches[i] = []int{i, i + 1, i + 2}
			}
			eng := rdd.NewEngine(rdd.Parallelism(2))
			var total time.Duration
			for b.Loop() {
				clock := dstream.NewManualClock(epoch)
				c := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(clock), dstream.WithEngine(eng))
				in, _ := dstream.QueueStream(c, dstream.OneAtATime, batches...)
				sums := dstream.ReduceByKey(dstream.Map(in, func(x int) ops.KV[int, int] { return ops.Pair(x%2, x) }), ops.Sum[int])
				done := make(chan struct{})
				left := n
				dstream.ForeachRDD(sums, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], _ time.Time) error {
					_, err := rdd.Count(ctx, r)
					if left--; left == 0 {
						close(done)
					}
					return err
				})
				errc := make(chan error, 1)
				go func() { errc <- c.Run(b.Context()) }()
				if err := clock.AwaitWaiters(b.Context(), 1); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				clock.Advance(time.Duration(n) * interval)
				select {
				case <-done:
				case err := <-errc:
					b.Fatalf("Run ended early: %v", err)
				}
				total += time.Since(start)
				c.Stop()
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/batch")
		})
	}
}
