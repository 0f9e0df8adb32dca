package dstreamtest_test

import (
	"fmt"
	"strings"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
)

func ExampleDriver() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	lines, q := dstreamtest.Input[string](d.Context())
	words := dstreamtest.Collect(dstream.FlatMap(lines, strings.Fields))

	// Feed a batch, run it, read its output: one batch at a time.
	for _, in := range []string{"to be", "", "or not"} {
		q.Push([]string{in})
		t, err := d.Step()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(t.Format("15:04:05"), words.At(t))
	}
	fmt.Println(d.Stop())
	// Output:
	// 00:00:01 [to be]
	// 00:00:02 []
	// 00:00:03 [or not]
	// <nil>
}
