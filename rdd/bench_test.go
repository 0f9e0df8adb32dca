package rdd_test

import (
	"cmp"
	"slices"
	"strconv"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// Each benchmark has a sub-benchmark "spate" and a baseline "hand" that does
// the same work with a plain loop in this process, so that the ratio of the
// two is what to read, not an absolute time.

const wBenchN = 100_000

func wBenchPairs(n, keys int) []wKV {
	data := make([]wKV, n)
	for i := range data {
		data[i] = ops.Pair("k"+strconv.Itoa((i*7919)%keys), i)
	}
	return data
}

func BenchmarkMapFilterCollect(b *testing.B) {
	data := make([]int, wBenchN)
	for i := range data {
		data[i] = i
	}
	b.Run("spate", func(b *testing.B) {
		b.ReportAllocs()
		in := rdd.Parallelize(wEng(), data, 4)
		r := rdd.Filter(rdd.Map(in, func(v int) int { return v * 3 }), func(v int) bool { return v%2 == 0 })
		for b.Loop() {
			got, err := rdd.Collect(b.Context(), r)
			if err != nil || len(got) != wBenchN/2 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got []int
			for _, v := range data {
				if v := v * 3; v%2 == 0 {
					got = append(got, v)
				}
			}
			if len(got) != wBenchN/2 {
				b.Fatal(len(got))
			}
		}
	})
}

func BenchmarkReduceByKey(b *testing.B) {
	for _, keys := range []int{100, wBenchN / 2} {
		data := wBenchPairs(wBenchN, keys)
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			b.Run("spate", func(b *testing.B) {
				b.ReportAllocs()
				r := rdd.ReduceByKey(rdd.Parallelize(wEng(), data, 4), ops.Sum[int])
				for b.Loop() {
					got, err := rdd.Collect(b.Context(), r)
					if err != nil || len(got) != keys {
						b.Fatal(len(got), err)
					}
				}
			})
			b.Run("hand", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m := map[string]int{}
					for _, kv := range data {
						m[kv.Key] += kv.Value
					}
					got := make([]wKV, 0, len(m))
					for k, v := range m {
						got = append(got, ops.Pair(k, v))
					}
					if len(got) != keys {
						b.Fatal(len(got))
					}
				}
			})
		})
	}
}

func BenchmarkJoin(b *testing.B) {
	const n = 20_000
	left := wBenchPairs(n, n)
	right := wBenchPairs(n/2, n)
	want := n / 2
	b.Run("spate", func(b *testing.B) {
		b.ReportAllocs()
		eng := wEng()
		r := rdd.Join(rdd.Parallelize(eng, left, 4), rdd.Parallelize(eng, right, 4))
		for b.Loop() {
			got, err := rdd.Collect(b.Context(), r)
			if err != nil || len(got) != want {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			byKey := map[string][]int{}
			for _, kv := range right {
				byKey[kv.Key] = append(byKey[kv.Key], kv.Value)
			}
			var got []ops.KV[string, ops.Joined[int, int]]
			for _, kv := range left {
				for _, w := range byKey[kv.Key] {
					got = append(got, ops.Pair(kv.Key, ops.Joined[int, int]{Left: kv.Value, Right: w}))
				}
			}
			if len(got) != want {
				b.Fatal(len(got))
			}
		}
	})
}

func BenchmarkSortByKey(b *testing.B) {
	data := wBenchPairs(wBenchN, wBenchN)
	b.Run("spate", func(b *testing.B) {
		b.ReportAllocs()
		r := rdd.SortByKey(rdd.Parallelize(wEng(), data, 4), rdd.Ascending)
		for b.Loop() {
			got, err := rdd.Collect(b.Context(), r)
			if err != nil || len(got) != wBenchN {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got := slices.Clone(data)
			slices.SortStableFunc(got, func(a, b wKV) int { return cmp.Compare(a.Key, b.Key) })
		}
	})
}
