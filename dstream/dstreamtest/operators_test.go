package dstreamtest_test

// Every dstream operator through dstreamtest, each against a reference
// computed in plain Go from the input batches (never by calling the same
// operator). Batches are numbered from 1, as dstreamtest numbers them.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// sec is dstreamtest's default batch interval.
const sec = time.Second

// dstreamtest's batch k has time epoch + k×interval (see its doc).
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// words has an empty first batch (so the first windows are partial and
// empty), runs of empty batches, repeated words and words that come back.
var words = [][]string{
	nil,
	{"a", "b", "a"},
	{"c"},
	nil,
	nil,
	{"a", "d", "d", "b"},
	{"e"},
	nil,
	{"b", "b", "a"},
	{"c", "f"},
	nil,
	{"a"},
}

type pair = ops.KV[string, int]

// pairsOf turns batches of words into batches of pairs whose values are
// positive and differ from batch to batch.
func pairsOf(batches [][]string) [][]pair {
	out := make([][]pair, len(batches))
	for k, b := range batches {
		for i, w := range b {
			out[k] = append(out[k], ops.Pair(w, k+1+i))
		}
	}
	return out
}

var pairs = pairsOf(words)

// ---- reference helpers ----

// perBatch applies f to every batch.
func perBatch[T, U any](input [][]T, f func(batch []T) []U) [][]U {
	return perBatchK(input, func(_ int, b []T) []U { return f(b) })
}

// perBatchK applies f to every batch and its number.
func perBatchK[T, U any](input [][]T, f func(k int, batch []T) []U) [][]U {
	out := make([][]U, len(input))
	for k, b := range input {
		out[k] = f(k+1, b)
	}
	return out
}

// window returns the elements of the window of the given length (in
// batches) ending at batch k: batches k-length+1 to k, oldest first; the
// windows at the start are partial, and batches past the input are empty.
func window[T any](input [][]T, k, length int) []T {
	var out []T
	for j := max(1, k-length+1); j <= k; j++ {
		if j <= len(input) {
			out = append(out, input[j-1]...)
		}
	}
	return out
}

// windowed returns, for n batches, f of the window at every whole slide
// (batches slide, 2×slide, ...) and nil between slides.
func windowed[T, U any](input [][]T, n, length, slide int, f func(w []T) []U) [][]U {
	out := make([][]U, n)
	for k := slide; k <= n; k += slide {
		out[k-1] = f(window(input, k, length))
	}
	return out
}

// reduceByKey reduces the values of each key with f, keys in order of
// first appearance.
func reduceByKey[K comparable, V any](kvs []ops.KV[K, V], f func(a, b V) V) []ops.KV[K, V] {
	var out []ops.KV[K, V]
	at := map[K]int{}
	for _, kv := range kvs {
		if i, ok := at[kv.Key]; ok {
			out[i].Value = f(out[i].Value, kv.Value)
			continue
		}
		at[kv.Key] = len(out)
		out = append(out, kv)
	}
	return out
}

// groupByKey collects each key's values, sorted (a group's order is not
// defined).
func groupByKey[K comparable, V cmp.Ordered](kvs []ops.KV[K, V]) []ops.KV[K, []V] {
	var out []ops.KV[K, []V]
	at := map[K]int{}
	for _, kv := range kvs {
		i, ok := at[kv.Key]
		if !ok {
			i = len(out)
			at[kv.Key] = i
			out = append(out, ops.KV[K, []V]{Key: kv.Key})
		}
		out[i].Value = append(out[i].Value, kv.Value)
	}
	for i := range out {
		slices.Sort(out[i].Value)
	}
	return out
}

// countValues counts each element.
func countValues[T comparable](xs []T) []ops.KV[T, int64] {
	ones := make([]ops.KV[T, int64], len(xs))
	for i, x := range xs {
		ones[i] = ops.Pair(x, int64(1))
	}
	return reduceByKey(ones, func(a, b int64) int64 { return a + b })
}

func sumInts(a, b int) int { return a + b }

// sortedGroups is the stream operator that sorts every group's values,
// so that groups compare with a reference.
func sortedGroups[K comparable, V cmp.Ordered](s *dstream.DStream[ops.KV[K, []V]]) *dstream.DStream[ops.KV[K, []V]] {
	return dstream.Map(s, func(kv ops.KV[K, []V]) ops.KV[K, []V] {
		return ops.Pair(kv.Key, slices.Sorted(slices.Values(kv.Value)))
	})
}

// shape is a window's length and slide, in batches.
type shape struct{ length, slide int }

func (s shape) String() string { return fmt.Sprintf("length%d_slide%d", s.length, s.slide) }

func (s shape) durations() (length, slide time.Duration) {
	return time.Duration(s.length) * sec, time.Duration(s.slide) * sec
}

// shapes has sliding, tumbling and hopping windows (slide longer than the
// window), several with partial windows at the start.
var shapes = []shape{{1, 1}, {2, 1}, {3, 2}, {4, 2}, {6, 3}, {3, 3}, {2, 3}, {1, 2}}

// forShapes runs test as a subtest for every window shape.
func forShapes(t *testing.T, test func(t *testing.T, sh shape)) {
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			leakcheck.Check(t)
			test(t, sh)
		})
	}
}

