package rdd_test

// Helpers of the wide-operator tests (aggregate, join, sort, partition).
// Their names start with w so that they do not clash with the helpers of
// the other test files.

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

type wKV = ops.KV[string, int]

// wEng returns an engine that runs more tasks at once than a small machine
// has cores, so that tasks interleave.
func wEng() *rdd.Engine { return rdd.NewEngine(rdd.Parallelism(4)) }

// wParts collects r's partitions and checks their count.
func wParts[T any](t testing.TB, r *rdd.RDD[T]) [][]T {
	t.Helper()
	parts, err := rdd.CollectPartitions(t.Context(), r)
	if err != nil {
		t.Fatalf("CollectPartitions(%s): %v", r, err)
	}
	if len(parts) != r.NumPartitions() {
		t.Fatalf("CollectPartitions(%s) returned %d partitions, NumPartitions() = %d", r, len(parts), r.NumPartitions())
	}
	return parts
}

// wCollect collects r.
func wCollect[T any](t testing.TB, r *rdd.RDD[T]) []T {
	t.Helper()
	got, err := rdd.Collect(t.Context(), r)
	if err != nil {
		t.Fatalf("Collect(%s): %v", r, err)
	}
	return got
}

// wIn is a keyed input: record i has value i, so that order can be checked.
type wIn[K comparable] struct {
	name  string
	data  []ops.KV[K, int]
	parts int // Parallelize's partition count; 0 means rdd.Empty
}

func (in wIn[K]) rdd(e *rdd.Engine) *rdd.RDD[ops.KV[K, int]] {
	if in.parts == 0 {
		return rdd.Empty[ops.KV[K, int]](e)
	}
	return rdd.Parallelize(e, in.data, in.parts)
}

// inputPartition returns the input partition that record i of in is in
// (Parallelize splits contiguously).
func (in wIn[K]) inputPartition(i int) int {
	n, size := in.parts, len(in.data)
	for p := range n {
		if i < (p+1)*size/n {
			return p
		}
	}
	return n - 1
}

func wGen[K comparable](name string, n, parts int, key func(i int) K) wIn[K] {
	data := make([]ops.KV[K, int], n)
	for i := range data {
		data[i] = ops.KV[K, int]{Key: key(i), Value: i}
	}
	return wIn[K]{name: name, data: data, parts: parts}
}

// wBig is the record count of the large inputs: more than
// shuffleexec.CheckAfter records in each of their two partitions.
const wBig = 2*shuffleexec.CheckAfter + 8000

// wInputs returns the string-keyed inputs every keyed operator is tested on.
var wInputs = sync.OnceValue(func() []wIn[string] {
	return []wIn[string]{
		{name: "Empty"},
		{name: "no elements", parts: 3},
		wGen("one partition", 200, 1, func(i int) string { return "k" + strconv.Itoa(i%13) }),
		wGen("more partitions than elements", 3, 8, func(i int) string { return []string{"a", "b", "a"}[i] }),
		wGen("skewed", 6000, 4, func(i int) string {
			if i%10 != 0 {
				return "hot"
			}
			return "k" + strconv.Itoa(i%50)
		}),
		wGen("zero values", 30, 3, func(i int) string { return []string{"", "x", ""}[i%3] }),
		// Each map task's keys are mostly distinct, so it stops combining
		// and passes records through; keys below 16000 occur in both tasks.
		wGen("many distinct", wBig, 2, func(i int) string { return "d" + strconv.Itoa(i%(wBig-16000)) }),
		wGen("low distinct", wBig, 2, func(i int) string { return "r" + strconv.Itoa(i%40) }),
	}
})

// wIntInputs returns int-keyed inputs, with the zero key 0.
var wIntInputs = sync.OnceValue(func() []wIn[int] {
	return []wIn[int]{
		wGen("int keys", 1000, 3, func(i int) int { return i%7 - 3 }),
		wGen("int key 0 only", 50, 2, func(int) int { return 0 }),
	}
})

// wFuncPart is a custom partitioner. It is used through a pointer, so
// interface comparison of partitioners works.
type wFuncPart[K any] struct {
	n int
	f func(K) int
}

func (p *wFuncPart[K]) NumPartitions() int  { return p.n }
func (p *wFuncPart[K]) Partition(key K) int { return p.f(key) }
func (p *wFuncPart[K]) Equal(other shuffle.Partitioner[K]) bool {
	o, ok := other.(*wFuncPart[K])
	return ok && o == p
}
func (p *wFuncPart[K]) String() string { return fmt.Sprintf("wFuncPart(%d)", p.n) }

