package rdd_test

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func ExampleMap() {
	ctx := context.Background()
	nums := rdd.Parallelize(rdd.NewEngine(), []int{1, 2, 3, 4}, 2)
	squares := rdd.Map(nums, func(n int) int { return n * n })
	got, err := rdd.Collect(ctx, squares)
	fmt.Println(got, err)
	// Output: [1 4 9 16] <nil>
}

func ExampleReduceByKey() {
	ctx := context.Background()
	lines := rdd.Parallelize(rdd.NewEngine(), []string{"to be or", "not to be"}, 2)
	words := rdd.FlatMap(lines, strings.Fields)
	pairs := rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	counts := rdd.ReduceByKey(pairs, ops.Sum[int])
	got, err := rdd.Collect(ctx, rdd.SortByKey(counts, rdd.Ascending))
	fmt.Println(got, err)
	// Output: [(be, 2) (not, 1) (or, 1) (to, 2)] <nil>
}

func ExampleFlatMapYield() {
	ctx := context.Background()
	lines := rdd.Parallelize(rdd.NewEngine(), []string{"to be or", "not to be"}, 2)
	// The loop runs inside the function: strings.FieldsSeq's iterator is
	// not allocated per line, as it is when FlatMapSeq calls
	// strings.FieldsSeq for each line.
	words := rdd.FlatMapYield(lines, func(line string, yield func(string) bool) {
		for w := range strings.FieldsSeq(line) {
			if !yield(w) {
				return
			}
		}
	})
	got, err := rdd.Collect(ctx, words)
	fmt.Println(got, err)
	// Output: [to be or not to be] <nil>
}

func ExampleJoin() {
	ctx := context.Background()
	eng := rdd.NewEngine()
	ages := rdd.Parallelize(eng, []ops.KV[string, int]{{Key: "ann", Value: 31}, {Key: "bob", Value: 42}}, 2)
	cities := rdd.Parallelize(eng, []ops.KV[string, string]{{Key: "ann", Value: "Oslo"}, {Key: "cid", Value: "Rome"}}, 2)
	joined, err := rdd.Collect(ctx, rdd.Join(ages, cities))
	fmt.Println(joined, err)
	left, _ := rdd.Collect(ctx, rdd.LeftOuterJoin(ages, cities))
	slices.SortFunc(left, func(a, b ops.KV[string, ops.Joined[int, ops.Maybe[string]]]) int { return cmp.Compare(a.Key, b.Key) })
	fmt.Println(left)
	// Output:
	// [(ann, (31, Oslo))] <nil>
	// [(ann, (31, Some(Oslo))) (bob, (42, None))]
}

func ExampleSortBy() {
	ctx := context.Background()
	words := rdd.Parallelize(rdd.NewEngine(), []string{"pear", "fig", "banana", "kiwi"}, 2)
	byLen := rdd.SortBy(words, func(w string) int { return len(w) }, rdd.Ascending)
	got, _ := rdd.Collect(ctx, byLen)
	fmt.Println(got)
	// Output: [fig pear kiwi banana]
}

func ExampleMapPartitions() {
	ctx := context.Background()
	nums := rdd.Range(rdd.NewEngine(), 0, 10, 1, 3)
	sums := rdd.MapPartitions(nums, func(_ context.Context, part int, in iter.Seq[int64], yield func(string) bool) error {
		var sum int64
		for n := range in {
			sum += n
		}
		yield(fmt.Sprintf("partition %d: sum %d", part, sum))
		return nil
	})
	got, _ := rdd.Collect(ctx, sums)
	fmt.Println(strings.Join(got, "\n"))
	// Output:
	// partition 0: sum 6
	// partition 1: sum 15
	// partition 2: sum 24
}

func ExampleZipPartitions() {
	ctx := context.Background()
	eng := rdd.NewEngine()
	names := rdd.Parallelize(eng, []string{"ann", "bob", "cid", "dee"}, 2)
	scores := rdd.Parallelize(eng, []int{7, 9, 4, 8}, 2)
	// Partition i of names goes with partition i of scores.
	paired := rdd.ZipPartitions(names, scores, func(_ context.Context, _ int, ns iter.Seq[string], ss iter.Seq[int], yield func(string) bool) error {
		next, stop := iter.Pull(ss)
		defer stop()
		for n := range ns {
			s, _ := next()
			if !yield(fmt.Sprintf("%s=%d", n, s)) {
				return nil
			}
		}
		return nil
	})
	got, _ := rdd.Collect(ctx, paired)
	fmt.Println(got)
	// Output: [ann=7 bob=9 cid=4 dee=8]
}
