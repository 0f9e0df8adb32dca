package rdd_test

import (
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// BenchmarkReduceByKeyOverUnion reduces the union of 300 RDDs of 2
// partitions (600 in all, wBenchN pairs): with the default partitioning
// ("default") and with Partitions(2) ("parts2"). Read the ratio of the two:
// a shuffle whose cost grows with partitions² makes "default" far slower.
func BenchmarkReduceByKeyOverUnion(b *testing.B) {
	eng := rdd.NewEngine(rdd.Parallelism(2))
	data := wBenchPairs(wBenchN, 10_000)
	const n = 300
	parts := make([]*rdd.RDD[wKV], n)
	for i := range parts {
		parts[i] = rdd.Parallelize(eng, data[i*len(data)/n:(i+1)*len(data)/n], 2)
	}
	in := rdd.Union(parts...)
	for _, c := range []struct {
		name string
		opts []rdd.ShuffleOpt[string]
	}{{"default", nil}, {"parts2", []rdd.ShuffleOpt[string]{rdd.Partitions[string](2)}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			r := rdd.ReduceByKey(in, ops.Sum[int], c.opts...)
			for b.Loop() {
				got, err := rdd.Collect(b.Context(), r)
				if err != nil || len(got) != 10_000 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}
