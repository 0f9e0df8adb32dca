package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func TestMapWithState(t *testing.T) {
	const timeout = 2 * interval
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, true, windowInput...)
	pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	initial := rdd.Parallelize(h.c.Engine(), []ops.KV[string, int]{{Key: "z", Value: 10}}, 1)
	var mu sync.Mutex // Func runs in parallel tasks
	var updateErr error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		updateErr = errors.Join(updateErr, err)
	}
	mapped, snaps := dstream.MapWithState(pairs, dstream.StateSpec[string, int, int, string]{
		Func: func(_ time.Time, key string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[string] {
			if st.IsTimingOut() {
				if err := st.Update(0); !errors.Is(err, dstream.ErrStateTimingOut) {
					fail(fmt.Errorf("Update while timing out = %v", err))
				}
				n, _ := st.Get()
				return ops.Some(fmt.Sprintf("%s:timeout@%d", key, n))
			}
			n, _ := st.Get()
			n += v.Value
			if err := st.Update(n); err != nil {
				fail(err)
			}
			if n == 3 && key == "a" {
				st.Remove() // a restarts after reaching 3
			}
			return ops.Some(fmt.Sprintf("%s=%d", key, n))
		},
		Timeout:    timeout,
		Initial:    initial,
		Partitions: 2,
	})
	gotMapped, gotSnaps := map[int][]string{}, map[int]map[string]int{}
	dstream.ForeachRDD(mapped, func(ctx context.Context, r *rdd.RDD[string], bt time.Time) error {
		xs, err := rdd.Collect(ctx, r)
		slices.Sort(xs)
		gotMapped[int(bt.Sub(epoch)/interval)] = xs
		return err
	})
	dstream.ForeachRDD(snaps, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
		if r.NumPartitions() != 2 {
			return fmt.Errorf("snapshot has %d partitions, want 2", r.NumPartitions())
		}
		m, err := rdd.CollectAsMap(ctx, r)
		gotSnaps[int(bt.Sub(epoch)/interval)] = m
		return err
	})
	h.runBatches(len(windowInput))
	if updateErr != nil {
		t.Fatal(updateErr)
	}

	// Reference: plain maps.
	type entry struct{ n, seen int }
	state := map[string]entry{"z": {10, 1}}
	for k, batch := range windowInput {
		k++
		var want []string
		touched := map[string]bool{}
		for _, w := range batch {
			e := state[w]
			e.n++
			want = append(want, fmt.Sprintf("%s=%d", w, e.n))
			e.seen = k
			state[w] = e
			touched[w] = true
			if w == "a" && e.n == 3 {
				delete(state, w)
			}
		}
		for w, e := range state {
			if !touched[w] && time.Duration(k-e.seen)*interval >= timeout {
				want = append(want, fmt.Sprintf("%s:timeout@%d", w, e.n))
				delete(state, w)
			}
		}
		slices.Sort(want)
		wantSnap := map[string]int{}
		for w, e := range state {
			wantSnap[w] = e.n
		}
		if diff := cmp.Diff(want, gotMapped[k]); diff != "" {
			t.Errorf("mapped, batch %d (-want +got):\n%s", k, diff)
		}
		if diff := cmp.Diff(wantSnap, gotSnaps[k]); diff != "" {
			t.Errorf("snapshot after batch %d (-want +got):\n%s", k, diff)
		}
	}
}