// checkSlides checks that op's stream has an RDD exactly at the whole
// slides, holding as many elements as want's batch, and none between
// slides: Count of the stream is one element per RDD (0 for an empty
// one), and RunBatches gives nil for a batch time with no RDD. The
// comparison is strict: nil and empty differ.
func checkSlides[T, U any](t *testing.T, input [][]T, op func(*dstream.DStream[T]) *dstream.DStream[U], slide int, want [][]U) {
	t.Helper()
	got := dstreamtest.RunBatches(t, input, func(s *dstream.DStream[T]) *dstream.DStream[int64] {
		return dstream.Count(op(s))
	}, len(want))
	wantCounts := make([][]int64, len(want))
	for k := slide; k <= len(want); k += slide {
		wantCounts[k-1] = []int64{int64(len(want[k-1]))}
	}
	if diff := gocmp.Diff(wantCounts, got); diff != "" {
		t.Errorf("Count of the stream by batch: RDDs at whole slides only (-want +got):\n%s", diff)
	}
}

// ---- per-batch operators ----

func TestOpMapPartitions(t *testing.T) {
	leakcheck.Check(t)
	ints := [][]int{{1, 2, 3, 4, 5}, nil, {6}, {7, 8}}
	// Each partition is mapped in order and partitions are collected in
	// order: the batch keeps its order.
	dstreamtest.Run(t, ints,
		func(s *dstream.DStream[int]) *dstream.DStream[string] {
			return dstream.MapPartitions(s, func(_ context.Context, _ int, in iter.Seq[int], yield func(string) bool) error {
				for x := range in {
					if !yield(fmt.Sprint(x * x)) {
						return nil
					}
				}
				return nil
			})
		},
		perBatch(ints, func(b []int) []string {
			var out []string
			for _, x := range b {
				out = append(out, fmt.Sprint(x*x))
			}
			return out
		}),
		dstreamtest.Parallelism(3))

	// f sees each partition once, with its index: one element per
	// non-empty partition, with the partition's size, adding up to the
	// batch and at an index below the partition count.
	sizes := dstreamtest.RunBatches(t, ints, func(s *dstream.DStream[int]) *dstream.DStream[[2]int] {
		return dstream.MapPartitions(s, func(_ context.Context, part int, in iter.Seq[int], yield func([2]int) bool) error {
			n := 0
			for range in {
				n++
			}
			if n > 0 {
				yield([2]int{part, n})
			}
			return nil
		})
	}, len(ints), dstreamtest.Parallelism(3))
	for k, b := range sizes {
		total, seen := 0, map[int]bool{}
		for _, ps := range b {
			if ps[0] < 0 || ps[0] >= 3 || seen[ps[0]] {
				t.Errorf("batch %d: partition %d out of range or seen twice in %v", k+1, ps[0], b)
			}
			seen[ps[0]] = true
			total += ps[1]
		}
		if total != len(ints[k]) {
			t.Errorf("batch %d: partitions hold %d elements, want %d", k+1, total, len(ints[k]))
		}
	}
}

func TestOpRepartition(t *testing.T) {
	leakcheck.Check(t)
	// Every element, tagged with the partition count of its batch.
	type tagged struct{ Word, Parts string }
	dstreamtest.Run(t, words,
		func(s *dstream.DStream[string]) *dstream.DStream[tagged] {
			return dstream.Transform(dstream.Repartition(s, 3), func(r *rdd.RDD[string], _ time.Time) *rdd.RDD[tagged] {
				n := fmt.Sprint(r.NumPartitions())
				return rdd.Map(r, func(w string) tagged { return tagged{w, n} })
			})
		},
		perBatch(words, func(b []string) []tagged {
			var out []tagged
			for _, w := range b {
				out = append(out, tagged{w, "3"})
			}
			return out
		}),
		dstreamtest.Unordered())
}

func TestOpUnion(t *testing.T) {
	leakcheck.Check(t)
	other := [][]string{{"x"}, nil, {"y", "z"}, nil, {"w"}}
	// In argument order, the same stream twice included.
	want := make([][]string, max(len(words), len(other)))
	for k := range want {
		want[k] = slices.Concat(window(other, k+1, 1), window(words, k+1, 1), window(words, k+1, 1))
	}
	dstreamtest.Run2(t, words, other,
		func(a, b *dstream.DStream[string]) *dstream.DStream[string] { return dstream.Union(b, a, a) },
		want)
}

func TestOpCount(t *testing.T) {
	leakcheck.Check(t)
	// Two batches past the input: the drained queue counts 0 as well.
	want := make([][]int64, len(words)+2)
	for k := range want {
		want[k] = []int64{int64(len(window(words, k+1, 1)))}
	}
	got := dstreamtest.RunBatches(t, words, dstream.Count[string], len(want))
	if diff := gocmp.Diff(want, got); diff != "" { // strict: an empty batch counts 0
		t.Errorf("Count by batch (-want +got):\n%s", diff)
	}
}

func TestOpReduce(t *testing.T) {
	leakcheck.Check(t)
	// The longest string, the smallest among equals: associative and
	// commutative.
	longest := func(a, b string) string {
		if len(a) > len(b) || len(a) == len(b) && a < b {
			return a
		}
		return b
	}
	lines := [][]string{{"bb", "a", "ccc", "dd"}, nil, {"x"}, {"ab", "aa", "b"}, nil}
	dstreamtest.Run(t, lines,
		func(s *dstream.DStream[string]) *dstream.DStream[string] { return dstream.Reduce(s, longest) },
		perBatch(lines, func(b []string) []string {
			if len(b) == 0 {
				return nil // an empty batch reduces to nothing
			}
			acc := b[0]
			for _, x := range b[1:] {
				acc = longest(acc, x)
			}
			return []string{acc}
		}))
	// Nothing, not a zero value, for an empty batch.
	got := dstreamtest.RunBatches(t, lines, func(s *dstream.DStream[string]) *dstream.DStream[int64] {
		return dstream.Count(dstream.Reduce(s, longest))
	}, len(lines))
	if diff := gocmp.Diff([][]int64{{1}, {0}, {1}, {1}, {0}}, got); diff != "" {
		t.Errorf("elements per batch (-want +got):\n%s", diff)
	}
}

