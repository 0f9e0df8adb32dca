package shuffleexec_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

type kv = ops.KV[string, int]

// funcPart is a custom partitioner.
type funcPart[K any] struct {
	n int
	f func(K) int
}

func (p *funcPart[K]) NumPartitions() int  { return p.n }
func (p *funcPart[K]) Partition(key K) int { return p.f(key) }
func (p *funcPart[K]) Equal(other shuffle.Partitioner[K]) bool {
	o, ok := other.(*funcPart[K])
	return ok && o == p
}

func byLen(n int) *funcPart[string] {
	return &funcPart[string]{n: n, f: func(k string) int { return len(k) % n }}
}

func TestTableAddMergeGet(t *testing.T) {
	tab := shuffleexec.NewTable[string](ops.Grouping[int](), 0)
	if tab.Len() != 0 || len(tab.Pairs()) != 0 {
		t.Fatalf("new table: Len %d, Pairs %v", tab.Len(), tab.Pairs())
	}
	tab.Add("b", 1)
	tab.Add("a", 2)
	tab.Add("b", 3)
	tab.Add("", 0) // zero key
	tab.Merge("c", []int{7, 8})
	tab.Merge("a", []int{9})
	tab.Add("c", 10)
	want := []ops.KV[string, []int]{
		{Key: "b", Value: []int{1, 3}},
		{Key: "a", Value: []int{2, 9}},
		{Key: "", Value: []int{0}},
		{Key: "c", Value: []int{7, 8, 10}},
	}
	if diff := cmp.Diff(want, tab.Pairs()); diff != "" {
		t.Errorf("Pairs in first-seen order (-want +got):\n%s", diff)
	}
	if tab.Len() != 4 {
		t.Errorf("Len() = %d, want 4", tab.Len())
	}
	if v, ok := tab.Get("c"); !ok || !slices.Equal(v, []int{7, 8, 10}) {
		t.Errorf(`Get("c") = %v, %v`, v, ok)
	}
	if v, ok := tab.Get(""); !ok || !slices.Equal(v, []int{0}) {
		t.Errorf(`Get("") = %v, %v`, v, ok)
	}
	if v, ok := tab.Get("missing"); ok || v != nil {
		t.Errorf(`Get("missing") = %v, %v, want nil, false`, v, ok)
	}
}

func TestTableAggregators(t *testing.T) {
	in := []kv{ops.Pair("x", 3), ops.Pair("y", -1), ops.Pair("x", 5), ops.Pair("x", 1), ops.Pair("y", 4)}
	sum := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 2)
	cnt := shuffleexec.NewTable[string](ops.Count[int](), -1) // negative hint is fine
	minT := shuffleexec.NewTable[string](ops.MinOf[int](), 0)
	for _, p := range in {
		sum.Add(p.Key, p.Value)
		cnt.Add(p.Key, p.Value)
		minT.Add(p.Key, p.Value)
	}
	if diff := cmp.Diff([]kv{ops.Pair("x", 9), ops.Pair("y", 3)}, sum.Pairs()); diff != "" {
		t.Errorf("sum (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ops.KV[string, int64]{ops.Pair[string, int64]("x", 3), ops.Pair[string, int64]("y", 2)}, cnt.Pairs()); diff != "" {
		t.Errorf("count (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]kv{ops.Pair("x", 1), ops.Pair("y", -1)}, minT.Pairs()); diff != "" {
		t.Errorf("min (-want +got):\n%s", diff)
	}
}

// TestTableManyKeys checks the table's index across many resizes, for the
// key types the hash partitioner treats differently (strings, integers,
// structs): every key is found, none twice, in first-seen order, whatever
// the size hint.
func TestTableManyKeys(t *testing.T) {
	const n = 100_000
	for _, hint := range []int{0, 10, n} {
		t.Run(fmt.Sprint("hint=", hint), func(t *testing.T) {
			checkManyKeys(t, hint, func(i int) string { return "k" + strconv.Itoa(i) })
			checkManyKeys(t, hint, func(i int) int { return i * 1_000_003 })
			checkManyKeys(t, hint, func(i int) uint32 { return uint32(i) << 14 }) // low bits all zero
			checkManyKeys(t, hint, func(i int) point { return point{X: i % 317, Y: i / 317, Tag: "t"} })
		})
	}
}

// checkManyKeys adds n distinct keys key(0..n-1) to a table three times
// each, interleaved, and checks the sums, the order and Get.
func checkManyKeys[K comparable](t *testing.T, hint int, key func(int) K) {
	t.Helper()
	const n = 100_000
	tab := shuffleexec.NewTable[K](ops.Reducing(ops.Sum[int]), hint)
	for round := range 3 {
		for i := range n {
			if round == 2 {
				tab.Merge(key(i), i)
			} else {
				tab.Add(key(i), i)
			}
		}
	}
	if tab.Len() != n {
		t.Fatalf("%T keys: Len() = %d, want %d", key(0), tab.Len(), n)
	}
	for i, p := range tab.Pairs() {
		if p.Key != key(i) || p.Value != 3*i {
			t.Fatalf("%T keys: pair %d = %v, want %v", key(0), i, p, ops.Pair(key(i), 3*i))
		}
	}
	for i := range n {
		if v, ok := tab.Get(key(i)); !ok || v != 3*i {
			t.Fatalf("%T keys: Get(%v) = %d, %v, want %d, true", key(0), key(i), v, ok, 3*i)
		}
	}
	if _, ok := tab.Get(key(n)); ok {
		t.Errorf("%T keys: Get of a missing key found it", key(0))
	}
}

// TestTableAddHashed checks that AddHashed with the partitioner's hash of
// each key and Add build the same table, and find each other's keys.
func TestTableAddHashed(t *testing.T) {
	h := shuffle.NewHash[string](7)
	a := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 0)
	b := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 0)
	for i := range 5000 {
		k := "k" + strconv.Itoa(i%1000)
		a.Add(k, i)
		if i%2 == 0 {
			b.AddHashed(h.Sum64(k), k, i)
		} else {
			b.Add(k, i)
		}
	}
	if diff := cmp.Diff(a.Pairs(), b.Pairs()); diff != "" {
		t.Errorf("AddHashed and Add disagree (-Add +mixed):\n%s", diff)
	}
}

