package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// windowInput has empty batches and keys that come and go.
var windowInput = [][]string{
	{"a", "b", "a"},
	{"b"},
	nil,
	{"c", "a"},
	{"a", "a", "d"},
	nil,
	{"b", "e"},
	{"c"},
}

// runBatches feeds input one batch per interval through build and returns
// what the output saw, by batch number (1-based).
func runBatches[T, U any](t *testing.T, input [][]T, build func(*dstream.DStream[T]) *dstream.DStream[U]) map[int][]U {
	t.Helper()
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, input...)
	got := map[int][]U{}
	dstream.ForeachRDD(build(in), func(ctx context.Context, r *rdd.RDD[U], bt time.Time) error {
		out, err := rdd.Collect(ctx, r)
		got[int(bt.Sub(epoch)/interval)] = out
		return err
	})
	h.runBatches(len(input))
	return got
}

// windowOf returns the batches in the window ending at batch k (1-based).
func windowOf[T any](input [][]T, k, length int) [][]T {
	return input[max(0, k-length):k]
}

func countWords(batches [][]string) map[string]int {
	m := map[string]int{}
	for _, b := range batches {
		for _, w := range b {
			m[w]++
		}
	}
	return m
}

func pairsToMap[K comparable, V any](kvs []ops.KV[K, V]) map[K]V {
	m := map[K]V{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

var windowShapes = []struct{ length, slide int }{{1, 1}, {2, 1}, {3, 1}, {3, 2}, {2, 3}, {4, 4}, {8, 2}}

func TestWindow(t *testing.T) {
	for _, ws := range windowShapes {
		t.Run(fmt.Sprintf("length%d_slide%d", ws.length, ws.slide), func(t *testing.T) {
			got := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[string] {
				return dstream.Window(s, time.Duration(ws.length)*interval, time.Duration(ws.slide)*interval)
			})
			want := map[int][]string{}
			for k := ws.slide; k <= len(windowInput); k += ws.slide {
				want[k] = slices.Concat(windowOf(windowInput, k, ws.length)...)
			}
			if diff := cmp.Diff(normalize(want), normalize(got)); diff != "" {
				t.Errorf("windows by batch (-want +got):\n%s", diff)
			}
		})
	}
}

// normalize sorts each batch and drops empty ones: a window's order within
// a batch is not defined, and an empty window may be nil or empty.
func normalize(m map[int][]string) map[int][]string {
	out := map[int][]string{}
	for k, v := range m {
		if len(v) > 0 {
			out[k] = slices.Sorted(slices.Values(v))
		}
	}
	return out
}

func TestCountAndReduceByWindow(t *testing.T) {
	const length, slide = 3, 2
	counts := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[int64] {
		return dstream.CountByWindow(s, length*interval, slide*interval)
	})
	longest := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[string] {
		return dstream.ReduceByWindow(s, func(a, b string) string { return max(a, b) }, length*interval, slide*interval)
	})
	for k := slide; k <= len(windowInput); k += slide {
		all := slices.Concat(windowOf(windowInput, k, length)...)
		var wantCount []int64
		var wantMax []string
		if len(all) > 0 {
			wantCount, wantMax = []int64{int64(len(all))}, []string{slices.Max(all)}
		}
		if diff := cmp.Diff(wantCount, counts[k]); diff != "" {
			t.Errorf("CountByWindow batch %d (-want +got):\n%s", k, diff)
		}
		if diff := cmp.Diff(wantMax, longest[k]); diff != "" {
			t.Errorf("ReduceByWindow batch %d (-want +got):\n%s", k, diff)
		}
	}
}

