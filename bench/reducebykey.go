package main

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// setupReduceByKey: 5M string-keyed pairs over 1M distinct keys, in random
// order; ReduceByKey(Sum) → Collect against one presized map.
func setupReduceByKey(scale float64) (int, contender, contender) {
	npairs, nkeys := int(5_000_000*scale), int(1_000_000*scale)
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%08d", i)
	}
	pairs := make([]ops.KV[string, int], npairs)
	for i := range pairs {
		pairs[i] = ops.Pair(keys[i%nkeys], 1)
	}
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	eng := rdd.NewEngine(rdd.Parallelism(2))

	spate := func(ctx context.Context) (func() error, error) {
		sums, err := rdd.Collect(ctx, rdd.ReduceByKey(rdd.Parallelize(eng, pairs, 0), ops.Sum[int]))
		return func() error { return checkPairs(sums, npairs) }, err
	}
	hand := func(context.Context) (func() error, error) {
		m := make(map[string]int, nkeys)
		for _, kv := range pairs {
			m[kv.Key] += kv.Value
		}
		return func() error { return checkMap(m, npairs) }, nil
	}
	return npairs, spate, hand
}
