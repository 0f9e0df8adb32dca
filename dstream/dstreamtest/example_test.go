package dstreamtest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/rdd"
)

func ExampleDriver() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	lines, q := dstreamtest.Input[string](d.Context())
	words := dstreamtest.Collect(dstream.FlatMap(lines, strings.Fields))

	// Feed a batch, run it, read its output: one batch at a time.
	for _, in := range []string{"to be", "", "or not"} {
		q.Push([]string{in})
		b, err := d.Step()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(b.Time.Format(time.TimeOnly), words.At(b.Time))
	}
	fmt.Println(d.Stop())
	// Output:
	// 00:00:01 [to be]
	// 00:00:02 []
	// 00:00:03 [or not]
	// <nil>
}

// ticks is a custom source: each batch holds one element, the second of
// the batch time.
type ticks struct{ eng *rdd.Engine }

func (ticks) Start(context.Context) error { return nil }
func (ticks) Stop() error                 { return nil }
func (s ticks) Batch(_ context.Context, t time.Time) (*rdd.RDD[int], dstream.InputInfo, error) {
	return rdd.Parallelize(s.eng, []int{t.Second()}, 1), dstream.InputInfo{Records: 1}, nil
}

// A Driver runs a stream of any source, here one of the test's own.
func ExampleDriver_customSource() {
	d := dstreamtest.NewDriver(dstreamtest.Interval(2 * time.Second))
	defer d.Close()
	c := d.Context()
	in := dstream.FromSource[int](c, "ticks", ticks{c.Engine()})
	sums := dstreamtest.Collect(dstream.Reduce(dstream.Window(in, 4*time.Second, 2*time.Second), func(a, b int) int { return a + b }))
	for range 3 {
		b, err := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), sums.At(b.Time), err)
	}
	// Output:
	// 00:00:02 [2] <nil>
	// 00:00:04 [6] <nil>
	// 00:00:06 [10] <nil>
}
