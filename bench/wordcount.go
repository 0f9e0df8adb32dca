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

// wordCountPair: 10M words drawn Zipf-like from a 100k vocabulary, 10 per
// line; Spate's FlatMapYield (a range over strings.FieldsSeq) → Map →
// ReduceByKey → Collect on two partitions, against two goroutines that
// count their half of the lines in a local map each and merge the two
// (hand: with a 100k vocabulary the merge is small, and this beats
// partitioning every word by hash first), and against one goroutine's map
// (hand1). Every contender splits lines with strings.FieldsSeq, which
// builds no slice per line. seq is Spate's other way to write it,
// FlatMapSeq(strings.FieldsSeq), whose iterator is one allocation per line.
var wordCountPair = &paired{
	roles: []string{"spate", "hand", "hand1", "seq"},
	setup: setupWordCount,
	format: func(r *pairResult) string {
		q := r.role("seq")
		return throughputLine("wordcount", r) + fmt.Sprintf(" seq=%.2f seq_allocs_per_rec=%.4f",
			rate(r.records, q.median("wall")), q.allocsPerRec(r.records))
	},
}

func setupWordCount(scale float64, role string) (int, contender, error) {
	nwords := int(10_000_000 * scale)
	rng := rand.New(rand.NewPCG(1, 2))
	lines := zipfText(rng, vocabulary(rng, 100_000), nwords, 10)
	switch role {
	case "spate", "seq":
		eng := rdd.NewEngine(rdd.Parallelism(2))
		return nwords, func(ctx context.Context) (outcome, error) {
			in := rdd.Parallelize(eng, lines, 0)
			var words *rdd.RDD[string]
			if role == "seq" {
				words = rdd.FlatMapSeq(in, strings.FieldsSeq)
			} else {
				words = rdd.FlatMapYield(in, func(line string, yield func(string) bool) {
					for w := range strings.FieldsSeq(line) {
						if !yield(w) {
							return
						}
					}
				})
			}
			pairs := rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
			counts, err := rdd.Collect(ctx, rdd.ReduceByKey(pairs, ops.Sum[int]))
			return outcome{check: func() error { return checkPairs(counts, nwords) }}, err
		}, nil
	case "hand", "hand1":
		workers := 2
		if role == "hand1" {
			workers = 1
		}
		return nwords, func(context.Context) (outcome, error) {
			counts := countWords(lines, workers)
			return outcome{check: func() error { return checkMap(counts, nwords) }}, nil
		}, nil
	}
	return 0, nil, fmt.Errorf("no role %q", role)
}

// countWords counts the words of lines on workers goroutines, each over a
// contiguous share of the lines into its own map; the maps are then merged
// into the first.
func countWords(lines []string, workers int) map[string]int {
	maps := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := map[string]int{}
			for _, line := range lines[w*len(lines)/workers : (w+1)*len(lines)/workers] {
				for word := range strings.FieldsSeq(line) {
					m[word]++
				}
			}
			maps[w] = m
		})
	}
	wg.Wait()
	for _, m := range maps[1:] {
		for k, v := range m {
			maps[0][k] += v
		}
	}
	return maps[0]
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