func TestOpCountByValue(t *testing.T) {
	leakcheck.Check(t)
	dstreamtest.Run(t, words,
		func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int64]] {
			return dstream.CountByValue(s, rdd.Partitions[string](3))
		},
		perBatch(words, countValues[string]),
		dstreamtest.Unordered())
}

func TestOpTransform(t *testing.T) {
	leakcheck.Check(t)
	// f gets the batch time: every distinct word, tagged with its batch.
	dstreamtest.Run(t, words,
		func(s *dstream.DStream[string]) *dstream.DStream[string] {
			return dstream.Transform(s, func(r *rdd.RDD[string], bt time.Time) *rdd.RDD[string] {
				k := int(bt.Sub(epoch) / sec)
				return rdd.Map(rdd.Distinct(r), func(w string) string { return fmt.Sprintf("%s@%d", w, k) })
			})
		},
		perBatchK(words, func(k int, b []string) []string {
			var out []string
			for _, w := range slices.Compact(slices.Sorted(slices.Values(b))) {
				out = append(out, fmt.Sprintf("%s@%d", w, k))
			}
			return out
		}),
		dstreamtest.Unordered())
}

func TestOpTransformWith(t *testing.T) {
	leakcheck.Check(t)
	other := pairsOf([][]string{{"a"}, {"a", "z"}, {"c", "c"}, nil, nil, {"b"}, {"e"}})
	// The pairs of the first stream whose key the second lacks in the same
	// batch, tagged with the batch.
	want := make([][]string, len(pairs))
	for k := range want {
		for _, p := range pairs[k] {
			if !slices.ContainsFunc(window(other, k+1, 1), func(o pair) bool { return o.Key == p.Key }) {
				want[k] = append(want[k], fmt.Sprintf("%s=%d@%d", p.Key, p.Value, k+1))
			}
		}
	}
	dstreamtest.Run2(t, pairs, other,
		func(a, b *dstream.DStream[pair]) *dstream.DStream[string] {
			return dstream.TransformWith(a, b, func(ra, rb *rdd.RDD[pair], bt time.Time) *rdd.RDD[string] {
				k := int(bt.Sub(epoch) / sec)
				return rdd.Map(rdd.SubtractByKey(ra, rb), func(p pair) string { return fmt.Sprintf("%s=%d@%d", p.Key, p.Value, k) })
			})
		},
		want, dstreamtest.Unordered())
}

// ---- keyed per-batch operators ----

func TestOpReduceByKey(t *testing.T) {
	for _, in := range []struct {
		name  string
		input [][]pair
	}{{"pairs", pairs}, {"dense", dense}} {
		input := in.input
		t.Run(in.name, func(t *testing.T) {
			leakcheck.Check(t)
			dstreamtest.Run(t, input,
				func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
					return dstream.ReduceByKey(s, sumInts, rdd.Partitions[string](3))
				},
				perBatch(input, func(b []pair) []pair { return reduceByKey(b, sumInts) }),
				dstreamtest.Unordered())
		})
	}
}

func TestOpGroupByKey(t *testing.T) {
	leakcheck.Check(t)
	dstreamtest.Run(t, pairs,
		func(s *dstream.DStream[pair]) *dstream.DStream[ops.KV[string, []int]] {
			return sortedGroups(dstream.GroupByKey(s))
		},
		perBatch(pairs, groupByKey[string, int]),
		dstreamtest.Unordered(), dstreamtest.Parallelism(3))
}

// dense has keys repeated within every partition of a batch, so that
// map-side combining merges values and then combiners.
var dense = func() [][]pair {
	out := make([][]pair, 7)
	for k := range out {
		for i := range (k * 5) % 13 {
			out[k] = append(out[k], ops.Pair(string(rune('a'+i%3)), i+k))
		}
	}
	return out
}()

func TestOpCombineByKey(t *testing.T) {
	want := perBatch(dense, func(b []pair) []ops.KV[string, ops.SumCount[int]] {
		var sc []ops.KV[string, ops.SumCount[int]]
		for _, p := range b {
			sc = append(sc, ops.Pair(p.Key, ops.SumCount[int]{Sum: p.Value, Count: 1}))
		}
		return reduceByKey(sc, func(a, b ops.SumCount[int]) ops.SumCount[int] {
			return ops.SumCount[int]{Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
		})
	})
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallelism%d", par), func(t *testing.T) {
			leakcheck.Check(t)
			dstreamtest.Run(t, dense,
				func(s *dstream.DStream[pair]) *dstream.DStream[ops.KV[string, ops.SumCount[int]]] {
					return dstream.CombineByKey(s, ops.Mean[int](), rdd.Partitions[string](2))
				},
				want, dstreamtest.Unordered(), dstreamtest.Parallelism(par))
		})
	}
}

