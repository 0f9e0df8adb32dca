package shuffleexec_test

import (
	"fmt"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

func ExampleTable() {
	// Map-side combine: fold the words of one map task into counts, then
	// split them into buckets for two reduce partitions.
	t := shuffleexec.NewTable[string](ops.Count[string](), 0)
	for _, w := range []string{"to", "be", "or", "not", "to", "be"} {
		t.Add(w, w)
	}
	fmt.Println(t.Pairs())
	// Keys up to "m" go to partition 0, the others to partition 1.
	b, _ := t.Split(shuffle.NewRange([]string{"m"}, shuffle.Ascending))
	for q := range b.Len() {
		fmt.Println(q, b.Chunks(q))
	}
	// Output:
	// [(to, 2) (be, 2) (or, 1) (not, 1)]
	// 0 [[(be, 2)]]
	// 1 [[(to, 2) (or, 1) (not, 1)]]
}