// wStrPart places a string by the sum of its bytes.
func wStrPart(n int) *wFuncPart[string] {
	return &wFuncPart[string]{n: n, f: func(k string) int {
		s := 0
		for i := range len(k) {
			s += int(k[i])
		}
		return s % n
	}}
}

// wIntPart places an int by its value mod n.
func wIntPart(n int) *wFuncPart[int] {
	return &wFuncPart[int]{n: n, f: func(k int) int { return (k%n + n) % n }}
}

// wBadPart answers out of range (n) for the key bad and 0 otherwise.
func wBadPart[K comparable](n int, bad K) *wFuncPart[K] {
	return &wFuncPart[K]{n: n, f: func(k K) int {
		if k == bad {
			return n
		}
		return 0
	}}
}

// wOpt is one way to call a wide operator, with the partitioner its
// output must then follow.
type wOpt[K comparable] struct {
	name   string
	opts   []rdd.ShuffleOpt[K]
	want   shuffle.Partitioner[K]
	custom bool // want is a custom partitioner, reported as is
}

// wOpts returns the option sets of a keyed operator over an input of
// inParts partitions (the default partition count).
func wOpts[K comparable](inParts int, custom shuffle.Partitioner[K]) []wOpt[K] {
	return []wOpt[K]{
		{name: "default", want: shuffle.NewHash[K](max(inParts, 1))},
		{name: "Partitions(5)", opts: []rdd.ShuffleOpt[K]{rdd.Partitions[K](5)}, want: shuffle.NewHash[K](5)},
		{name: "Partitions(1)", opts: []rdd.ShuffleOpt[K]{rdd.Partitions[K](1)}, want: shuffle.NewHash[K](1)},
		{name: "WithPartitioner", opts: []rdd.ShuffleOpt[K]{rdd.WithPartitioner(custom)}, want: custom, custom: true},
		{name: "Partitions+WithPartitioner", opts: []rdd.ShuffleOpt[K]{rdd.Partitions[K](custom.NumPartitions()), rdd.WithPartitioner(custom)}, want: custom, custom: true},
	}
}

// wLarge reports whether an input of n records is large: large inputs are
// run with the default options and a custom partitioner only, to keep the
// race-enabled suite quick.
func wLarge(n int) bool { return n > 10_000 }

// wSkip reports whether option set o is skipped for an input of n records.
func wSkip(n int, o string) bool {
	return wLarge(n) && o != "default" && o != "WithPartitioner"
}

// wCheckPartitioner checks r's partition count and reported partitioner
// against o.
func wCheckPartitioner[K comparable, V any](t testing.TB, r *rdd.RDD[ops.KV[K, V]], o wOpt[K]) {
	t.Helper()
	if r.NumPartitions() != o.want.NumPartitions() {
		t.Errorf("NumPartitions() = %d, want %d", r.NumPartitions(), o.want.NumPartitions())
	}
	got, ok := rdd.PartitionerOf(r)
	if o.custom {
		if !ok || got != o.want {
			t.Errorf("PartitionerOf = %v, want the custom partitioner %v", got, o.want)
		}
	} else if h, isHash := got.(*shuffle.Hash[K]); !ok || !isHash || !h.Equal(o.want) {
		t.Errorf("PartitionerOf = %v (%T), want %v", got, got, o.want)
	}
}

// wPart returns r's partitioner, nil if it has none.
func wPart[K comparable, V any](r *rdd.RDD[ops.KV[K, V]]) shuffle.Partitioner[K] {
	p, _ := rdd.PartitionerOf(r)
	return p
}

// wAnyPart returns the partitioner of r, whatever its element type, or nil.
func wAnyPart[T any](r *rdd.RDD[T]) any {
	p, _ := rdd.PartitionerAs[any](r)
	return p
}

// wSame reports whether a and b are known to place keys alike.
func wSame[K any](a, b shuffle.Partitioner[K]) bool {
	return a != nil && b != nil && a.Equal(b)
}

// wSamePart reports whether p is known to place keys as r's partitioner does.
func wSamePart[K comparable, V any](p shuffle.Partitioner[K], r *rdd.RDD[ops.KV[K, V]]) bool {
	q, ok := rdd.PartitionerOf(r)
	return ok && p != nil && p.Equal(q)
}

