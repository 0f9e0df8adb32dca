package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// unionBench measures a ReduceByKey over the union of 300 small RDDs of two
// partitions each (600 partitions, 100k string-keyed records over 10k keys;
// what a queue batch of many pushes looks like): with the default
// partitioning against the same ReduceByKey with Partitions(2), interleaved
// in one run. A shuffle whose cost grows with partitions² shows as a large
// ratio. It prints
//
//	union: rdds=300 spate_ms=<ms> parts2_ms=<ms> ratio=<spate/parts2> spate_alloc_mb=<MB> parts2_alloc_mb=<MB>
//
// (medians of the rounds; alloc_mb is the heap allocated by one run).
func unionBench(scale float64, rounds int) (string, error) {
	const nrdds = 300
	nrecs, nkeys := max(int(100_000*scale), 3*nrdds), max(int(10_000*scale), 100)
	rng := rand.New(rand.NewPCG(7, 8))
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%06d", i)
	}
	eng := rdd.NewEngine(rdd.Parallelism(2))
	parts := make([]*rdd.RDD[ops.KV[string, int]], nrdds)
	for i := range parts {
		recs := make([]ops.KV[string, int], nrecs/nrdds)
		for j := range recs {
			recs[j] = ops.Pair(keys[rng.IntN(nkeys)], 1)
		}
		parts[i] = rdd.Parallelize(eng, recs, 2)
	}
	in := rdd.Union(parts...)
	want := nrecs / nrdds * nrdds
	ctx := context.Background()
	run := func(opts ...rdd.ShuffleOpt[string]) (time.Duration, uint64, error) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		sums, err := rdd.Collect(ctx, rdd.ReduceByKey(in, ops.Sum[int], opts...))
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			return 0, 0, err
		}
		return d, after.TotalAlloc - before.TotalAlloc, checkPairs(sums, want)
	}
	var ts, tp []time.Duration
	var as, ap []uint64
	for i := range rounds + 1 {
		d1, a1, err := run()
		if err != nil {
			return "", err
		}
		d2, a2, err := run(rdd.Partitions[string](2))
		if err != nil {
			return "", err
		}
		if i > 0 { // the first round warms up
			ts, tp = append(ts, d1), append(tp, d2)
			as, ap = append(as, a1), append(ap, a2)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	s, p := median(ts), median(tp)
	return fmt.Sprintf("union: rdds=%d spate_ms=%.1f parts2_ms=%.1f ratio=%.2f spate_alloc_mb=%.1f parts2_alloc_mb=%.1f",
		nrdds, ms(s), ms(p), float64(s)/float64(p), mb(medianOf(as)), mb(medianOf(ap))), nil
}

// medianOf returns the median of s.
func medianOf[T cmp.Ordered](s []T) T {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2]
}
