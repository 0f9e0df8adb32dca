package shuffle_test

import (
	"cmp"
	"fmt"

	"github.com/spatedev/spate/shuffle"
)

func ExampleRange() {
	r := shuffle.NewRange([]int{10, 20}, shuffle.Ascending)
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