// wCheckPlaced checks that every pair is in the partition p assigns its key.
func wCheckPlaced[K comparable, V any](t testing.TB, parts [][]ops.KV[K, V], p shuffle.Partitioner[K]) {
	t.Helper()
	for q, part := range parts {
		for _, kv := range part {
			if w := p.Partition(kv.Key); w != q {
				t.Errorf("key %v is in partition %d, partitioner says %d", kv.Key, q, w)
				return
			}
		}
	}
}

// wPartitioned collects r, checking its partitioner and the placement of
// its keys, and returns its partitions.
func wPartitioned[K comparable, V any](t testing.TB, r *rdd.RDD[ops.KV[K, V]], o wOpt[K]) [][]ops.KV[K, V] {
	t.Helper()
	wCheckPartitioner(t, r, o)
	parts := wParts(t, r)
	wCheckPlaced(t, parts, o.want)
	return parts
}

// wDiff reports the difference between want and got after sorting both by
// compare, which must be a total order (0 only for equal elements). The
// equality check is fast; go-cmp only explains a difference.
func wDiff[T any](want, got []T, compare func(a, b T) int) string {
	w, g := slices.Clone(want), slices.Clone(got)
	slices.SortFunc(w, compare)
	slices.SortFunc(g, compare)
	if slices.EqualFunc(w, g, func(a, b T) bool { return compare(a, b) == 0 }) {
		return ""
	}
	return wTrim(fmt.Sprintf("want %d elements, got %d (-want +got):\n%s", len(w), len(g), gocmp.Diff(w, g)))
}

// wDiffOrdered reports the difference between want and got, in order.
func wDiffOrdered[T any](want, got []T, compare func(a, b T) int) string {
	if slices.EqualFunc(want, got, func(a, b T) bool { return compare(a, b) == 0 }) {
		return ""
	}
	return wTrim(fmt.Sprintf("want %d elements, got %d (-want +got):\n%s", len(want), len(got), gocmp.Diff(want, got)))
}

func wTrim(s string) string {
	const limit = 3000
	if len(s) > limit {
		return s[:limit] + "\n…"
	}
	return s
}

func wCmpKV[K, V cmp.Ordered](a, b ops.KV[K, V]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value))
}

func wCmpMaybe[T cmp.Ordered](a, b ops.Maybe[T]) int {
	if a.Ok != b.Ok {
		if a.Ok {
			return 1
		}
		return -1
	}
	return cmp.Compare(a.Value, b.Value)
}

// wReduceRef is the reference of ReduceByKey: a map fold in input order,
// keys in first-seen order.
func wReduceRef[K comparable, V any](data []ops.KV[K, V], f func(a, b V) V) []ops.KV[K, V] {
	return wAggRef(data, ops.Reducing(f))
}

// wAggRef folds every key's values in input order with agg's Create and
// MergeValue.
func wAggRef[K comparable, V, C any](data []ops.KV[K, V], agg ops.Aggregator[V, C]) []ops.KV[K, C] {
	index := map[K]int{}
	var out []ops.KV[K, C]
	for _, kv := range data {
		if i, ok := index[kv.Key]; ok {
			out[i].Value = agg.MergeValue(out[i].Value, kv.Value)
			continue
		}
		index[kv.Key] = len(out)
		out = append(out, ops.KV[K, C]{Key: kv.Key, Value: agg.Create(kv.Value)})
	}
	return out
}

// wDirectShuffles counts the shuffle dependencies of the DebugString's root
// node: lines at depth 1 marked "+-".
func wDirectShuffles(debug string) int {
	n := 0
	for line := range strings.Lines(debug) {
		if strings.HasPrefix(line, "  +-") {
			n++
		}
	}
	return n
}

// wCheckTotalOrder checks that every element of partition i sorts before
// or equal to every element of any later partition.
func wCheckTotalOrder[T any](t testing.TB, parts [][]T, compare func(a, b T) int) {
	t.Helper()
	var last *T
	lastPart := -1
	for q, part := range parts {
		for i := range part {
			if last != nil && compare(*last, part[i]) > 0 {
				where := "within"
				if lastPart != q {
					where = fmt.Sprintf("across partitions %d and", lastPart)
				}
				t.Errorf("out of order %s partition %d: %v before %v", where, q, *last, part[i])
				return
			}
			last, lastPart = &part[i], q
		}
	}
}
