package rdd_test

import (
	"cmp"
	"fmt"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// TestDefaultPartitionsBounded checks the default partition count of the
// wide operators: that of the input with the most partitions, but at most
// 4 times the engine's parallelism, so that a shuffle over the union of
// many small RDDs does not make partitions² buckets.
func TestDefaultPartitionsBounded(t *testing.T) {
	eng := rdd.NewEngine(rdd.Parallelism(2)) // bound: 8
	// many is the union of 150 RDDs of 2 partitions: 300 partitions.
	var parts []*rdd.RDD[wKV]
	want := map[string]int{}
	for i := range 150 {
		k := fmt.Sprint("k", i%40)
		parts = append(parts, rdd.Parallelize(eng, []wKV{ops.Pair(k, 1), ops.Pair(k, 2)}, 2))
		want[k] += 3
	}
	many := rdd.Union(parts...)
	few := rdd.Parallelize(eng, []wKV{ops.Pair("k1", 1)}, 3)
	tests := []struct {
		name string
		r    interface{ NumPartitions() int }
		want int
	}{
		{"ReduceByKey", rdd.ReduceByKey(many, ops.Sum[int]), 8},
		{"GroupByKey", rdd.GroupByKey(many), 8},
		{"Distinct", rdd.Distinct(many), 8},
		{"PartitionBy", rdd.PartitionBy(many), 8},
		{"SortByKey", rdd.SortByKey(many, rdd.Ascending), 8},
		{"Join", rdd.Join(many, few), 8},
		{"CoGroup, small first", rdd.CoGroup(few, many), 8},
		{"fewer partitions than the bound", rdd.ReduceByKey(few, ops.Sum[int]), 3},
		{"Partitions above the bound", rdd.ReduceByKey(many, ops.Sum[int], rdd.Partitions[string](100)), 100},
		{"WithPartitioner above the bound", rdd.ReduceByKey(many, ops.Sum[int], rdd.WithPartitioner(shuffle.NewHash[string](50))), 50},
	}
	for _, tt := range tests {
		if got := tt.r.NumPartitions(); got != tt.want {
			t.Errorf("%s: %d partitions, want %d", tt.name, got, tt.want)
		}
	}
	got := map[string]int{}
	for _, kv := range wCollect(t, rdd.ReduceByKey(many, ops.Sum[int])) {
		got[kv.Key] = kv.Value
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sums %v, want %v", got, want)
	}
}

// TestDefaultKeepsTheInputPartitioner checks co-partitioning under the
// bounded default: a keyed operator keeps a partitioner its input already
// has, whatever its partition count, and does not shuffle that input again.
func TestDefaultKeepsTheInputPartitioner(t *testing.T) {
	eng := rdd.NewEngine(rdd.Parallelism(2)) // bound: 8
	var data []wKV
	for i := range 500 {
		data = append(data, ops.Pair(fmt.Sprint("k", i%70), i))
	}
	in := rdd.Parallelize(eng, data, 4)
	wide := rdd.PartitionBy(in, rdd.Partitions[string](20)) // more than the bound
	custom := rdd.PartitionBy(in, rdd.WithPartitioner(wStrPart(5)))
	if rdd.PartitionBy(wide) != wide {
		t.Errorf("PartitionBy with the default over an input partitioned by 20 hash partitions is not the input")
	}
	tests := []struct {
		name  string
		r     *rdd.RDD[wKV]
		like  *rdd.RDD[wKV]
		parts int
	}{
		{"ReduceByKey after PartitionBy(20)", rdd.ReduceByKey(wide, ops.Sum[int]), wide, 20},
		{"ReduceByKey after a custom partitioner", rdd.ReduceByKey(custom, ops.Sum[int]), custom, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := wDirectShuffles(tt.r.DebugString()); n != 0 {
				t.Errorf("%d shuffles, want none:\n%s", n, tt.r.DebugString())
			}
			if tt.r.NumPartitions() != tt.parts || !wSame(wPart(tt.r), wPart(tt.like)) {
				t.Errorf("%d partitions by %v, want %d by the input's %v", tt.r.NumPartitions(), wPart(tt.r), tt.parts, wPart(tt.like))
			}
			p := wPart(tt.r)
			wCheckPlaced(t, wParts(t, tt.r), p)
		})
	}
	if g := rdd.GroupByKey(wide); wDirectShuffles(g.DebugString()) != 0 || g.NumPartitions() != 20 {
		t.Errorf("GroupByKey after PartitionBy(20): %d partitions:\n%s", g.NumPartitions(), g.DebugString())
	}
	// A join of the 20-partition input with an unpartitioned one keeps the
	// 20 partitions and shuffles only the other side.
	j := rdd.Join(wide, in)
	if n := wDirectShuffles(j.DebugString()); n != 1 || j.NumPartitions() != 20 {
		t.Errorf("Join: %d partitions, %d shuffles, want 20 and 1:\n%s", j.NumPartitions(), n, j.DebugString())
	}
	sums := wCollect(t, rdd.ReduceByKey(custom, ops.Sum[int]))
	want := wCollect(t, rdd.ReduceByKey(in, ops.Sum[int]))
	byKey := func(a, b wKV) int { return cmp.Compare(a.Key, b.Key) }
	if d := wDiff(want, sums, byKey); d != "" {
		t.Error(d)
	}
}