// Join inputs: keys on both sides (several values each: a cross product),
// on one side only, and batches empty on one side or both.
var (
	joinA = [][]pair{
		{{Key: "x", Value: 1}, {Key: "y", Value: 2}, {Key: "y", Value: 3}},
		nil,
		{{Key: "x", Value: 4}, {Key: "z", Value: 5}},
		{{Key: "w", Value: 6}},
		nil,
		{{Key: "x", Value: 7}, {Key: "x", Value: 8}, {Key: "v", Value: 9}},
	}
	joinB = [][]ops.KV[string, string]{
		{{Key: "y", Value: "p"}, {Key: "z", Value: "q"}, {Key: "y", Value: "r"}},
		{{Key: "x", Value: "s"}},
		{{Key: "x", Value: "t"}, {Key: "x", Value: "u"}},
		nil,
		nil,
		{{Key: "x", Value: "w"}, {Key: "v", Value: "v1"}, {Key: "u", Value: "u1"}, {Key: "x", Value: "x1"}},
	}
)

type (
	outer  = ops.Joined[ops.Maybe[int], ops.Maybe[string]]
	outerP = ops.KV[string, outer]
)

// outerJoin is the nested-loop reference of every join: each pair of
// values of a key present on both sides, then, when left (right) is set,
// each value of a key that the other side lacks, against None.
func outerJoin(a []pair, b []ops.KV[string, string], left, right bool) []outerP {
	var out []outerP
	for _, x := range a {
		matched := false
		for _, y := range b {
			if x.Key == y.Key {
				matched = true
				out = append(out, ops.Pair(x.Key, outer{Left: ops.Some(x.Value), Right: ops.Some(y.Value)}))
			}
		}
		if !matched && left {
			out = append(out, ops.Pair(x.Key, outer{Left: ops.Some(x.Value), Right: ops.None[string]()}))
		}
	}
	for _, y := range b {
		if right && !slices.ContainsFunc(a, func(x pair) bool { return x.Key == y.Key }) {
			out = append(out, ops.Pair(y.Key, outer{Left: ops.None[int](), Right: ops.Some(y.Value)}))
		}
	}
	return out
}

// joinRef returns the reference of a join of joinA and joinB, batch by
// batch.
func joinRef(left, right bool) [][]outerP {
	out := make([][]outerP, max(len(joinA), len(joinB)))
	for k := range out {
		out[k] = outerJoin(window(joinA, k+1, 1), window(joinB, k+1, 1), left, right)
	}
	return out
}

// asOuter maps a join's stream to the outer join's element type.
func asOuter[J any](s *dstream.DStream[ops.KV[string, J]], f func(J) outer) *dstream.DStream[outerP] {
	return dstream.Map(s, func(kv ops.KV[string, J]) outerP { return ops.Pair(kv.Key, f(kv.Value)) })
}

func TestOpJoins(t *testing.T) {
	tests := []struct {
		name        string
		op          func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[outerP]
		left, right bool
	}{
		{"Join", func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[outerP] {
			return asOuter(dstream.Join(a, b, rdd.Partitions[string](3)), func(j ops.Joined[int, string]) outer {
				return outer{Left: ops.Some(j.Left), Right: ops.Some(j.Right)}
			})
		}, false, false},
		{"LeftOuterJoin", func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[outerP] {
			return asOuter(dstream.LeftOuterJoin(a, b), func(j ops.Joined[int, ops.Maybe[string]]) outer {
				return outer{Left: ops.Some(j.Left), Right: j.Right}
			})
		}, true, false},
		{"RightOuterJoin", func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[outerP] {
			return asOuter(dstream.RightOuterJoin(a, b, rdd.Partitions[string](1)), func(j ops.Joined[ops.Maybe[int], string]) outer {
				return outer{Left: j.Left, Right: ops.Some(j.Right)}
			})
		}, false, true},
		{"FullOuterJoin", func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[outerP] {
			return dstream.FullOuterJoin(a, b, rdd.Partitions[string](4))
		}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			dstreamtest.Run2(t, joinA, joinB, tt.op, joinRef(tt.left, tt.right), dstreamtest.Unordered())
		})
	}
}

func TestOpCoGroup(t *testing.T) {
	leakcheck.Check(t)
	type grouped = ops.KV[string, ops.CoGrouped[int, string]]
	want := make([][]grouped, len(joinA))
	for k := range want {
		a, b := joinA[k], joinB[k]
		var keys []string
		for _, x := range a {
			keys = append(keys, x.Key)
		}
		for _, y := range b {
			keys = append(keys, y.Key)
		}
		for _, key := range slices.Compact(slices.Sorted(slices.Values(keys))) {
			var g ops.CoGrouped[int, string]
			for _, x := range a {
				if x.Key == key {
					g.Left = append(g.Left, x.Value)
				}
			}
			for _, y := range b {
				if y.Key == key {
					g.Right = append(g.Right, y.Value)
				}
			}
			slices.Sort(g.Left)
			slices.Sort(g.Right)
			want[k] = append(want[k], ops.Pair(key, g))
		}
	}
	dstreamtest.Run2(t, joinA, joinB,
		func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[grouped] {
			// The order of a side's values is not defined: sort them.
			return dstream.Map(dstream.CoGroup(a, b, rdd.Partitions[string](3)), func(kv grouped) grouped {
				return ops.Pair(kv.Key, ops.CoGrouped[int, string]{
					Left:  slices.Sorted(slices.Values(kv.Value.Left)),
					Right: slices.Sorted(slices.Values(kv.Value.Right)),
				})
			})
		},
		want, dstreamtest.Unordered(), dstreamtest.CmpOptions(equateEmptyGroups))
}

// equateEmptyGroups makes a nil side of a group equal an empty one.
var equateEmptyGroups = gocmp.Transformer("nonNil", func(g ops.CoGrouped[int, string]) ops.CoGrouped[int, string] {
	if g.Left == nil {
		g.Left = []int{}
	}
	if g.Right == nil {
		g.Right = []string{}
	}
	return g
})

