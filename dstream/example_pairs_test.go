package dstream_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/ops"
)

func ExampleReduceByKey() {
	d := dstreamtest.NewDriver() // a Context on a manual clock, run batch by batch
	defer d.Close()
	lines, _ := dstreamtest.Input(d.Context(), []string{"to be or", "not to be"}, nil, []string{"be quick"})
	words := dstream.FlatMap(lines, strings.Fields)
	counts := dstreamtest.Collect(dstream.ReduceByKey(ones(words), ops.Sum[int]))
	for range 3 {
		b, _ := d.Step()
		// A batch's pairs come in no particular order: byKey sorts them.
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(counts.At(b.Time)))
	}
	// Output:
	// 00:00:01 [(be, 2) (not, 1) (or, 1) (to, 2)]
	// 00:00:02 []
	// 00:00:03 [(be, 1) (quick, 1)]
}

func ExampleMapValues() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	orders, _ := dstreamtest.Input(d.Context(), []ops.KV[string, string]{{Key: "ann", Value: "3 apples"}, {Key: "bob", Value: "10 pears"}})
	// The keys stay where they are: a keyed stream stays partitioned by key.
	lengths := dstreamtest.Collect(dstream.MapValues(orders, func(s string) int { return len(s) }))
	b, _ := d.Step()
	fmt.Println(byKey(lengths.At(b.Time)))
	// Output:
	// [(ann, 8) (bob, 8)]
}

func ExampleReduceByKeyAndWindow() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	words, _ := dstreamtest.Input(d.Context(), []string{"go", "rust"}, []string{"go"}, []string{"zig", "zig"})
	// Counts over the last two batches, every batch.
	counts := dstreamtest.Collect(dstream.ReduceByKeyAndWindow(ones(words), ops.Sum[int], 2*time.Second, time.Second))
	for range 4 {
		b, _ := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(counts.At(b.Time)))
	}
	// Output:
	// 00:00:01 [(go, 1) (rust, 1)]
	// 00:00:02 [(go, 2) (rust, 1)]
	// 00:00:03 [(go, 1) (zig, 2)]
	// 00:00:04 [(zig, 2)]
}
