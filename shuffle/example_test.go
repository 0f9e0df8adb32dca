package shuffle_test

import (
	"cmp"
	"fmt"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

func ExampleRange() {
	r := shuffle.NewRange([]int{10, 20}, true)
	for _, k := range []int{-5, 10, 11, 20, 99} {
		fmt.Printf("%d -> partition %d\n", k, r.Partition(k))
	}
	// Output:
	// -5 -> partition 0
	// 10 -> partition 0
	// 11 -> partition 1
	// 20 -> partition 1
	// 99 -> partition 2
}

func ExampleRangeBounds() {
	// A sample of keys, each standing for two records.
	var sample []shuffle.Sample[int]
	for k := 1; k <= 12; k++ {
		sample = append(sample, shuffle.Sample[int]{Key: k, Weight: 2})
	}
	bounds := shuffle.RangeBounds(sample, 3, cmp.Compare[int])
	fmt.Println(bounds)
	// Output: [4 8]
}

func ExampleTable() {
	// Map-side combine: fold the words of one map task into counts, then
	// split them into buckets for two reduce partitions.
	t := shuffle.NewTable[string](ops.Count[string](), 0)
	for _, w := range []string{"to", "be", "or", "not", "to", "be"} {
		t.Add(w, w)
	}
	fmt.Println(t.Pairs())
	// Keys up to "m" go to partition 0, the others to partition 1.
	b, _ := t.Split(shuffle.NewRange([]string{"m"}, true))
	for q := range b.Len() {
		fmt.Println(q, b.Chunks(q))
	}
	// Output:
	// [(to, 2) (be, 2) (or, 1) (not, 1)]
	// 0 [[(be, 2)]]
	// 1 [[(to, 2) (or, 1) (not, 1)]]
}