// ---- windows ----

func TestOpWindow(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		op := func(s *dstream.DStream[string]) *dstream.DStream[string] { return dstream.Window(s, length, slide) }
		want := windowed(words, len(words), sh.length, sh.slide, slices.Clone[[]string])
		dstreamtest.Run(t, words, op, want, dstreamtest.Unordered())
		checkSlides(t, words, op, sh.slide, want)
	})
}

func TestOpCountByWindow(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		op := func(s *dstream.DStream[string]) *dstream.DStream[int64] {
			return dstream.CountByWindow(s, length, slide)
		}
		// One element per slide, 0 for an empty window; nothing between
		// slides. Compared strictly.
		want := windowed(words, len(words), sh.length, sh.slide, func(w []string) []int64 { return []int64{int64(len(w))} })
		if got := dstreamtest.RunBatches(t, words, op, len(words)); !gocmp.Equal(want, got) {
			t.Errorf("CountByWindow by batch (-want +got):\n%s", gocmp.Diff(want, got))
		}
	})
}

func TestOpReduceByWindow(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		op := func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			// The pair with the largest value, the smallest key among equals.
			return dstream.ReduceByWindow(s, maxPair, length, slide)
		}
		want := windowed(pairs, len(pairs), sh.length, sh.slide, func(w []pair) []pair {
			if len(w) == 0 {
				return nil // an empty window reduces to nothing
			}
			best := w[0]
			for _, p := range w[1:] {
				if p.Value > best.Value || p.Value == best.Value && p.Key < best.Key {
					best = p
				}
			}
			return []pair{best}
		})
		dstreamtest.Run(t, pairs, op, want)
		checkSlides(t, pairs, op, sh.slide, want)
	})
}

// maxPair returns the pair with the larger value, the smaller key among
// equals: associative and commutative.
func maxPair(a, b pair) pair {
	if a.Value > b.Value || a.Value == b.Value && a.Key < b.Key {
		return a
	}
	return b
}

func TestOpReduceByKeyAndWindow(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		op := func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			return dstream.ReduceByKeyAndWindow(s, sumInts, length, slide, rdd.Partitions[string](3))
		}
		want := windowed(pairs, len(pairs), sh.length, sh.slide, func(w []pair) []pair { return reduceByKey(w, sumInts) })
		dstreamtest.Run(t, pairs, op, want, dstreamtest.Unordered())
		checkSlides(t, pairs, op, sh.slide, want)
	})
}

func TestOpReduceByKeyAndWindowInv(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		plain := windowed(pairs, len(pairs), sh.length, sh.slide, func(w []pair) []pair { return reduceByKey(w, sumInts) })

		// With keep dropping exhausted keys: the plain window.
		keep := func(kv pair) bool { return kv.Value != 0 }
		filtered := func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			return dstream.ReduceByKeyAndWindowInv(s, ops.SumInv[int](), length, slide, keep, rdd.Partitions[string](3))
		}
		dstreamtest.Run(t, pairs, filtered, plain, dstreamtest.Unordered())
		checkSlides(t, pairs, filtered, sh.slide, plain)

		// Without keep: every key that has entered a window stays, at 0
		// once it has left.
		withZeros := inverseRef(pairs, len(pairs), sh)
		all := func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			return dstream.ReduceByKeyAndWindowInv(s, ops.SumInv[int](), length, slide, nil)
		}
		dstreamtest.Run(t, pairs, all, withZeros, dstreamtest.Unordered())
		checkSlides(t, pairs, all, sh.slide, withZeros)
	})
}

// inverseRef is the reference of ReduceByKeyAndWindowInv with a sum and no
// keep function over n batches: at every slide, the window's sum of every
// key that has entered a window so far, 0 for those that have left it. A
// batch enters a window if it is in one: a window narrower than its slide
// leaves batches out.
func inverseRef(input [][]pair, n int, sh shape) [][]pair {
	out := make([][]pair, n)
	inSomeWindow := func(j, upTo int) bool {
		for k := sh.slide; k <= upTo; k += sh.slide {
			if j > k-sh.length && j <= k {
				return true
			}
		}
		return false
	}
	for k := sh.slide; k <= n; k += sh.slide {
		sums := map[string]int{}
		for j := 1; j <= k && j <= len(input); j++ {
			if !inSomeWindow(j, k) {
				continue
			}
			for _, p := range input[j-1] {
				sums[p.Key] = 0 // entered a window
			}
		}
		for _, p := range window(input, k, sh.length) {
			sums[p.Key] += p.Value
		}
		for _, key := range slices.Sorted(maps.Keys(sums)) {
			out[k-1] = append(out[k-1], ops.Pair(key, sums[key]))
		}
		if out[k-1] == nil {
			out[k-1] = []pair{}
		}
	}
	return out
}

func TestOpCountByValueAndWindow(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		op := func(s *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int64]] {
			return dstream.CountByValueAndWindow(s, length, slide, rdd.Partitions[string](2))
		}
		want := windowed(words, len(words), sh.length, sh.slide, countValues[string])
		dstreamtest.Run(t, words, op, want, dstreamtest.Unordered())
		checkSlides(t, words, op, sh.slide, want)
	})
}

func TestOpGroupByKeyAndWindow(t *testing.T) {
	forShapes(t, func(t *testing.T, sh shape) {
		length, slide := sh.durations()
		op := func(s *dstream.DStream[pair]) *dstream.DStream[ops.KV[string, []int]] {
			return sortedGroups(dstream.GroupByKeyAndWindow(s, length, slide))
		}
		want := windowed(pairs, len(pairs), sh.length, sh.slide, groupByKey[string, int])
		dstreamtest.Run(t, pairs, op, want, dstreamtest.Unordered())
		checkSlides(t, pairs, op, sh.slide, want)
	})
}

