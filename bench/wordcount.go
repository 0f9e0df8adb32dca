package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// setupWordCount: 10M words drawn Zipf-like from a 100k vocabulary, 10 per
// line; FlatMap → Map → ReduceByKey → Collect against two goroutines that
// count their half of the lines in local maps and merge.
func setupWordCount(scale float64) (int, func(context.Context) error, func(context.Context) error) {
	nwords := int(10_000_000 * scale)
	rng := rand.New(rand.NewPCG(1, 2))
	lines := zipfText(rng, vocabulary(rng, 100_000), nwords, 10)
	eng := rdd.NewEngine(rdd.Parallelism(2))

	spate := func(ctx context.Context) error {
		words := rdd.FlatMap(rdd.Parallelize(eng, lines, 0), strings.Fields)
		pairs := rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		counts, err := rdd.Collect(ctx, rdd.ReduceByKey(pairs, ops.Sum[int]))
		return checkTotal(counts, nwords, err)
	}
	hand := func(context.Context) error {
		const workers = 2
		maps := make([]map[string]int, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				m := map[string]int{}
				for _, line := range lines[w*len(lines)/workers : (w+1)*len(lines)/workers] {
					for _, word := range strings.Fields(line) {
						m[word]++
					}
				}
				maps[w] = m
			})
		}
		wg.Wait()
		for k, v := range maps[1] {
			maps[0][k] += v
		}
		total := 0
		for _, v := range maps[0] {
			total += v
		}
		if total != nwords {
			return fmt.Errorf("hand total %d, want %d", total, nwords)
		}
		return nil
	}
	return nwords, spate, hand
}

// checkTotal checks that counts add up to want.
func checkTotal(counts []ops.KV[string, int], want int, err error) error {
	if err != nil {
		return err
	}
	total := 0
	for _, kv := range counts {
		total += kv.Value
	}
	if total != want {
		return fmt.Errorf("spate total %d, want %d", total, want)
	}
	return nil
}
