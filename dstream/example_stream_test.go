package dstream_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/ops"
)

// byKey sorts a batch's pairs by key, to print them: they come in no
// particular order.
func byKey[V any](kvs []ops.KV[string, V]) []ops.KV[string, V] {
	slices.SortFunc(kvs, func(a, b ops.KV[string, V]) int { return strings.Compare(a.Key, b.Key) })
	return kvs
}

// ones pairs each word of a stream of words with 1.
func ones(words *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
	return dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
}

func ExampleWindow() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	nums, q := dstreamtest.Input[int](d.Context())
	// The last three batches, every second batch.
	windows := dstreamtest.Collect(dstream.Window(nums, 3*time.Second, 2*time.Second))
	for i := range 5 {
		q.Push([]int{i + 1})
		b, _ := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), windows.At(b.Time))
	}
	// Output:
	// 00:00:01 []
	// 00:00:02 [1 2]
	// 00:00:03 []
	// 00:00:04 [2 3 4]
	// 00:00:05 []
}

func ExampleReduceByKeyAndWindowInv() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	words, _ := dstreamtest.Input(d.Context(), []string{"go", "zig"}, []string{"go"}, nil, nil)
	// Counts over the last two batches: each batch adds the batch that
	// enters and subtracts the one that leaves. keep drops the words
	// counted down to zero.
	counts := dstreamtest.Collect(dstream.ReduceByKeyAndWindowInv(ones(words), ops.SumInv[int](),
		2*time.Second, time.Second, func(kv ops.KV[string, int]) bool { return kv.Value > 0 }))
	for range 4 {
		b, _ := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(counts.At(b.Time)))
	}
	// Output:
	// 00:00:01 [(go, 1) (zig, 1)]
	// 00:00:02 [(go, 2) (zig, 1)]
	// 00:00:03 [(go, 1)]
	// 00:00:04 []
}

func ExampleUpdateStateByKey() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	words, _ := dstreamtest.Input(d.Context(), []string{"go", "zig", "go"}, nil, []string{"zig"})
	// A running count per word, kept across batches.
	counts := dstreamtest.Collect(dstream.UpdateStateByKey(ones(words),
		func(values []int, count ops.Maybe[int]) ops.Maybe[int] {
			return ops.Some(count.OrElse(0) + len(values))
		}))
	for range 3 {
		b, _ := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(counts.At(b.Time)))
	}
	// Output:
	// 00:00:01 [(go, 2) (zig, 1)]
	// 00:00:02 [(go, 2) (zig, 1)]
	// 00:00:03 [(go, 2) (zig, 2)]
}

func ExampleMapWithState() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	deposits, _ := dstreamtest.Input(d.Context(),
		[]ops.KV[string, int]{{Key: "ann", Value: 5}, {Key: "bob", Value: 3}},
		[]ops.KV[string, int]{{Key: "ann", Value: 2}})
	// Each deposit is mapped to the balance after it; the balances are the
	// state.
	balances, _ := dstream.MapWithState(deposits, dstream.NewStateSpec(func(_ time.Time, who string, deposit ops.Maybe[int], balance *dstream.State[int]) ops.Maybe[string] {
		b, _ := balance.Get()
		b += deposit.OrElse(0)
		if err := balance.Update(b); err != nil {
			return ops.None[string]()
		}
		return ops.Some(fmt.Sprintf("%s has %d", who, b))
	}))
	out := dstreamtest.Collect(balances)
	for range 2 {
		b, _ := d.Step()
		got := out.At(b.Time)
		slices.Sort(got)
		fmt.Println(b.Time.Format(time.TimeOnly), got)
	}
	// Output:
	// 00:00:01 [ann has 5 bob has 3]
	// 00:00:02 [ann has 7]
}

func ExampleGetOrCreate() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	// run runs a word count that checkpoints into dir, from the clock's
	// time, for one batch of words.
	run := func(clock *dstreamtest.ManualClock, words []string) {
		var counts *dstreamtest.Output[ops.KV[string, int]]
		c, err := dstream.GetOrCreate(dir, func(c *dstream.Context) error {
			in, _ := dstreamtest.Input(c, words)
			counts = dstreamtest.Collect(dstream.UpdateStateByKey(ones(in),
				func(values []int, count ops.Maybe[int]) ops.Maybe[int] {
					return ops.Some(count.OrElse(0) + len(values))
				}))
			return nil
		}, dstream.BatchInterval(time.Second), dstream.CheckpointInterval(time.Second), dstream.WithClock(clock))
		if err != nil {
			fmt.Println(err)
			return
		}
		d := dstreamtest.Drive(c, clock)
		defer d.Close()
		b, err := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(counts.At(b.Time)), err)
		fmt.Println(d.Stop())
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run(dstreamtest.NewManualClock(start), []string{"go", "zig"})
	// A second process resumes from the checkpoint, with the counts.
	run(dstreamtest.NewManualClock(start.Add(time.Second)), []string{"go"})
	// Output:
	// 00:00:01 [(go, 1) (zig, 1)] <nil>
	// <nil>
	// 00:00:02 [(go, 2) (zig, 1)] <nil>
	// <nil>
}
