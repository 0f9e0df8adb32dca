package shuffleexec_test

import (
	"strconv"
	"testing"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

const benchN = 10_000

func BenchmarkHashPartition(b *testing.B) {
	strs := make([]string, benchN)
	ints := make([]int, benchN)
	pts := make([]point, benchN)
	for i := range strs {
		strs[i] = "key-" + strconv.Itoa(i)
		ints[i] = i
		pts[i] = point{X: i, Y: -i, Tag: "t"}
	}
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		h := shuffle.NewHash[string](16)
		sum := 0
		for b.Loop() {
			for _, k := range strs {
				sum += h.Partition(k)
			}
		}
		_ = sum
	})
	b.Run("int", func(b *testing.B) {
		b.ReportAllocs()
		h := shuffle.NewHash[int](16)
		sum := 0
		for b.Loop() {
			for _, k := range ints {
				sum += h.Partition(k)
			}
		}
		_ = sum
	})
	b.Run("struct", func(b *testing.B) {
		b.ReportAllocs()
		h := shuffle.NewHash[point](16)
		sum := 0
		for b.Loop() {
			for _, k := range pts {
				sum += h.Partition(k)
			}
		}
		_ = sum
	})
	// Baseline: a plain modulo, the least any partitioner can cost.
	b.Run("int-mod-baseline", func(b *testing.B) {
		b.ReportAllocs()
		sum := 0
		for b.Loop() {
			for _, k := range ints {
				sum += k % 16
			}
		}
		_ = sum
	})
}

func BenchmarkTableAdd(b *testing.B) {
	for _, keys := range []int{100, benchN} {
		data := make([]string, benchN)
		for i := range data {
			data[i] = "k" + strconv.Itoa(i%keys)
		}
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			b.Run("table", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					t := shuffleexec.NewTable[string](ops.Reducing(ops.Sum[int]), 0)
					for i, k := range data {
						t.Add(k, i)
					}
				}
			})
			b.Run("map-baseline", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m := map[string]int{}
					for i, k := range data {
						m[k] += i
					}
				}
			})
		})
	}
}

func BenchmarkMapSide(b *testing.B) {
	for _, keys := range []int{100, 4 * shuffleexec.CheckAfter} {
		data := make([]int, 2*shuffleexec.CheckAfter)
		for i := range data {
			data[i] = (i * 7919) % keys
		}
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			b.ReportAllocs()
			part := shuffle.NewHash[int](8)
			agg := ops.Reducing(ops.Sum[int])
			for b.Loop() {
				m := shuffleexec.NewMapSide(agg, part)
				for _, k := range data {
					_ = m.Add(k, 1)
				}
				out, err := m.Finish()
				if err != nil {
					b.Fatal(err)
				}
				outs := []*shuffleexec.MapOutput[int, int, int]{out}
				for q := range 8 {
					if _, err := shuffleexec.Reduce(agg, outs, q, nil, func() error { return nil }, func(ops.KV[int, int]) bool { return true }); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkManySmallMapTasks runs 600 map tasks of 200 records each (over
// 10k keys) into 8 or 600 output partitions, then every reduce task: a
// per-partition cost in each map task (a fixed-size sketch per bucket)
// shows as partitions² in the 600 case.
func BenchmarkManySmallMapTasks(b *testing.B) {
	const tasks, per = 600, 200
	agg := ops.Reducing(ops.Sum[int])
	for _, n := range []int{8, 600} {
		b.Run("partitions="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			part := shuffle.NewHash[int](n)
			outs := make([]*shuffleexec.MapOutput[int, int, int], tasks)
			for b.Loop() {
				for j := range outs {
					m := shuffleexec.NewMapSide(agg, part)
					for i := range per {
						_ = m.Add((j*per+i*7919)%10_000, 1)
					}
					var err error
					if outs[j], err = m.Finish(); err != nil {
						b.Fatal(err)
					}
				}
				for q := range n {
					if _, err := shuffleexec.Reduce(agg, outs, q, nil, func() error { return nil }, func(ops.KV[int, int]) bool { return true }); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