func TestReduceByKeyAndWindowPlainAndIncremental(t *testing.T) {
	pairs := func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		return dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	}
	for _, ws := range windowShapes {
		if ws.slide > ws.length {
			continue // the inverse form needs overlapping or adjacent windows
		}
		length, slide := time.Duration(ws.length)*interval, time.Duration(ws.slide)*interval
		t.Run(fmt.Sprintf("length%d_slide%d", ws.length, ws.slide), func(t *testing.T) {
			plain := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
				return dstream.ReduceByKeyAndWindow(pairs(s), ops.Sum[int], length, slide)
			})
			inc := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
				return dstream.ReduceByKeyAndWindowInv(pairs(s), ops.SumInv[int](), length, slide, nil, rdd.Partitions[string](3))
			})
			filtered := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
				return dstream.ReduceByKeyAndWindowInv(pairs(s), ops.SumInv[int](), length, slide,
					func(kv ops.KV[string, int]) bool { return kv.Value != 0 })
			})
			seen := map[string]bool{}
			for k := 1; k <= len(windowInput); k++ {
				for _, w := range windowInput[k-1] {
					seen[w] = true
				}
				if k%ws.slide != 0 {
					continue
				}
				want := countWords(windowOf(windowInput, k, ws.length))
				if diff := cmp.Diff(want, pairsToMap(plain[k])); diff != "" {
					t.Errorf("plain, batch %d (-want +got):\n%s", k, diff)
				}
				if diff := cmp.Diff(want, pairsToMap(filtered[k])); diff != "" {
					t.Errorf("incremental with filter, batch %d (-want +got):\n%s", k, diff)
				}
				// Without the filter, every key seen so far stays, at 0 once
				// it has left the window.
				withZeros := map[string]int{}
				for w := range seen {
					withZeros[w] = want[w]
				}
				if diff := cmp.Diff(withZeros, pairsToMap(inc[k])); diff != "" {
					t.Errorf("incremental, batch %d (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestCountByValueAndGroupByKeyAndWindow(t *testing.T) {
	const length, slide = 2, 1
	counts := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int64]] {
		return dstream.CountByValueAndWindow(s, length*interval, slide*interval)
	})
	groups := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, []int]] {
		byFirst := dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(strings.ToUpper(w), len(w)) })
		return dstream.GroupByKeyAndWindow(byFirst, length*interval, slide*interval)
	})
	for k := 1; k <= len(windowInput); k++ {
		want := map[string]int64{}
		wantGroups := map[string]int{}
		for w, n := range countWords(windowOf(windowInput, k, length)) {
			want[w] = int64(n)
			wantGroups[strings.ToUpper(w)] = n
		}
		if diff := cmp.Diff(want, pairsToMap(counts[k])); diff != "" {
			t.Errorf("CountByValueAndWindow batch %d (-want +got):\n%s", k, diff)
		}
		gotGroups := map[string]int{}
		for _, kv := range groups[k] {
			gotGroups[kv.Key] = len(kv.Value)
		}
		if diff := cmp.Diff(wantGroups, gotGroups); diff != "" {
			t.Errorf("GroupByKeyAndWindow batch %d (-want +got):\n%s", k, diff)
		}
	}
}

func TestWindowValidation(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(dstream.NewManualClock(epoch)))
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	w := dstream.Window(in, 1500*time.Millisecond, interval)
	dstream.ForeachRDD(w, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	dstream.ForeachRDD(dstream.Window(dstream.Window(in, 2*interval, 2*interval), 3*interval, 2*interval),
		func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	err := c.Run(context.Background())
	if !errors.Is(err, dstream.ErrInvalid) {
		t.Fatalf("Run = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"window length 1.5s is not a positive multiple", "window length 3s is not a positive multiple of the parent's slide 2s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestIncrementalWindowMatchesPlainOnRandomInput is a property test: for
// random batches and random window shapes, the incremental
// ReduceByKeyAndWindowInv with a filter dropping exhausted keys equals the
// plain ReduceByKeyAndWindow at every slide.
func TestIncrementalWindowMatchesPlainOnRandomInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 12 {
		slide := 1 + rng.IntN(3)
		length := slide * (1 + rng.IntN(4))
		input := make([][]string, 6+rng.IntN(8))
		for i := range input {
			for range rng.IntN(6) {
				input[i] = append(input[i], string(rune('a'+rng.IntN(5))))
			}
		}
		name := fmt.Sprintf("trial%d_length%d_slide%d", trial, length, slide)
		t.Run(name, func(t *testing.T) {
			L, S := time.Duration(length)*interval, time.Duration(slide)*interval
			pairs := func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
				return dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(w, len(w)) })
			}
			plain := runBatches(t, input, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
				return dstream.ReduceByKeyAndWindow(pairs(s), ops.Sum[int], L, S)
			})
			inc := runBatches(t, input, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
				return dstream.ReduceByKeyAndWindowInv(pairs(s), ops.SumInv[int](), L, S,
					func(kv ops.KV[string, int]) bool { return kv.Value != 0 }, rdd.Partitions[string](1+rng.IntN(3)))
			})
			if len(plain) != len(inc) {
				t.Fatalf("plain fired %d times, incremental %d", len(plain), len(inc))
			}
			for k, p := range plain {
				if diff := cmp.Diff(pairsToMap(p), pairsToMap(inc[k])); diff != "" {
					t.Errorf("batch %d: plain vs incremental (-plain +incremental):\n%s", k, diff)
				}
			}
		})
	}
}