// TestTableNaN checks that a key not equal to itself behaves as in a Go
// map: each Add of a NaN makes a new entry, and Get never finds it.
func TestTableNaN(t *testing.T) {
	tab := shuffleexec.NewTable[float64](ops.Reducing(ops.Sum[int]), 0)
	nan := math.NaN()
	for range 3 {
		tab.Add(nan, 1)
		tab.Add(1.5, 1)
	}
	if tab.Len() != 4 {
		t.Errorf("Len() = %d, want 4 (three NaN entries and 1.5)", tab.Len())
	}
	if _, ok := tab.Get(nan); ok {
		t.Errorf("Get(NaN) found an entry")
	}
	if v, ok := tab.Get(1.5); !ok || v != 3 {
		t.Errorf("Get(1.5) = %d, %v, want 3, true", v, ok)
	}
}

// splitAll returns every bucket of b flattened.
func splitAll[T any](b *shuffleexec.Buckets[T]) [][]T {
	out := make([][]T, b.Len())
	for i := range out {
		for _, c := range b.Chunks(i) {
			out[i] = append(out[i], c...)
		}
		if len(out[i]) != b.Size(i) {
			panic(fmt.Sprintf("bucket %d: %d records, Size %d", i, len(out[i]), b.Size(i)))
		}
	}
	return out
}

func TestTableSplit(t *testing.T) {
	tab := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 0)
	var order []string
	for i := range 1000 {
		k := strconv.Itoa(i % 300 * 7)
		if i < 300 {
			order = append(order, k)
		}
		tab.Add(k, 1)
	}
	for _, p := range []shuffle.Partitioner[string]{shuffle.NewHash[string](1), shuffle.NewHash[string](5), byLen(3), byLen(1)} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			b, err := tab.Split(p)
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() != p.NumPartitions() {
				t.Fatalf("%d buckets, want %d", b.Len(), p.NumPartitions())
			}
			// Bucket q holds exactly the keys p assigns to q, in first-seen
			// order.
			want := make([][]kv, p.NumPartitions())
			for _, k := range order {
				c, _ := tab.Get(k)
				want[p.Partition(k)] = append(want[p.Partition(k)], ops.Pair(k, c))
			}
			got := splitAll(b)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []kv) bool { return slices.Equal(a, b) })); diff != "" {
				t.Errorf("buckets (-want +got):\n%s", diff)
			}
		})
	}
	empty := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 0)
	b, err := empty.Split(shuffle.NewHash[string](3))
	if err != nil || b.Len() != 3 || b.Size(0)+b.Size(1)+b.Size(2) != 0 {
		t.Errorf("empty Split: %v, %d buckets", err, b.Len())
	}
}

