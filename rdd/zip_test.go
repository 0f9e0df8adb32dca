package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func TestZipPartitions(t *testing.T) {
	// Partition i of the result pairs partition i of each input: here, the
	// partition index, both partitions' sums and b's elements as strings.
	type out struct {
		Part, SumA int
		B          string
	}
	zip := func(a *rdd.RDD[int], b *rdd.RDD[string]) *rdd.RDD[out] {
		return rdd.ZipPartitions(a, b, func(_ context.Context, p int, as iter.Seq[int], bs iter.Seq[string], yield func(out) bool) error {
			o := out{Part: p}
			for x := range as {
				o.SumA += x
			}
			var parts []string
			for s := range bs {
				parts = append(parts, s)
			}
			o.B = strings.Join(parts, ",")
			yield(o)
			return nil
		})
	}
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		a := rdd.FromPartitions(eng, c.parts)
		b := rdd.Map(a, func(x int) string { return fmt.Sprint(-x) })
		want := make([][]out, len(c.parts))
		for p, part := range c.parts {
			o := out{Part: p}
			var bs []string
			for _, x := range part {
				o.SumA += x
				bs = append(bs, fmt.Sprint(-x))
			}
			o.B = strings.Join(bs, ",")
			want[p] = []out{o}
		}
		hCheckParts(t, zip(a, b), want)
	})
	t.Run("errors", func(t *testing.T) {
		eng := rdd.NewEngine()
		a := rdd.Parallelize(eng, []int{1, 2, 3}, 3)
		b := rdd.Map(rdd.Parallelize(eng, []int{1, 2, 3}, 2), func(x int) string { return "" })
		_, err := rdd.Collect(context.Background(), zip(a, b))
		hCheckInvalid(t, err, "rdd.ZipPartitions")
		if err != nil && !strings.Contains(err.Error(), "same partition count") {
			t.Errorf("error %q does not say the partition counts differ", err)
		}
		_, err = rdd.Collect(context.Background(), rdd.ZipPartitions[int, int, int](a, a, nil))
		hCheckInvalid(t, err, "rdd.ZipPartitions")
		_, err = rdd.Collect(context.Background(), zip(nil, b))
		hCheckInvalid(t, err, "rdd.ZipPartitions")

		boom := errors.New("boom")
		failing := rdd.ZipPartitions(a, a, func(_ context.Context, p int, _, _ iter.Seq[int], _ func(int) bool) error {
			if p == 1 {
				return boom
			}
			return nil
		})
		_, err = rdd.Collect(context.Background(), failing)
		var te *rdd.TaskError
		if !errors.As(err, &te) || te.Partition != 1 || te.Op != "rdd.ZipPartitions" || !errors.Is(err, boom) {
			t.Errorf("error = %v, want a *TaskError from rdd.ZipPartitions, partition 1, wrapping boom", err)
		}
	})
	t.Run("iterators are single-use", func(t *testing.T) {
		a := rdd.Parallelize(rdd.NewEngine(), []int{1, 2}, 1)
		twice := rdd.ZipPartitions(a, a, func(_ context.Context, _ int, as, _ iter.Seq[int], yield func(int) bool) error {
			for x := range as {
				if !yield(x) {
					return nil
				}
			}
			for x := range as {
				if !yield(x * 100) {
					return nil
				}
			}
			return nil
		})
		got, err := rdd.Collect(context.Background(), twice)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Collect", []int{1, 2}, got)
	})
}

func TestPreservesPartitioning(t *testing.T) {
	ctx := context.Background()
	eng := rdd.NewEngine()
	pairs := rdd.Parallelize(eng, []hKV{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "a", Value: 3}}, 2)
	byKey := rdd.PartitionBy(pairs, rdd.Partitions[string](3))
	// Doubling the values in place keeps every key in its partition.
	doubled := rdd.MapPartitions(byKey, func(_ context.Context, _ int, in iter.Seq[hKV], yield func(hKV) bool) error {
		for kv := range in {
			if !yield(ops.Pair(kv.Key, 2*kv.Value)) {
				return nil
			}
		}
		return nil
	})
	if wPart(doubled) != nil {
		t.Fatalf("MapPartitions kept a partitioner: %v", wPart(doubled))
	}
	marked := rdd.PreservesPartitioning(doubled, byKey)
	if wPart(marked) != wPart(byKey) {
		t.Errorf("partitioner = %v, want %v", wPart(marked), wPart(byKey))
	}
	// Reducing by key with the same partitioner needs no shuffle.
	sums := rdd.ReduceByKey(marked, ops.Sum[int], rdd.PartitionedLike(byKey))
	if strings.Contains(sums.DebugString(), "\n  +-") { // a shuffle right under ReduceByKey
		t.Errorf("ReduceByKey over a marked RDD shuffles:\n%s", sums.DebugString())
	}
	got, err := rdd.CollectAsMap(ctx, sums)
	if err != nil {
		t.Fatal(err)
	}
	hDiff(t, "sums", map[string]int{"a": 8, "b": 4}, got)

	_, err = rdd.Collect(ctx, rdd.PreservesPartitioning(doubled, pairs))
	hCheckInvalid(t, err, "rdd.PreservesPartitioning")
	other := rdd.PartitionBy(pairs, rdd.Partitions[string](2))
	_, err = rdd.Collect(ctx, rdd.PreservesPartitioning(doubled, other))
	hCheckInvalid(t, err, "rdd.PreservesPartitioning")
}

func TestZipPartitionsN(t *testing.T) {
	ctx := context.Background()
	eng := rdd.NewEngine()
	a := rdd.Parallelize(eng, []int{1, 2, 3, 4}, 2)
	b := rdd.Parallelize(eng, []int{10, 20, 30, 40}, 2)
	c := rdd.Parallelize(eng, []int{100, 200, 300, 400}, 2)
	// Partition p: the sum of each input's partition p, in argument order.
	sums := rdd.ZipPartitionsN([]*rdd.RDD[int]{a, b, c}, func(_ context.Context, p int, ins []iter.Seq[int], yield func(string) bool) error {
		var parts []string
		for _, in := range ins {
			n := 0
			for x := range in {
				n += x
			}
			parts = append(parts, fmt.Sprint(n))
		}
		yield(fmt.Sprintf("%d:%s", p, strings.Join(parts, ",")))
		return nil
	})
	hCheckParts(t, sums, [][]string{{"0:3,30,300"}, {"1:7,70,700"}})

	_, err := rdd.Collect(ctx, rdd.ZipPartitionsN([]*rdd.RDD[int]{a, rdd.Parallelize(eng, []int{1}, 1)}, func(context.Context, int, []iter.Seq[int], func(int) bool) error { return nil }))
	hCheckInvalid(t, err, "rdd.ZipPartitionsN")
	_, err = rdd.Collect(ctx, rdd.ZipPartitionsN[int, int](nil, func(context.Context, int, []iter.Seq[int], func(int) bool) error { return nil }))
	hCheckInvalid(t, err, "rdd.ZipPartitionsN")
	_, err = rdd.Collect(ctx, rdd.ZipPartitionsN[int, int]([]*rdd.RDD[int]{a}, nil))
	hCheckInvalid(t, err, "rdd.ZipPartitionsN")
}
