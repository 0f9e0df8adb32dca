package dstream_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func ExampleUpdateStateByKeyWith() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	words, _ := dstreamtest.Input(d.Context(), []string{"go", "spark", "go"}, nil, []string{"spark"})

	// Each word's count and the batch it was last seen at, starting from the
	// counts of an earlier job.
	type seen struct {
		Count int
		Last  string
	}
	earlier := rdd.Parallelize(d.Context().Engine(), []ops.KV[string, seen]{{Key: "go", Value: seen{10, "yesterday"}}}, 1)
	counts := dstream.UpdateStateByKeyWith(ones(words), dstream.NewUpdateSpec(func(t time.Time, _ string, values []int, old ops.Maybe[seen]) ops.Maybe[seen] {
		st := old.OrElse(seen{})
		if len(values) > 0 {
			st.Count += len(values)
			st.Last = t.Format(time.TimeOnly)
		}
		return ops.Some(st)
	}).InitialState(earlier))
	out := dstreamtest.Collect(counts)
	for range 3 {
		b, _ := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(out.At(b.Time)))
	}
	// Output:
	// 00:00:01 [(go, {12 00:00:01}) (spark, {1 00:00:01})]
	// 00:00:02 [(go, {12 00:00:01}) (spark, {1 00:00:01})]
	// 00:00:03 [(go, {12 00:00:01}) (spark, {2 00:00:03})]
}

func ExampleUpdateStateByKeyWith_partitionFunc() {
	d := dstreamtest.NewDriver()
	defer d.Close()
	clicks, _ := dstreamtest.Input(d.Context(),
		[]ops.KV[string, int]{{Key: "ann", Value: 1}, {Key: "bob", Value: 2}},
		[]ops.KV[string, int]{{Key: "ann", Value: 3}},
		[]ops.KV[string, int]{{Key: "bob", Value: 1}})

	// Clicks per session: a user's session ends with the first batch without
	// clicks. The function runs once per state partition and batch: the place
	// for per-partition set-up, such as one connection for the partition's
	// keys.
	sessions := dstream.UpdateStateByKeyWith(clicks, dstream.NewPartitionUpdateSpec(func(ctx context.Context, _ time.Time, _ int, users iter.Seq[dstream.StateInput[string, int, int]], yield func(ops.KV[string, int]) bool) error {
		for u := range users {
			if len(u.Values) == 0 {
				continue // not yielded: the key is dropped
			}
			total := u.State.OrElse(0)
			for _, n := range u.Values {
				total += n
			}
			if !yield(ops.Pair(u.Key, total)) {
				return nil // the update has failed (a key twice): the batch fails
			}
		}
		return nil
	}), rdd.Partitions[string](4))
	out := dstreamtest.Collect(sessions)
	for range 3 {
		b, _ := d.Step()
		fmt.Println(b.Time.Format(time.TimeOnly), byKey(out.At(b.Time)))
	}
	// Output:
	// 00:00:01 [(ann, 1) (bob, 2)]
	// 00:00:02 [(ann, 4)]
	// 00:00:03 [(bob, 1)]
}