// TestOpWindowsOfWindows checks streams derived from windows: they slide
// with the window, and a window over a window covers the inner windows it
// spans.
func TestOpWindowsOfWindows(t *testing.T) {
	leakcheck.Check(t)
	n := len(words)
	// Window(Window(s, 2, 2), 4, 2) at batch k spans the inner windows at
	// k-2 and k: batches k-3 to k.
	nested := func(s *dstream.DStream[string]) *dstream.DStream[string] {
		return dstream.Window(dstream.Window(s, 2*sec, 2*sec), 4*sec, 2*sec)
	}
	want := windowed(words, n, 4, 2, slices.Clone[[]string])
	dstreamtest.Run(t, words, nested, want, dstreamtest.Unordered())
	checkSlides(t, words, nested, 2, want)

	// A keyed operator and a join over windows of the same slide.
	joined := func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[outerP] {
		wa, wb := dstream.Window(a, 2*sec, 2*sec), dstream.Window(b, 4*sec, 2*sec)
		return asOuter(dstream.Join(dstream.ReduceByKey(wa, sumInts), wb), func(j ops.Joined[int, string]) outer {
			return outer{Left: ops.Some(j.Left), Right: ops.Some(j.Right)}
		})
	}
	wantJoin := make([][]outerP, len(joinA))
	for k := 2; k <= len(joinA); k += 2 {
		wantJoin[k-1] = outerJoin(reduceByKey(window(joinA, k, 2), sumInts), window(joinB, k, 4), false, false)
	}
	dstreamtest.Run2(t, joinA, joinB, joined, wantJoin, dstreamtest.Unordered())
	got := dstreamtest.RunBatches2(t, joinA, joinB, func(a *dstream.DStream[pair], b *dstream.DStream[ops.KV[string, string]]) *dstream.DStream[int64] {
		return dstream.Count(joined(a, b))
	}, len(joinA))
	for k, c := range got {
		if (k+1)%2 == 0 && len(c) != 1 || (k+1)%2 != 0 && c != nil {
			t.Errorf("batch %d: Count of the joined windows = %v, want one element at even batches only", k+1, c)
		}
	}
}

// TestOpIncrementalEqualsPlainOnRandomInput is a property test: for random
// input (with empty batches), random window shapes (slides shorter than,
// equal to and longer than the window), partitionings and parallelism,
// the incremental ReduceByKeyAndWindowInv with a keep function dropping
// exhausted keys equals the plain ReduceByKeyAndWindow at every batch, both
// equal the plain-Go reference, and neither has an RDD between slides.
func TestOpIncrementalEqualsPlainOnRandomInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 8))
	for trial := range 40 {
		sh := shape{slide: 1 + rng.IntN(3)}
		sh.length = 1 + rng.IntN(3*sh.slide+1)
		n := 6 + rng.IntN(10)
		input := make([][]pair, n-rng.IntN(3)) // the last batches may be past the input
		for k := range input {
			if rng.IntN(4) == 0 {
				continue // empty batch
			}
			for range rng.IntN(7) {
				input[k] = append(input[k], ops.Pair(string(rune('a'+rng.IntN(6))), 1+rng.IntN(9)))
			}
		}
		parts, par := 1+rng.IntN(4), 1+rng.IntN(3)
		t.Run(fmt.Sprintf("trial%d_%v_parts%d_par%d", trial, sh, parts, par), func(t *testing.T) {
			leakcheck.Check(t)
			length, slide := sh.durations()
			plain := dstreamtest.RunBatches(t, input, func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
				return dstream.ReduceByKeyAndWindow(s, sumInts, length, slide)
			}, n, dstreamtest.Parallelism(par))
			inc := dstreamtest.RunBatches(t, input, func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
				return dstream.ReduceByKeyAndWindowInv(s, ops.SumInv[int](), length, slide,
					func(kv pair) bool { return kv.Value != 0 }, rdd.Partitions[string](parts))
			}, n, dstreamtest.Parallelism(par))
			want := windowed(input, n, sh.length, sh.slide, func(w []pair) []pair { return reduceByKey(w, sumInts) })
			for k := range n {
				if (k+1)%sh.slide != 0 && (plain[k] != nil || inc[k] != nil) {
					t.Errorf("batch %d, between slides: plain %v, incremental %v; want nothing", k+1, plain[k], inc[k])
				}
				w := asMap(want[k])
				if diff := gocmp.Diff(asMap(plain[k]), asMap(inc[k])); diff != "" {
					t.Errorf("batch %d: plain vs incremental (-plain +incremental):\n%s", k+1, diff)
				}
				if diff := gocmp.Diff(w, asMap(inc[k])); diff != "" {
					t.Errorf("batch %d: reference vs incremental (-want +got):\n%s", k+1, diff)
				}
			}
		})
	}
}

// asMap turns pairs into a map; a repeated key (a per-key reduction has
// one pair per key) shows as an extra "repeated: key" entry, so that the
// comparison fails.
func asMap(kvs []pair) map[string]int {
	m := make(map[string]int, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			m["repeated: "+kv.Key]++
		}
		m[kv.Key] = kv.Value
	}
	return m
}

// ---- state ----

// idleState is a key's running sum and how many batches in a row it had
// no value.
type idleState struct{ Sum, Idle int }

