package main

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// windowPair measures the incremental ReduceByKeyAndWindowInv: 300k words
// per batch (Zipf over a 100k vocabulary), a one-batch slide, windows of 10
// and 60 batches, the windowed counts counted (Count) after every slide.
// Once the window is full, a slide should cost about the same whatever the
// window length, and about what one batch's plain ReduceByKey costs
// (batch_ms, timed in Spate's process). The baseline (hand) is the same
// incremental window written by hand on two goroutines (handWindow). All
// times are medians of the slides timed once the window is full. It prints
//
//	window: w10_ms=<ms per slide> w60_ms=<ms per slide> hand_ms=<ms per slide, 60 batches> ratio=<hand_ms/w60_ms> batch_ms=<ms> w60_batch=<w60/batch> rss_mb=… hand_rss_mb=… data_mb=…
var windowPair = &paired{
	roles:  []string{"spate", "hand"},
	setup:  setupWindow,
	rounds: func(rounds int) int { return max(rounds/2, 1) },
	format: func(r *pairResult) string {
		s, h := r.role("spate"), r.role("hand")
		w10, w60, b, hw := s.median("w10"), s.median("w60"), s.median("batch"), h.median("w60")
		return fmt.Sprintf("window: w10_ms=%.1f w60_ms=%.1f hand_ms=%.1f ratio=%.2f batch_ms=%.1f w60_batch=%.2f",
			msOf(w10), msOf(w60), msOf(hw), float64(hw)/float64(w60), msOf(b), float64(w60)/float64(b)) + rssFields(r)
	},
}

// windowPlainPair measures ReduceByKeyAndWindow, the window without an
// inverse (plain: each key's values per batch kept in its entry, reduced
// again when one leaves), against Spark's way of computing it, the window's
// batches reduced anew every slide (union: ReduceByKey over Window), each in
// its own process, over windowPair's data with a window of 10 batches. It
// prints
//
//	windowplain: plain_w10_ms=<ms per slide> union_w10_ms=<ms per slide> ratio=<union/plain> plain_rss_mb=… union_rss_mb=…
var windowPlainPair = &paired{
	roles:  []string{"plain", "union"},
	setup:  setupWindow,
	rounds: func(rounds int) int { return max(rounds/2, 1) },
	format: func(r *pairResult) string {
		p, u := r.role("plain"), r.role("union")
		return fmt.Sprintf("windowplain: plain_w10_ms=%.1f union_w10_ms=%.1f ratio=%.2f plain_rss_mb=%.0f union_rss_mb=%.0f",
			msOf(p.median("w10")), msOf(u.median("w10")), float64(u.median("w10"))/float64(p.median("w10")), p.rssMB(), u.rssMB())
	},
}

// msOf returns d in milliseconds.
func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// windowMeasured is how many slides are timed once the window is full.
const windowMeasured = 10

func setupWindow(scale float64, role string) (int, contender, error) {
	words := max(int(300_000*scale), 1000)
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := vocabulary(rng, 100_000)
	batches := make([][]string, 60+windowMeasured)
	for i := range batches {
		batches[i] = zipfText(rng, vocab, words, 10)
	}
	switch role {
	case "spate":
		return words, spateWindow(batches), nil
	case "plain", "union":
		op := map[string]windowOp{"plain": plainWindow, "union": unionWindow}[role]
		return words, func(ctx context.Context) (outcome, error) {
			slides, err := windowSlides(ctx, batches, 10, op)
			return outcome{times: map[string]time.Duration{"w10": median(slides)}}, err
		}, nil
	case "hand":
		return words, func(context.Context) (outcome, error) {
			slides, err := handWindow(batches, words, 60, 2)
			return outcome{times: map[string]time.Duration{"w60": median(slides)}}, err
		}, nil
	}
	return 0, nil, fmt.Errorf("no role %q", role)
}

// spateWindow returns the contender that times the slides of windows of 10
// and 60 batches, and one batch's plain ReduceByKey (five times: it is
// short).
func spateWindow(batches [][]string) contender {
	return func(ctx context.Context) (outcome, error) {
		w10, err := windowSlides(ctx, batches, 10, invWindow)
		if err != nil {
			return outcome{}, err
		}
		w60, err := windowSlides(ctx, batches, 60, invWindow)
		if err != nil {
			return outcome{}, err
		}
		// The window runs' garbage is collected first: a collection of it
		// (hundreds of ms, the heap holds the input) would otherwise land on
		// some of these five short batches and not on others.
		runtime.GC()
		eng := rdd.NewEngine(rdd.Parallelism(2))
		var bs []time.Duration
		for range 5 {
			start := time.Now()
			if _, err := rdd.Count(ctx, rdd.ReduceByKey(windowWords(rdd.Parallelize(eng, batches[0], 0)), ops.Sum[int])); err != nil {
				return outcome{}, err
			}
			bs = append(bs, time.Since(start))
		}
		return outcome{times: map[string]time.Duration{"w10": median(w10), "w60": median(w60), "batch": median(bs)}}, nil
	}
}