func TestTableSplitBadPartitioner(t *testing.T) {
	for _, n := range []int{1, 4} {
		for _, bad := range []int{-1, n} {
			t.Run(fmt.Sprintf("n=%d/p=%d", n, bad), func(t *testing.T) {
				tab := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 0)
				tab.Add("fine", 1)
				tab.Add("evil-key", 2)
				p := &funcPart[string]{n: n, f: func(k string) int {
					if k == "evil-key" {
						return bad
					}
					return 0
				}}
				_, err := tab.Split(p)
				if !errors.Is(err, shuffle.ErrPartition) {
					t.Fatalf("Split = %v, want ErrPartition", err)
				}
				if !contains(err.Error(), "evil-key") {
					t.Errorf("error %q does not name the key", err)
				}
			})
		}
	}
}

func TestBucketsChunks(t *testing.T) {
	const n = 40_000
	b := shuffleexec.NewBuckets[int](3)
	if b.Len() != 3 {
		t.Fatalf("Len() = %d", b.Len())
	}
	for i := range n {
		b.Add(1, i)
		if i%4 == 0 {
			b.Add(2, -i)
		}
	}
	if b.Size(0) != 0 || len(b.Chunks(0)) != 0 {
		t.Errorf("bucket 0: size %d, %d chunks", b.Size(0), len(b.Chunks(0)))
	}
	if b.Size(1) != n || b.Size(2) != n/4 {
		t.Errorf("sizes %d, %d, want %d, %d", b.Size(1), b.Size(2), n, n/4)
	}
	var got []int
	chunks := b.Chunks(1)
	for i, c := range chunks {
		if len(c) > 8192 {
			t.Errorf("chunk %d holds %d records, more than the maximum 8192", i, len(c))
		}
		if i == 0 && len(c) != 64 {
			t.Errorf("first chunk holds %d records, want 64", len(c))
		}
		if i > 0 && i < len(chunks)-1 && len(c) < len(chunks[i-1]) {
			t.Errorf("chunk %d (%d records) smaller than chunk %d (%d)", i, len(c), i-1, len(chunks[i-1]))
		}
		got = append(got, c...)
	}
	// Chunks grow, so there are few of them: 64+128+...+8192 then 8192 each.
	if len(chunks) > 14 {
		t.Errorf("%d chunks for %d records", len(chunks), n)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Errorf("records across chunks out of order")
	}
	all := splitAll(b)
	for i, v := range all[2] {
		if v != -4*i {
			t.Fatalf("bucket 2 record %d = %d, want %d", i, v, -4*i)
		}
	}
}

func TestAddKeyed(t *testing.T) {
	b := shuffleexec.NewBuckets[kv](3)
	p := byLen(3)
	for _, k := range []string{"", "a", "bb", "ccc", "dd"} {
		if err := shuffleexec.AddKeyed(b, p, ops.Pair(k, len(k))); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]kv{{ops.Pair("", 0), ops.Pair("ccc", 3)}, {ops.Pair("a", 1)}, {ops.Pair("bb", 2), ops.Pair("dd", 2)}}
	if diff := cmp.Diff(want, splitAll(b)); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	bad := &funcPart[string]{n: 3, f: func(string) int { return 7 }}
	err := shuffleexec.AddKeyed(b, bad, ops.Pair("key-x", 1))
	if !errors.Is(err, shuffle.ErrPartition) || !contains(err.Error(), "key-x") {
		t.Errorf("AddKeyed with a bad partitioner = %v, want ErrPartition naming key-x", err)
	}
	if b.Size(0)+b.Size(1)+b.Size(2) != 5 {
		t.Errorf("a rejected record was added")
	}
	// A partitioner with fewer partitions than the buckets is checked
	// against the buckets.
	if err := shuffleexec.AddKeyed(b, &funcPart[string]{n: 10, f: func(string) int { return 5 }}, ops.Pair("k", 1)); !errors.Is(err, shuffle.ErrPartition) {
		t.Errorf("partition 5 of 3 buckets: %v, want ErrPartition", err)
	}
}
