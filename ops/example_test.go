package ops_test

import (
	"fmt"

	"github.com/spatedev/spate/ops"
)

func ExampleMean() {
	agg := ops.Mean[int]()
	// Two partitions of one key's values, each combined locally, then merged.
	left := agg.MergeValue(agg.Create(4), 8)
	right := agg.Create(3)
	total := agg.MergeCombiners(left, right)
	fmt.Println(total.Sum, total.Count, total.Mean())
	// Output: 15 3 5
}

func ExampleSumInv() {
	r := ops.SumInv[int]()
	window := 0
	for _, batch := range []int{5, 7, 2} {
		window = r.Reduce(window, batch)
	}
	// The first batch leaves the window.
	window = r.Inverse(window, 5)
	fmt.Println(window)
	// Output: 9
}

func ExampleMaybe() {
	found, missing := ops.Some("Oslo"), ops.None[string]()
	fmt.Println(found, missing, missing.OrElse("unknown"))
	fmt.Println(ops.Pair("ann", ops.Joined[int, ops.Maybe[string]]{Left: 31, Right: found}))
	// Output:
	// Some(Oslo) None unknown
	// (ann, (31, Some(Oslo)))
}