// windowWords is the word pairs of the lines of r.
func windowWords(r *rdd.RDD[string]) *rdd.RDD[ops.KV[string, int]] {
	return rdd.Map(rdd.FlatMapSeq(r, strings.FieldsSeq), func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
}

// windowOp is a windowed count of the given length sliding every batch.
type windowOp func(kv *dstream.DStream[ops.KV[string, int]], length time.Duration) *dstream.DStream[ops.KV[string, int]]

// invWindow is the incremental window, with an inverse.
func invWindow(kv *dstream.DStream[ops.KV[string, int]], length time.Duration) *dstream.DStream[ops.KV[string, int]] {
	return dstream.ReduceByKeyAndWindowInv(kv, ops.SumInv[int](), length, time.Second,
		func(kv ops.KV[string, int]) bool { return kv.Value != 0 })
}

// plainWindow is the window without an inverse.
func plainWindow(kv *dstream.DStream[ops.KV[string, int]], length time.Duration) *dstream.DStream[ops.KV[string, int]] {
	return dstream.ReduceByKeyAndWindow(kv, ops.Sum[int], length, time.Second)
}

// unionWindow is Spark's ReduceByKeyAndWindow: the window's batches reduced
// anew every slide.
func unionWindow(kv *dstream.DStream[ops.KV[string, int]], length time.Duration) *dstream.DStream[ops.KV[string, int]] {
	return dstream.ReduceByKey(dstream.Window(kv, length, time.Second), ops.Sum[int])
}

// windowSlides runs length+windowMeasured batches of window over the words of
// batches and returns the wall time of each of the last windowMeasured slides
// (from one batch's output to the next's).
func windowSlides(ctx context.Context, batches [][]string, length int, window windowOp) ([]time.Duration, error) {
	eng := rdd.NewEngine(rdd.Parallelism(2))
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithEngine(eng))
	in, _ := dstream.QueueStream(c, dstream.OneAtATime, batches[:length+windowMeasured]...)
	kv := dstream.Transform(in, func(r *rdd.RDD[string], _ time.Time) *rdd.RDD[ops.KV[string, int]] { return windowWords(r) })
	counts := window(kv, time.Duration(length)*time.Second)
	var done []time.Time
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		done = append(done, time.Now())
		return err
	})
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	for range length + windowMeasured {
		if err := clock.AwaitWaiters(ctx, 1); err != nil {
			return nil, err
		}
		clock.Advance(time.Second)
	}
	c.Stop()
	if err := <-errc; err != nil {
		return nil, err
	}
	if len(done) != length+windowMeasured {
		return nil, fmt.Errorf("window %d: %d batches processed, want %d", length, len(done), length+windowMeasured)
	}
	var slides []time.Duration
	for i := length; i < len(done); i++ {
		slides = append(slides, done[i].Sub(done[i-1]))
	}
	return slides, nil
}

// handWindow runs the hand-written incremental window of length batches
// over batches on workers goroutines and returns the wall time of each
// slide once the window is full. A slide has two phases. First each worker
// counts the words of its share of the batch's lines in its own map (one
// hash per word), then splits the counted keys by hash partition into
// lists of (word, count). Then worker q adds partition q's lists to its
// window map and subtracts those of the batch that leaves the window
// (deleting keys that reach zero). Each batch's lists are kept until it
// leaves; maps and lists are reused, so that once the window is full
// nothing grows from empty.
func handWindow(batches [][]string, nwords, length, workers int) ([]time.Duration, error) {
	type count struct {
		word string
		n    int
	}
	seed := maphash.MakeSeed()
	window := make([]map[string]int, workers) // window[q]: partition q's counts
	local := make([]map[string]int, workers)  // local[w]: worker w's counts of this batch
	for q := range window {
		window[q], local[q] = map[string]int{}, map[string]int{}
	}
	kept := make([][][]count, len(batches)) // kept[b][w*workers+q]: batch b's counts by worker w of partition q
	var free [][][]count
	var slides []time.Duration
	var wg sync.WaitGroup
	for b, lines := range batches {
		start := time.Now()
		var parts [][]count
		if n := len(free); n > 0 {
			parts, free = free[n-1], free[:n-1]
		} else {
			parts = make([][]count, workers*workers)
		}
		for w := range workers {
			wg.Go(func() {
				m := local[w]
				clear(m)
				for _, line := range lines[w*len(lines)/workers : (w+1)*len(lines)/workers] {
					for word := range strings.FieldsSeq(line) {
						m[word]++
					}
				}
				mine := parts[w*workers : (w+1)*workers]
				for q := range mine {
					mine[q] = mine[q][:0]
				}
				for k, v := range m {
					q := maphash.String(seed, k) % uint64(workers)
					mine[q] = append(mine[q], count{k, v})
				}
			})
		}
		wg.Wait()
		kept[b] = parts
		old := b - length
		for q := range workers {
			wg.Go(func() {
				win := window[q]
				for w := range workers {
					for _, c := range parts[w*workers+q] {
						win[c.word] += c.n
					}
				}
				if old >= 0 {
					for w := range workers {
						for _, c := range kept[old][w*workers+q] {
							if win[c.word] -= c.n; win[c.word] == 0 {
								delete(win, c.word)
							}
						}
					}
				}
			})
		}
		wg.Wait()
		if old >= 0 {
			free, kept[old] = append(free, kept[old]), nil
		}
		distinct := 0
		for _, m := range window {
			distinct += len(m)
		}
		d := time.Since(start)
		if distinct == 0 {
			return nil, fmt.Errorf("hand window: no keys after batch %d", b)
		}
		if b >= length {
			slides = append(slides, d)
		}
	}
	total := 0
	for _, m := range window {
		for _, v := range m {
			total += v
		}
	}
	if want := nwords * min(length, len(batches)); total != want {
		return nil, fmt.Errorf("hand window: %d words in the window, want %d", total, want)
	}
	return slides, nil
}