// TestOpUpdateStateByKey checks that update runs for every key with state
// at every batch (with no values when the key had none), and that None
// drops the key: a key is dropped after two idle batches.
func TestOpUpdateStateByKey(t *testing.T) {
	leakcheck.Check(t)
	update := func(values []int, old ops.Maybe[idleState]) ops.Maybe[idleState] {
		st := old.OrElse(idleState{})
		if len(values) == 0 {
			st.Idle++
			if st.Idle >= 2 {
				return ops.None[idleState]()
			}
			return ops.Some(st)
		}
		st.Idle = 0
		for _, v := range values {
			st.Sum += v
		}
		return ops.Some(st)
	}
	n := len(pairs) + 3 // the state lives on past the input
	want := make([][]ops.KV[string, idleState], n)
	state := map[string]idleState{}
	for k := range n {
		batch := window(pairs, k+1, 1)
		for key, st := range state {
			if !slices.ContainsFunc(batch, func(p pair) bool { return p.Key == key }) {
				if st.Idle++; st.Idle >= 2 {
					delete(state, key)
					continue
				}
				state[key] = st
			}
		}
		for _, p := range batch {
			st := state[p.Key]
			st.Sum += p.Value
			st.Idle = 0
			state[p.Key] = st
		}
		for _, key := range slices.Sorted(maps.Keys(state)) {
			want[k] = append(want[k], ops.Pair(key, state[key]))
		}
	}
	dstreamtest.Run(t, pairs,
		func(s *dstream.DStream[pair]) *dstream.DStream[ops.KV[string, idleState]] {
			return dstream.UpdateStateByKey(s, update, rdd.Partitions[string](3))
		},
		want, dstreamtest.Unordered())
}

// mwsRef is the plain-Go reference of the MapWithState spec of
// TestOpMapWithState: what it emits and the snapshot after every batch.
func mwsRef(input [][]pair, n int, initial map[string]int, timeout time.Duration) (mapped [][]string, snaps [][]pair) {
	type entry struct{ sum, count, seen int }
	state := map[string]entry{}
	for key, v := range initial {
		state[key] = entry{sum: v, seen: 1} // the initial state is seen at the first batch
	}
	mapped, snaps = make([][]string, n), make([][]pair, n)
	for k := 1; k <= n; k++ {
		batch := window(input, k, 1)
		touched := map[string]bool{}
		for _, p := range batch {
			touched[p.Key] = true
			e, ok := state[p.Key]
			if !ok {
				e = entry{}
			}
			e.sum += p.Value
			e.count++
			e.seen = k
			mapped[k-1] = append(mapped[k-1], fmt.Sprintf("%s#%d", p.Key, e.count))
			if e.count == 3 {
				delete(state, p.Key) // removed on its third value
				e = entry{}
				continue
			}
			state[p.Key] = e
		}
		for key, e := range state {
			if !touched[key] && timeout > 0 && time.Duration(k-e.seen)*sec >= timeout {
				mapped[k-1] = append(mapped[k-1], fmt.Sprintf("%s timed out at %d refused=true", key, e.sum))
				delete(state, key)
			}
		}
		for _, key := range slices.Sorted(maps.Keys(state)) {
			snaps[k-1] = append(snaps[k-1], ops.Pair(key, state[key].sum))
		}
	}
	return mapped, snaps
}

// TestOpMapWithState checks the mapped and snapshot streams, with an
// initial state, Remove, and timeouts of whole and partial batch
// intervals.
func TestOpMapWithState(t *testing.T) {
	type st struct{ Sum, Count int }
	initial := map[string]int{"a": 100, "q": 7}
	spec := func(c *dstream.Context, timeout time.Duration) dstream.StateSpec[string, int, st, string] {
		var init []ops.KV[string, st]
		for _, key := range slices.Sorted(maps.Keys(initial)) {
			init = append(init, ops.Pair(key, st{Sum: initial[key]}))
		}
		// Values of a key come in no defined order: what is emitted depends
		// only on how many came.
		spec := dstream.NewStateSpec(func(_ time.Time, key string, v ops.Maybe[int], state *dstream.State[st]) ops.Maybe[string] {
			cur, _ := state.Get()
			if state.IsTimingOut() {
				err := state.Update(st{})
				return ops.Some(fmt.Sprintf("%s timed out at %d refused=%v", key, cur.Sum, errors.Is(err, dstream.ErrStateTimingOut)))
			}
			cur.Sum += v.Value
			cur.Count++
			if err := state.Update(cur); err != nil {
				return ops.Some("update failed: " + err.Error())
			}
			if cur.Count == 3 {
				state.Remove()
			}
			return ops.Some(fmt.Sprintf("%s#%d", key, cur.Count))
		}).InitialState(rdd.Parallelize(c.Engine(), init, 1))
		if timeout > 0 {
			spec = spec.Timeout(timeout)
		}
		return spec
	}
	for _, timeout := range []time.Duration{0, sec, 1500 * time.Millisecond, 3 * sec} {
		t.Run(fmt.Sprintf("timeout%v", timeout), func(t *testing.T) {
			leakcheck.Check(t)
			n := len(pairs) + 3
			wantMapped, wantSnaps := mwsRef(pairs, n, initial, timeout)
			dstreamtest.Run(t, pairs, func(s *dstream.DStream[pair]) *dstream.DStream[string] {
				mapped, _ := dstream.MapWithState(s, spec(s.Context(), timeout), rdd.Partitions[string](3))
				return mapped
			}, wantMapped, dstreamtest.Unordered())
			dstreamtest.Run(t, pairs, func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
				_, snaps := dstream.MapWithState(s, spec(s.Context(), timeout), rdd.Partitions[string](3))
				return dstream.Map(snaps, func(kv ops.KV[string, st]) pair { return ops.Pair(kv.Key, kv.Value.Sum) })
			}, wantSnaps, dstreamtest.Unordered())
		})
	}
}

