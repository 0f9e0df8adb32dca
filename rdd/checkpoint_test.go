package rdd_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func TestLocalCheckpointCutsLineageAndKeepsPartitioner(t *testing.T) {
	ctx := context.Background()
	eng := rdd.NewEngine(rdd.Parallelism(2))
	var calls atomic.Int64
	pairs := rdd.Map(rdd.Parallelize(eng, []string{"a", "b", "a", "c"}, 2), func(w string) ops.KV[string, int] {
		calls.Add(1)
		return ops.Pair(w, 1)
	})
	counts := rdd.ReduceByKey(pairs, ops.Sum[int], rdd.Partitions[string](3))
	cp, err := rdd.LocalCheckpoint(ctx, counts)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 {
		t.Fatalf("checkpointing computed %d elements, want 4", calls.Load())
	}
	want, _ := rdd.CollectPartitions(ctx, counts)
	calls.Store(0)
	got, err := rdd.CollectPartitions(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("partitions (-want +got):\n%s", diff)
	}
	if calls.Load() != 0 {
		t.Errorf("reading the checkpoint recomputed %d elements", calls.Load())
	}
	if wPart(cp) != wPart(counts) || cp.NumPartitions() != 3 {
		t.Errorf("checkpoint partitioner %v over %d partitions, want %v over 3", wPart(cp), cp.NumPartitions(), wPart(counts))
	}
	if strings.Contains(cp.DebugString(), "rdd.Map") {
		t.Errorf("checkpoint keeps its lineage:\n%s", cp.DebugString())
	}
	// A join with an RDD partitioned like the checkpoint shuffles neither.
	other := rdd.PartitionBy(rdd.Parallelize(eng, []ops.KV[string, string]{{Key: "a", Value: "x"}}, 1), rdd.PartitionedLike(cp))
	joined := rdd.Join(cp, other, rdd.PartitionedLike(cp))
	if strings.Contains(joined.DebugString(), "\n  +-") { // a shuffle right under the join
		t.Errorf("co-partitioned join shuffles:\n%s", joined.DebugString())
	}
	j, err := rdd.Collect(ctx, joined)
	if err != nil || len(j) != 1 || j[0].Value.Left != 2 {
		t.Errorf("join = %v, %v; want [(a, (2, x))]", j, err)
	}
}

func TestLocalCheckpointReportsErrors(t *testing.T) {
	bad := rdd.Map[int, int](rdd.Parallelize(rdd.NewEngine(), []int{1}, 1), nil)
	if _, err := rdd.LocalCheckpoint(context.Background(), bad); err == nil {
		t.Fatal("LocalCheckpoint of an invalid RDD succeeded")
	}
}

func TestComputedAndLocalCheckpointOfAComputedRDD(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	r := rdd.Map(rdd.Parallelize(rdd.NewEngine(), []int{1, 2, 3, 4}, 2), func(x int) int {
		calls.Add(1)
		return x * 10
	})
	if r.Computed() {
		t.Error("an RDD that is not persisted reports Computed")
	}
	r.Persist()
	if _, err := rdd.Take(ctx, r, 1); err != nil { // computes partition 0 only
		t.Fatal(err)
	}
	if r.Computed() {
		t.Error("Computed with one of two partitions kept")
	}
	if _, err := rdd.Count(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !r.Computed() {
		t.Fatal("not Computed after Count over a persisted RDD")
	}
	calls.Store(0)
	cp, err := rdd.LocalCheckpoint(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rdd.CollectPartitions(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]int{{10, 20}, {30, 40}}, got); diff != "" {
		t.Errorf("partitions (-want +got):\n%s", diff)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("checkpointing a computed RDD ran the function %d times, want 0", n)
	}
	r.Unpersist()
	if r.Computed() {
		t.Error("Computed after Unpersist")
	}
	if got, _ := rdd.Collect(ctx, cp); len(got) != 4 {
		t.Errorf("the checkpoint lost its data when the source was unpersisted: %v", got)
	}
}