// TestIncrementalWindowMatchesPlainAsKeysComeAndGo runs the incremental window
// over keys that drift (each batch draws from a range that moves on): the stores
// grow and shrink, so that between a batch entering the window and leaving it its
// keys' entries have moved (the Refs taken when it entered are stale) or gone and
// come back elsewhere; the result must still equal the plain window's.
func TestIncrementalWindowMatchesPlainAsKeysComeAndGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	input := make([][]string, 24)
	for i := range input {
		lo, width := i*60, 100+i%4*300 // the key range moves, and widens and narrows
		for range 200 + rng.IntN(400) {
			input[i] = append(input[i], fmt.Sprintf("k%d", lo+rng.IntN(width)))
		}
	}
	const length, slide = 5, 1
	pairs := func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		return dstream.Map(s, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	}
	plain := runBatches(t, input, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		return dstream.ReduceByKeyAndWindow(pairs(s), ops.Sum[int], length*interval, slide*interval)
	})
	inc := runBatches(t, input, func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
		return dstream.ReduceByKeyAndWindowInv(pairs(s), ops.SumInv[int](), length*interval, slide*interval,
			func(kv ops.KV[string, int]) bool { return kv.Value != 0 }, rdd.Partitions[string](2))
	})
	if len(plain) != len(input) || len(inc) != len(input) {
		t.Fatalf("plain fired %d times, incremental %d; want %d", len(plain), len(inc), len(input))
	}
	for k, p := range plain {
		if diff := cmp.Diff(pairsToMap(p), pairsToMap(inc[k])); diff != "" {
			t.Errorf("batch %d: plain vs incremental (-plain +incremental):\n%s", k, diff)
		}
	}
}

// TestIncrementalWindowCatchesUpUnreadPartitions checks the
// incremental window when an output reads only part of a slide's RDD (Take
// computes the first partitions only): the next slide brings the tables of
// the partitions left behind up to date before moving them, so the result
// still equals the plain window.
func TestIncrementalWindowCatchesUpUnreadPartitions(t *testing.T) {
	const length, slide = 3, 1
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, windowInput...)
	pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	inc := dstream.ReduceByKeyAndWindowInv(pairs, ops.SumInv[int](), length*interval, slide*interval,
		func(kv ops.KV[string, int]) bool { return kv.Value != 0 }, rdd.Partitions[string](4))
	got := map[int][]ops.KV[string, int]{}
	dstream.ForeachRDD(inc, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
		k := int(bt.Sub(epoch) / interval)
		if k%3 != 0 {
			_, err := rdd.Take(ctx, r, 1) // leaves later partitions uncomputed
			return err
		}
		out, err := rdd.Collect(ctx, r)
		got[k] = out
		return err
	})
	h.runBatches(len(windowInput))
	if len(got) == 0 {
		t.Fatal("no window collected")
	}
	for k, out := range got {
		want := map[string]int{}
		for w, n := range countWords(windowOf(windowInput, k, length)) {
			want[w] = n
		}
		if diff := cmp.Diff(want, pairsToMap(out)); diff != "" {
			t.Errorf("window at batch %d (-want +got):\n%s", k, diff)
		}
	}
}
