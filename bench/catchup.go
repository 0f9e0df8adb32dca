package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// catchupBench measures a Context catching up: 1,000 small batches (100
// records, Map, ReduceByKey, Count) queued at once — the manual clock jumps
// 1,000 batch intervals and the first batch's output waits until all are
// generated — and drained. A per-batch cost that grows with the
// backlog or with the history shows as a ratio far from 1. It prints
//
//	catchup: batches=1000 first_ms=<ms per batch> last_ms=<ms per batch> ratio=<last/first>
//
// first_ms is the wall time per batch over the first tenth of the drain,
// last_ms over the last tenth (medians of the rounds).
func catchupBench(scale float64, rounds int) (string, error) {
	nbatches := max(int(1000*scale), 100)
	batches := make([][]int, nbatches)
	for i := range batches {
		batches[i] = make([]int, 100)
		for j := range batches[i] {
			batches[i][j] = i*100 + j
		}
	}
	eng := rdd.NewEngine(rdd.Parallelism(2))
	ctx := context.Background()
	tenth := nbatches / 10

	drain := func() (first, last time.Duration, err error) {
		clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithEngine(eng))
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, batches...)
		pairs := dstream.Map(in, func(x int) ops.KV[int, int] { return ops.Pair(x%10, 1) })
		sums := dstream.ReduceByKey(pairs, ops.Sum[int])
		done := make([]time.Time, 0, nbatches)
		all := make(chan struct{})
		release := make(chan struct{})
		var bad error
		dstream.ForeachRDD(sums, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], t time.Time) error {
			if len(done) == 0 {
				<-release // until the whole backlog is generated
			}
			n, err := rdd.Count(ctx, r)
			if err == nil && n != 10 && bad == nil {
				bad = fmt.Errorf("batch %v: %d keys, want 10", t, n)
			}
			if done = append(done, time.Now()); len(done) == nbatches {
				close(all)
			}
			return err
		})
		errc := make(chan error, 1)
		go func() { errc <- c.Run(ctx) }()
		wait, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err = clock.AwaitWaiters(wait, 1)
		if err == nil {
			clock.Advance(time.Duration(nbatches) * time.Second)
			err = clock.AwaitWaiters(wait, 1) // the generator waits for the batch after the backlog
		}
		close(release)
		if err != nil {
			c.Stop()
			<-errc
			return 0, 0, fmt.Errorf("catchup: the generator did not wait for its next batch: %w", err)
		}
		select {
		case <-all:
			c.Stop()
			err = <-errc
		case err = <-errc:
			if err == nil {
				err = fmt.Errorf("catchup: Run ended after %d of %d batches", len(done), nbatches)
			}
		}
		if err == nil {
			err = bad
		}
		if err != nil {
			return 0, 0, err
		}
		first = done[tenth].Sub(done[0]) / time.Duration(tenth)
		last = done[nbatches-1].Sub(done[nbatches-1-tenth]) / time.Duration(tenth)
		return first, last, nil
	}

	var fs, ls []time.Duration
	for i := range rounds + 1 {
		f, l, err := drain()
		if err != nil {
			return "", err
		}
		if i > 0 { // the first round warms up
			fs, ls = append(fs, f), append(ls, l)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	f, l := median(fs), median(ls)
	return fmt.Sprintf("catchup: batches=%d first_ms=%.3f last_ms=%.3f ratio=%.2f", nbatches, ms(f), ms(l), float64(l)/float64(f)), nil
}