// TestOpStateUnderSparseWindows reads stateful streams only through
// windows that slide every few batches: tumbling ones, and hopping ones
// (slide longer than the window), which never ask for the stateful
// stream's RDDs at some batches. The state must still be built from every
// batch, from batches its parents still remember.
func TestOpStateUnderSparseWindows(t *testing.T) {
	running := func(values []int, old ops.Maybe[int]) ops.Maybe[int] {
		sum := old.OrElse(0)
		for _, v := range values {
			sum += v
		}
		return ops.Some(sum)
	}
	summing := dstream.NewStateSpec(func(_ time.Time, _ string, v ops.Maybe[int], state *dstream.State[int]) ops.Maybe[int] {
		sum, _ := state.Get()
		_ = state.Update(sum + v.Value)
		return ops.None[int]()
	})
	keep := func(kv pair) bool { return kv.Value != 0 }
	stateful := []struct {
		name string
		op   func(s *dstream.DStream[pair]) *dstream.DStream[pair]
		// at is the reference of the stateful stream after batch k.
		at func(k int) []pair
	}{
		{"UpdateStateByKey", func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			return dstream.UpdateStateByKey(s, running)
		}, func(k int) []pair { return reduceByKey(window(pairs, k, k), sumInts) }},
		{"MapWithState", func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			_, snaps := dstream.MapWithState(s, summing)
			return snaps
		}, func(k int) []pair { return reduceByKey(window(pairs, k, k), sumInts) }},
		{"ReduceByKeyAndWindowInv", func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
			return dstream.ReduceByKeyAndWindowInv(s, ops.SumInv[int](), 2*sec, sec, keep)
		}, func(k int) []pair { return reduceByKey(window(pairs, k, 2), sumInts) }},
	}
	for _, outer := range []shape{{1, 3}, {3, 3}, {2, 4}} {
		for _, st := range stateful {
			t.Run(st.name+"_"+outer.String(), func(t *testing.T) {
				leakcheck.Check(t)
				n := len(pairs)
				want := make([][]pair, n)
				for k := outer.slide; k <= n; k += outer.slide {
					for j := max(1, k-outer.length+1); j <= k; j++ {
						want[k-1] = append(want[k-1], st.at(j)...)
					}
				}
				length, slide := outer.durations()
				dstreamtest.Run(t, pairs, func(s *dstream.DStream[pair]) *dstream.DStream[pair] {
					return dstream.Window(st.op(s), length, slide)
				}, want, dstreamtest.Unordered())
			})
		}
	}
}

// ---- output operations ----

// TestOpPrintTo registers PrintTo inside the operation under test, before
// dstreamtest's own output, and checks what it printed for every batch,
// empty ones included.
func TestOpPrintTo(t *testing.T) {
	leakcheck.Check(t)
	const n = 2
	var buf bytes.Buffer
	dstreamtest.Run(t, words, func(s *dstream.DStream[string]) *dstream.DStream[string] {
		dstream.PrintTo(s, &buf, n)
		return s
	}, words)
	var want strings.Builder
	rule := strings.Repeat("-", 43)
	for k, b := range words {
		fmt.Fprintf(&want, "%s\nTime: %d ms\n%s\n", rule, epoch.Add(time.Duration(k+1)*sec).UnixMilli(), rule)
		for i, w := range b {
			if i == n {
				want.WriteString("...\n")
				break
			}
			want.WriteString(w + "\n")
		}
		want.WriteString("\n")
	}
	if diff := gocmp.Diff(want.String(), buf.String()); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
}

func TestOpKeysAndValues(t *testing.T) {
	leakcheck.Check(t)
	dstreamtest.Run(t, pairs, dstream.Keys[string, int],
		perBatch(pairs, func(b []pair) []string {
			var out []string
			for _, kv := range b {
				out = append(out, kv.Key)
			}
			return out
		}))
	dstreamtest.Run(t, pairs, dstream.Values[string, int],
		perBatch(pairs, func(b []pair) []int {
			var out []int
			for _, kv := range b {
				out = append(out, kv.Value)
			}
			return out
		}))
}

func TestOpDistinct(t *testing.T) {
	leakcheck.Check(t)
	// Per batch: a word of an earlier batch comes again.
	dstreamtest.Run(t, words,
		func(s *dstream.DStream[string]) *dstream.DStream[string] {
			return dstream.Distinct(s, rdd.Partitions[string](3))
		},
		perBatch(words, func(b []string) []string {
			out := slices.Clone(b)
			slices.Sort(out)
			return slices.Compact(out)
		}),
		dstreamtest.Unordered())
}

func TestOpGlom(t *testing.T) {
	leakcheck.Check(t)
	const parts = 3
	got := dstreamtest.RunBatches(t, words, dstream.Glom[string], len(words), dstreamtest.Parallelism(parts))
	for k, b := range words {
		if diff := gocmp.Diff(b, slices.Concat(got[k]...), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("batch %d: the partitions' elements, in order (-want +got):\n%s", k+1, diff)
		}
		if len(b) > 0 && len(got[k]) != parts {
			t.Errorf("batch %d: %d slices, want one per partition (%d)", k+1, len(got[k]), parts)
		}
	}
}
