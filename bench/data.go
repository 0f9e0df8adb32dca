package main

import (
	"math/rand/v2"
	"strings"
)

// vocabulary returns n distinct lowercase words of 3 to 10 letters.
func vocabulary(rng *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	words := make([]string, 0, n)
	var b strings.Builder
	for len(words) < n {
		b.Reset()
		for range 3 + rng.IntN(8) {
			b.WriteByte(byte('a' + rng.IntN(26)))
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// zipfText returns lines of wordsPerLine words drawn Zipf-like (s = 1.1)
// from vocab, nwords words in all.
func zipfText(rng *rand.Rand, vocab []string, nwords, wordsPerLine int) []string {
	z := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	lines := make([]string, 0, nwords/wordsPerLine+1)
	var b strings.Builder
	for done := 0; done < nwords; {
		b.Reset()
		for i := 0; i < wordsPerLine && done < nwords; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[z.Uint64()])
			done++
		}
		lines = append(lines, b.String())
	}
	return lines
}
