package main

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// reduceByKeyPair: 5M string-keyed pairs over 1M distinct keys, in random
// order; Spate's ReduceByKey(Sum) → Collect on two partitions, against two
// goroutines that hash-partition the pairs and then sum each partition into
// its own presized map (hand), and against one presized map (hand1).
var reduceByKeyPair = &paired{
	roles: []string{"spate", "hand", "hand1"},
	setup: setupReduceByKey,
	format: func(r *pairResult) string {
		return throughputLine("reducebykey1m", r)
	},
}

func setupReduceByKey(scale float64, role string) (int, contender, error) {
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

	switch role {
	case "spate":
		eng := rdd.NewEngine(rdd.Parallelism(2))
		return npairs, func(ctx context.Context) (outcome, error) {
			sums, err := rdd.Collect(ctx, rdd.ReduceByKey(rdd.Parallelize(eng, pairs, 0), ops.Sum[int]))
			return outcome{check: func() error { return checkPairs(sums, npairs) }}, err
		}, nil
	case "hand":
		return npairs, func(context.Context) (outcome, error) {
			sums := sumByKey(pairs, nkeys, 2, handParts)
			return outcome{check: func() error { return checkMaps(sums, npairs) }}, nil
		}, nil
	case "hand1":
		return npairs, func(context.Context) (outcome, error) {
			m := make(map[string]int, nkeys)
			for _, kv := range pairs {
				m[kv.Key] += kv.Value
			}
			return outcome{check: func() error { return checkMap(m, npairs) }}, nil
		}, nil
	}
	return 0, nil, fmt.Errorf("no role %q", role)
}

// handParts is how many hash partitions the two-goroutine baseline sums
// into: more, smaller maps than goroutines keep each map's working set
// closer to a core's cache.
const handParts = 8

// sumByKey sums the values of pairs by key on workers goroutines, in two
// phases. First each worker hashes the keys of its contiguous share of the
// pairs and appends each pair's index (4 bytes, not the 24-byte pair) to
// its list for the key's partition. Then each worker sums whole partitions
// (partition q by worker q mod workers) into one presized map per
// partition, reading the pairs by index. No locks: each list and map has
// one writer, and the phases are separated by a WaitGroup.
func sumByKey(pairs []ops.KV[string, int], nkeys, workers, parts int) []map[string]int {
	seed := maphash.MakeSeed()
	idx := make([][][]int32, workers) // idx[w][q]: worker w's pairs of partition q
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			lo, hi := w*len(pairs)/workers, (w+1)*len(pairs)/workers
			lists := make([][]int32, parts)
			for q := range lists {
				lists[q] = make([]int32, 0, (hi-lo)/parts*9/8)
			}
			for i := lo; i < hi; i++ {
				q := maphash.String(seed, pairs[i].Key) % uint64(parts)
				lists[q] = append(lists[q], int32(i))
			}
			idx[w] = lists
		})
	}
	wg.Wait()
	sums := make([]map[string]int, parts)
	for w := range workers {
		wg.Go(func() {
			for q := w; q < parts; q += workers {
				m := make(map[string]int, nkeys/parts*9/8)
				for _, lists := range idx {
					for _, i := range lists[q] {
						kv := &pairs[i]
						m[kv.Key] += kv.Value
					}
				}
				sums[q] = m
			}
		})
	}
	wg.Wait()
	return sums
}

// checkMaps checks that the sums of disjoint maps add up to want.
func checkMaps(sums []map[string]int, want int) error {
	total := 0
	for _, m := range sums {
		for _, v := range m {
			total += v
		}
	}
	if total != want {
		return fmt.Errorf("total %d, want %d", total, want)
	}
	return nil
}
