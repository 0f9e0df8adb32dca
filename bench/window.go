package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// windowBench measures the incremental ReduceByKeyAndWindowInv: 300k words
// per batch (Zipf over a 100k vocabulary), a one-batch slide, windows of 10
// and 60 batches, against one batch's plain ReduceByKey in the same run.
// Once the window is full, a slide should cost about the same whatever the
// window length. Both sides are medians: of the slides timed once the
// windows are full, and of repeated single-batch runs. It prints
//
//	window: w10_ms=<ms per slide> w60_ms=<ms per slide> batch_ms=<ms> ratio=<w60/batch>
func windowBench(scale float64, rounds int) (string, error) {
	words := max(int(300_000*scale), 1000)
	const measured = 10 // slides timed once the window is full
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := vocabulary(rng, 100_000)
	batches := make([][]string, 60+measured)
	for i := range batches {
		batches[i] = zipfText(rng, vocab, words, 10)
	}
	eng := rdd.NewEngine(rdd.Parallelism(2))
	pairs := func(r *rdd.RDD[string]) *rdd.RDD[ops.KV[string, int]] {
		return rdd.Map(rdd.FlatMap(r, strings.Fields), func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	}
	ctx := context.Background()

	// perSlide runs length+measured batches and returns the wall time of
	// each of the last measured slides (from one batch's output to the
	// next's).
	perSlide := func(length int) ([]time.Duration, error) {
		clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithEngine(eng))
		in, _ := dstream.QueueStream(c, true, batches[:length+measured]...)
		kv := dstream.Transform(in, func(r *rdd.RDD[string], _ time.Time) *rdd.RDD[ops.KV[string, int]] { return pairs(r) })
		counts := dstream.ReduceByKeyAndWindowInv(kv, ops.SumInv[int](), time.Duration(length)*time.Second, time.Second,
			func(kv ops.KV[string, int]) bool { return kv.Value != 0 })
		var done []time.Time
		dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
			_, err := rdd.Count(ctx, r)
			done = append(done, time.Now())
			return err
		})
		errc := make(chan error, 1)
		go func() { errc <- c.Run(ctx) }()
		for range length + measured {
			if err := clock.AwaitWaiters(ctx, 1); err != nil {
				return nil, err
			}
			clock.Advance(time.Second)
		}
		c.Stop()
		if err := <-errc; err != nil {
			return nil, err
		}
		if len(done) != length+measured {
			return nil, fmt.Errorf("window %d: %d batches processed, want %d", length, len(done), length+measured)
		}
		var slides []time.Duration
		for i := length; i < len(done); i++ {
			slides = append(slides, done[i].Sub(done[i-1]))
		}
		return slides, nil
	}
	oneBatch := func() (time.Duration, error) {
		start := time.Now()
		_, err := rdd.Count(ctx, rdd.ReduceByKey(pairs(rdd.Parallelize(eng, batches[0], 0)), ops.Sum[int]))
		return time.Since(start), err
	}

	var w10s, w60s, bs []time.Duration
	for range max(rounds/2, 1) {
		w10, err := perSlide(10)
		if err != nil {
			return "", err
		}
		w60, err := perSlide(60)
		if err != nil {
			return "", err
		}
		for range 5 { // one batch is short: time it more often
			b, err := oneBatch()
			if err != nil {
				return "", err
			}
			bs = append(bs, b)
		}
		w10s, w60s = append(w10s, w10...), append(w60s, w60...)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	w10, w60, b := median(w10s), median(w60s), median(bs)
	return fmt.Sprintf("window: w10_ms=%.1f w60_ms=%.1f batch_ms=%.1f ratio=%.2f", ms(w10), ms(w60), ms(b), float64(w60)/float64(b)), nil
}
