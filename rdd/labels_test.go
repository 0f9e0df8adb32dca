package rdd_test

import (
	"context"
	"fmt"
	"iter"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/internal/proflabels"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// Every task runs under the profiler labels of its stage's operator and its
// partition, on the goroutine that runs it (pooled or the caller's) and on the
// context user code gets; the result stage takes the operator label of the
// action's context, and the context's other labels stay.
func TestTasksRunUnderProfilerLabels(t *testing.T) {
	for _, e := range hEngines() {
		for _, caller := range []map[string]string{nil, {"operator": "test.Output", "batch": "b1"}} {
			t.Run(fmt.Sprintf("%s/%v", e.name, caller), func(t *testing.T) {
				ctx := context.Background()
				if caller != nil {
					var kv []string
					for k, v := range caller {
						kv = append(kv, k, v)
					}
					ctx = pprof.WithLabels(ctx, pprof.Labels(kv...))
				}
				want := func(op string, p int) map[string]string {
					m := map[string]string{"operator": op, "partition": strconv.Itoa(p)}
					if caller != nil {
						m["batch"] = caller["batch"]
					}
					return m
				}
				resultOp := "rdd.ForeachPartition"
				if caller != nil {
					resultOp = caller["operator"]
				}
				var mu sync.Mutex
				got := map[string]map[string]string{}
				record := func(at string, l map[string]string, err error) {
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					got[at] = l
				}
				// Partition p of the source holds p: its map task has partition label p.
				src := rdd.FromPartitions(e.eng, [][]int{{0}, {1}, {2}})
				pairs := rdd.Map(src, func(x int) ops.KV[int, int] {
					l, err := proflabels.Goroutine()
					record(fmt.Sprintf("map %d", x), l, err)
					return ops.Pair(x, x)
				})
				sums := rdd.ReduceByKey(pairs, ops.Sum[int], rdd.Partitions[int](2))
				err := rdd.ForeachPartition(ctx, sums, func(ctx context.Context, p int, in iter.Seq[ops.KV[int, int]]) error {
					for range in {
					}
					l, err := proflabels.Goroutine()
					record(fmt.Sprintf("result %d goroutine", p), l, err)
					cl := map[string]string{}
					for _, k := range []string{"operator", "partition", "batch"} {
						if v, ok := pprof.Label(ctx, k); ok {
							cl[k] = v
						}
					}
					record(fmt.Sprintf("result %d context", p), cl, nil)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				wantAll := map[string]map[string]string{}
				for p := range 3 {
					wantAll[fmt.Sprintf("map %d", p)] = want("rdd.ReduceByKey", p)
				}
				for p := range 2 {
					wantAll[fmt.Sprintf("result %d goroutine", p)] = want(resultOp, p)
					wantAll[fmt.Sprintf("result %d context", p)] = want(resultOp, p)
				}
				if diff := cmp.Diff(wantAll, got); diff != "" {
					t.Errorf("labels (-want +got):\n%s", diff)
				}
				// The caller's goroutine (which runs the tasks at parallelism 1) keeps
				// no task's labels (pprof.Do leaves it with its context's).
				l, err := proflabels.Goroutine()
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := l["partition"]; ok || l["operator"] != "" && l["operator"] != caller["operator"] {
					t.Errorf("after the action, the caller's goroutine has labels %v, want none of a task's", l)
				}
			})
		}
	}
}
