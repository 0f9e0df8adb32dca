package dstream_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// statefulCase is a stateful operator over word pairs and the counts its
// output holds after batch k of windowInput (1-based).
type statefulCase struct {
	name  string
	build func(*dstream.DStream[kv]) *dstream.DStream[kv]
	want  func(k int) map[string]int
}

// statefulCases are running word counts kept by UpdateStateByKey and
// MapWithState (its snapshots), and counts over a window of 3 batches kept
// by ReduceByKeyAndWindowInv.
func statefulCases() []statefulCase {
	running := func(k int) map[string]int { return countWords(windowInput[:k]) }
	return []statefulCase{
		{"UpdateStateByKey", func(s *dstream.DStream[kv]) *dstream.DStream[kv] {
			return dstream.UpdateStateByKey(s, sumUpdate)
		}, running},
		{"MapWithState", func(s *dstream.DStream[kv]) *dstream.DStream[kv] {
			_, snaps := dstream.MapWithState(s, dstream.NewStateSpec(func(_ time.Time, _ string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
				n, _ := st.Get()
				_ = st.Update(n + v.Value)
				return ops.None[int]()
			}))
			return snaps
		}, running},
		{"ReduceByKeyAndWindowInv", func(s *dstream.DStream[kv]) *dstream.DStream[kv] {
			return dstream.ReduceByKeyAndWindowInv(s, ops.SumInv[int](), 3*interval, interval,
				func(p kv) bool { return p.Value != 0 })
		}, func(k int) map[string]int { return countWords(windowOf(windowInput, k, 3)) }},
	}
}

// TestStateCoPartitionedWithWideBatches runs the stateful operators over
// batches of 30 partitions on an engine of parallelism 2: their state takes
// the default partition count (at most 4 times the parallelism, not the
// batch's 30), keeps the same partitioner every batch (the state is never
// shuffled: each batch is partitioned like it), and the results are right.
func TestStateCoPartitionedWithWideBatches(t *testing.T) {
	const maxParts = 8 // 4 × the harness engine's parallelism
	for _, tt := range statefulCases() {
		t.Run(tt.name, func(t *testing.T) {
			var first shuffle.Partitioner[string]
			got := runBatches(t, windowInput, func(s *dstream.DStream[string]) *dstream.DStream[kv] {
				wide := dstream.Transform(s, func(r *rdd.RDD[string], _ time.Time) *rdd.RDD[string] { return rdd.Repartition(r, 30) })
				pairs := dstream.Map(wide, func(w string) kv { return ops.Pair(w, 1) })
				return dstream.Transform(tt.build(pairs), func(r *rdd.RDD[kv], bt time.Time) *rdd.RDD[kv] {
					p, _ := rdd.PartitionerOf(r)
					if first == nil {
						first = p
					}
					// The same partitioner, or an equal one (see shuffle.Partitioner's Equal).
					if r.NumPartitions() > maxParts || p == nil || !p.Equal(first) {
						t.Errorf("batch %v: %d partitions by %v, want at most %d by the first batch's %v",
							bt, r.NumPartitions(), p, maxParts, first)
					}
					return r
				})
			})
			for k := 1; k <= len(windowInput); k++ {
				if diff := cmp.Diff(tt.want(k), pairsToMap(got[k])); diff != "" {
					t.Errorf("batch %d (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}
