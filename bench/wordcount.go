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
func setupWordCount(scale float64) (int, contender, contender) {
	nwords := int(10_000_000 * scale)
	rng := rand.New(rand.NewPCG(1, 2))
	lines := zipfText(rng, vocabulary(rng, 100_000), nwords, 10)
	eng := rdd.NewEngine(rdd.Parallelism(2))

	spate := func(ctx context.Context) (func() error, error) {
		words := rdd.FlatMap(rdd.Parallelize(eng, lines, 0), strings.Fields)
		pairs := rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		counts, err := rdd.Collect(ctx, rdd.ReduceByKey(pairs, ops.Sum[int]))
		return func() error { return checkPairs(counts, nwords) }, err
	}
	hand := func(context.Context) (func() error, error) {
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
		return func() error { return checkMap(maps[0], nwords) }, nil
	}
	return nwords, spate, hand
}

// checkPairs checks that Spate's counts have distinct keys and add up to
// want.
func checkPairs(counts []ops.KV[string, int], want int) error {
	m := make(map[string]int, len(counts))
	for _, kv := range counts {
		if _, dup := m[kv.Key]; dup {
			return fmt.Errorf("spate: key %q twice", kv.Key)
		}
		m[kv.Key] = kv.Value
	}
	return checkMap(m, want)
}

// checkMap checks that counts add up to want.
func checkMap(counts map[string]int, want int) error {
	total := 0
	for _, v := range counts {
		total += v
	}
	if total != want {
		return fmt.Errorf("total %d, want %d", total, want)
	}
	return nil
}
