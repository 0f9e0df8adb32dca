// Command windowedwordcount counts words over a sliding window of a
// generated in-memory stream: every slide it prints the most frequent words
// of the last window of batches, using the incremental
// ReduceByKeyAndWindowInv (a slide adds the batch that entered and takes out
// the one that left).
//
//	go run ./examples/windowedwordcount -batches 10 -window 3 -slide 1
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func main() {
	batches := flag.Int("batches", 10, "number of batches to generate")
	perBatch := flag.Int("lines", 200, "lines of text per batch")
	window := flag.Int("window", 3, "window length, in batches")
	slide := flag.Int("slide", 1, "slide, in batches")
	interval := flag.Duration("interval", 200*time.Millisecond, "batch interval")
	top := flag.Int("top", 3, "words to print per window")
	flag.Parse()
	if err := run(*batches, *perBatch, *window, *slide, *interval, *top); err != nil {
		slog.Error("windowedwordcount failed", "error", err)
		os.Exit(1)
	}
}

func run(batches, perBatch, window, slide int, interval time.Duration, top int) error {
	if batches < 1 || perBatch < 1 || window < 1 || slide < 1 || interval <= 0 || top < 1 {
		return fmt.Errorf("every flag must be positive")
	}
	c := dstream.NewContext(dstream.BatchInterval(interval))
	lines, queue := dstream.QueueStream[string](c, dstream.OneAtATime)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"spark", "stream", "kafka", "batch", "window", "state", "offset", "topic"}
	for range batches {
		var b []string
		for range perBatch {
			var l []string
			for range 5 {
				l = append(l, words[rng.IntN(1+rng.IntN(len(words)))])
			}
			b = append(b, strings.Join(l, " "))
		}
		queue.Push(b)
	}

	pairs := dstream.Map(dstream.FlatMap(lines, strings.Fields), func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	counts := dstream.ReduceByKeyAndWindowInv(pairs, ops.SumInv[int](),
		time.Duration(window)*interval, time.Duration(slide)*interval,
		func(kv ops.KV[string, int]) bool { return kv.Value > 0 })
	seen := 0
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], t time.Time) error {
		best, err := rdd.Top(ctx, r, top, func(a, b ops.KV[string, int]) int {
			return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(b.Key, a.Key))
		})
		if err != nil {
			return err
		}
		fmt.Printf("window ending %s: %v\n", t.Format("15:04:05.000"), best)
		if seen += slide; seen >= batches {
			c.Stop() // every generated batch has been counted
		}
		return nil
	})
	return c.Run(context.Background())
}
