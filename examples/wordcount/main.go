// Command wordcount counts words with Spate's batch core: it generates text
// (words drawn Zipf-like from a vocabulary), splits it into lines in
// partitions, and runs FlatMap → Map → ReduceByKey → Top to print the most
// frequent words.
//
//	go run ./examples/wordcount -words 2000000 -top 10
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

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func main() {
	nwords := flag.Int("words", 2_000_000, "number of words to generate")
	vocab := flag.Int("vocab", 20_000, "vocabulary size (at most 100000)")
	top := flag.Int("top", 10, "how many of the most frequent words to print")
	parts := flag.Int("partitions", 0, "partitions (0: one per core)")
	seed := flag.Uint64("seed", 1, "random seed of the generated text")
	flag.Parse()
	if err := run(context.Background(), *nwords, *vocab, *top, *parts, *seed); err != nil {
		slog.Error("wordcount failed", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, nwords, vocab, top, parts int, seed uint64) error {
	if nwords < 1 || vocab < 2 || vocab > 100_000 || top < 1 {
		return fmt.Errorf("need -words >= 1, 2 <= -vocab <= 100000, -top >= 1")
	}
	lines := generate(rand.New(rand.NewPCG(seed, seed+1)), nwords, vocab)
	eng := rdd.NewEngine()

	start := time.Now()
	words := rdd.FlatMap(rdd.Parallelize(eng, lines, parts), strings.Fields)
	counts := rdd.ReduceByKey(rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), ops.Sum[int])
	best, err := rdd.Top(ctx, counts, top, func(a, b ops.KV[string, int]) int {
		return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(b.Key, a.Key))
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	fmt.Printf("counted %d words in %d lines on %d cores in %v\n", nwords, len(lines), eng.Parallelism(), elapsed.Round(time.Millisecond))
	fmt.Printf("top %d words:\n", len(best))
	for i, kv := range best {
		fmt.Printf("%3d. %-12s %d\n", i+1, kv.Key, kv.Value)
	}
	return nil
}

// generate returns nwords words in lines of 10, drawn Zipf-like from a
// vocabulary of pronounceable made-up words.
func generate(rng *rand.Rand, nwords, vocab int) []string {
	syllables := []string{"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "shi", "ro"}
	words := make([]string, vocab)
	seen := map[string]bool{}
	for i := range words {
		for {
			var b strings.Builder
			for range 2 + rng.IntN(4) {
				b.WriteString(syllables[rng.IntN(len(syllables))])
			}
			if w := b.String(); !seen[w] {
				seen[w], words[i] = true, w
				break
			}
		}
	}
	z := rand.NewZipf(rng, 1.2, 1, uint64(vocab-1))
	var lines []string
	var b strings.Builder
	for i := 0; i < nwords; i++ {
		if i%10 != 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[z.Uint64()])
		if i%10 == 9 || i == nwords-1 {
			lines = append(lines, b.String())
			b.Reset()
		}
	}
	return lines
}
