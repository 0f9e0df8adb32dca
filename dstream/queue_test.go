package dstream_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// TestQueueBatchOfManyPushes takes every queued item as one batch: however
// many pushes it holds, the batch has at most the engine's parallelism
// partitions (a union of every push's partitions made thousands), with
// every element, the pushed slices' first in push order, and its record
// count when known.
func TestQueueBatchOfManyPushes(t *testing.T) {
	h := newHarness(t) // engine parallelism 2
	eng := h.c.Engine()
	tests := []struct {
		name    string
		push    func(q *dstream.Queue[int])
		want    []int // in order
		records int64
	}{
		{"1000 slices", func(q *dstream.Queue[int]) {
			for i := range 1000 {
				q.Push([]int{i})
			}
		}, seq(0, 1000), 1000},
		{"one slice", func(q *dstream.Queue[int]) { q.Push(seq(0, 10)) }, seq(0, 10), 10},
		{"RDDs and slices", func(q *dstream.Queue[int]) {
			for i := range 10 {
				q.PushRDD(rdd.Parallelize(eng, seq(i*10, i*10+10), 3))
				q.Push([]int{1000 + i})
			}
		}, append(seq(1000, 1010), seq(0, 100)...), -1},
		{"RDDs", func(q *dstream.Queue[int]) {
			for i := range 10 {
				q.PushRDD(rdd.Parallelize(eng, seq(i*10, i*10+10), 3))
			}
		}, seq(0, 100), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, q := dstream.QueueStream[int](h.c, dstream.AllAtOnce)
			tt.push(q)
			r, info, err := q.Batch(t.Context(), epoch.Add(interval))
			if err != nil {
				t.Fatal(err)
			}
			if r.NumPartitions() > eng.Parallelism() {
				t.Errorf("the batch has %d partitions, want at most %d", r.NumPartitions(), eng.Parallelism())
			}
			got, err := rdd.Collect(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("elements (-want +got):\n%s", diff)
			}
			if info.Records != tt.records {
				t.Errorf("Records = %d, want %d", info.Records, tt.records)
			}
			if q.Len() != 0 {
				t.Errorf("%d items still queued", q.Len())
			}
		})
	}
	// A batch of one pushed RDD is that RDD, partitions and partitioner
	// kept.
	_, q := dstream.QueueStream[ops.KV[int, int]](h.c, dstream.AllAtOnce)
	pushed := rdd.PartitionBy(rdd.Parallelize(eng, []ops.KV[int, int]{ops.Pair(1, 1), ops.Pair(2, 2)}, 1), rdd.Partitions[int](5))
	q.PushRDD(pushed)
	if r, _, err := q.Batch(t.Context(), epoch.Add(interval)); err != nil || r != pushed {
		t.Errorf("Batch of one pushed RDD = %v, %v; want the pushed %v", r, err, pushed)
	}
}

// seq returns lo, lo+1, …, hi-1.
func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}
