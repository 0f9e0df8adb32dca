package dstream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

type kv = ops.KV[string, int]

// pairInput has an empty first batch, key "c" in one batch only and
// repeated keys.
var pairInput = [][]kv{
	nil,
	{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "a", Value: 3}},
	{{Key: "c", Value: 5}},
	nil,
	{{Key: "a", Value: 1}, {Key: "a", Value: 1}, {Key: "b", Value: 4}},
}

// Join inputs, batch by batch: keys on both sides, on one side only, and
// batches empty on one side or both.
var (
	joinLeft = [][]kv{
		{{Key: "x", Value: 1}, {Key: "y", Value: 2}, {Key: "y", Value: 3}},
		nil,
		{{Key: "x", Value: 4}},
		nil,
	}
	joinRight = [][]ops.KV[string, string]{
		{{Key: "y", Value: "p"}, {Key: "z", Value: "q"}, {Key: "y", Value: "r"}},
		{{Key: "x", Value: "s"}},
		nil,
		nil,
	}
)

// kvMap turns a batch of pairs into a map, failing on a repeated key (a
// per-key aggregation has one pair per key).
func kvMap[K comparable, V any](t *testing.T, kvs []ops.KV[K, V]) map[K]V {
	t.Helper()
	m := map[K]V{}
	for _, p := range kvs {
		if _, dup := m[p.Key]; dup {
			t.Errorf("key %v appears more than once in %v", p.Key, kvs)
		}
		m[p.Key] = p.Value
	}
	return m
}

func TestReduceByKey(t *testing.T) {
	leakcheck.Check(t)
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, pairInput...)
	var parts []int
	var got collector[kv]
	dstream.ForeachRDD(dstream.ReduceByKey(in, ops.Sum[int], rdd.Partitions[string](3)), func(ctx context.Context, r *rdd.RDD[kv], bt time.Time) error {
		parts = append(parts, r.NumPartitions())
		return got.foreach(ctx, r, bt)
	})
	h.runBatches(len(pairInput))
	if len(got.data) != len(pairInput) {
		t.Fatalf("got %d batches, want %d", len(got.data), len(pairInput))
	}
	for i, b := range pairInput {
		want := map[string]int{}
		for _, p := range b {
			want[p.Key] += p.Value
		}
		if diff := cmp.Diff(want, kvMap(t, got.data[i]), equateEmpty); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", i+1, diff)
		}
		if parts[i] != 3 {
			t.Errorf("batch %d has %d partitions, want 3 (rdd.Partitions is passed on)", i+1, parts[i])
		}
	}
}

func TestGroupByKey(t *testing.T) {
	leakcheck.Check(t)
	got := collectPerBatch(t, len(pairInput), func(c *dstream.Context) *dstream.DStream[ops.KV[string, []int]] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, pairInput...)
		return dstream.GroupByKey(in)
	})
	for i, b := range pairInput {
		want := map[string][]int{}
		for _, p := range b {
			want[p.Key] = append(want[p.Key], p.Value)
		}
		// The order of a group's values across partitions is not defined.
		if diff := cmp.Diff(want, kvMap(t, got[i]), anyOrder[int](), equateEmpty); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestCombineByKey(t *testing.T) {
	leakcheck.Check(t)
	got := collectPerBatch(t, len(pairInput), func(c *dstream.Context) *dstream.DStream[ops.KV[string, ops.SumCount[int]]] {
		in, _ := dstream.QueueStream(c, dstream.OneAtATime, pairInput...)
		return dstream.CombineByKey(in, ops.Mean[int]())
	})
	for i, b := range pairInput {
		want := map[string]ops.SumCount[int]{}
		for _, p := range b {
			sc := want[p.Key]
			sc.Sum += p.Value
			sc.Count++
			want[p.Key] = sc
		}
		if diff := cmp.Diff(want, kvMap(t, got[i]), equateEmpty); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", i+1, diff)
		}
	}
}

// joinBatches runs op over the join inputs, into 3 partitions, and returns
// each batch.
func joinBatches[U any](t *testing.T, op func(a *dstream.DStream[kv], b *dstream.DStream[ops.KV[string, string]], opts ...rdd.ShuffleOpt[string]) *dstream.DStream[U]) [][]U {
	t.Helper()
	return collectPerBatch(t, len(joinLeft), func(c *dstream.Context) *dstream.DStream[U] {
		a, _ := dstream.QueueStream(c, dstream.OneAtATime, joinLeft...)
		b, _ := dstream.QueueStream(c, dstream.OneAtATime, joinRight...)
		return op(a, b, rdd.Partitions[string](3))
	})
}

// valuesOf returns the values of key k in pairs, in order.
func valuesOf[V any](pairs []ops.KV[string, V], k string) []V {
	var vs []V
	for _, p := range pairs {
		if p.Key == k {
			vs = append(vs, p.Value)
		}
	}
	return vs
}

// keysOf returns the distinct keys of both sides, sorted.
func keysOf(a []kv, b []ops.KV[string, string]) []string {
	var ks []string
	for _, p := range a {
		ks = append(ks, p.Key)
	}
	for _, p := range b {
		ks = append(ks, p.Key)
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

// joinWant computes, per batch, the outer join of the join inputs; left
// and right say whether a key missing on that side is kept.
func joinWant(left, right bool) [][]ops.KV[string, ops.Joined[ops.Maybe[int], ops.Maybe[string]]] {
	want := make([][]ops.KV[string, ops.Joined[ops.Maybe[int], ops.Maybe[string]]], len(joinLeft))
	for i := range joinLeft {
		for _, k := range keysOf(joinLeft[i], joinRight[i]) {
			vs, ws := valuesOf(joinLeft[i], k), valuesOf(joinRight[i], k)
			var mv []ops.Maybe[int]
			var mw []ops.Maybe[string]
			for _, v := range vs {
				mv = append(mv, ops.Some(v))
			}
			for _, w := range ws {
				mw = append(mw, ops.Some(w))
			}
			if len(vs) == 0 {
				if !right {
					continue
				}
				mv = []ops.Maybe[int]{ops.None[int]()}
			}
			if len(ws) == 0 {
				if !left {
					continue
				}
				mw = []ops.Maybe[string]{ops.None[string]()}
			}
			for _, v := range mv {
				for _, w := range mw {
					want[i] = append(want[i], ops.Pair(k, ops.Joined[ops.Maybe[int], ops.Maybe[string]]{Left: v, Right: w}))
				}
			}
		}
	}
	return want
}

// mapJoined converts every batch's joined values with f.
func mapJoined[A, B any](batches [][]ops.KV[string, A], f func(A) B) [][]ops.KV[string, B] {
	out := make([][]ops.KV[string, B], len(batches))
	for i, b := range batches {
		for _, p := range b {
			out[i] = append(out[i], ops.Pair(p.Key, f(p.Value)))
		}
	}
	return out
}

func TestJoins(t *testing.T) {
	leakcheck.Check(t)
	type both = ops.Joined[ops.Maybe[int], ops.Maybe[string]]
	anyPairOrder := anyOrder[ops.KV[string, both]]()

	inner := joinBatches(t, dstream.Join[string, int, string])
	gotInner := mapJoined(inner, func(j ops.Joined[int, string]) both { return both{Left: ops.Some(j.Left), Right: ops.Some(j.Right)} })
	if diff := cmp.Diff(joinWant(false, false), gotInner, anyPairOrder, equateEmpty); diff != "" {
		t.Errorf("Join (-want +got):\n%s", diff)
	}

	leftOuter := joinBatches(t, dstream.LeftOuterJoin[string, int, string])
	gotLeft := mapJoined(leftOuter, func(j ops.Joined[int, ops.Maybe[string]]) both { return both{Left: ops.Some(j.Left), Right: j.Right} })
	if diff := cmp.Diff(joinWant(true, false), gotLeft, anyPairOrder, equateEmpty); diff != "" {
		t.Errorf("LeftOuterJoin (-want +got):\n%s", diff)
	}

	rightOuter := joinBatches(t, dstream.RightOuterJoin[string, int, string])
	gotRight := mapJoined(rightOuter, func(j ops.Joined[ops.Maybe[int], string]) both { return both{Left: j.Left, Right: ops.Some(j.Right)} })
	if diff := cmp.Diff(joinWant(false, true), gotRight, anyPairOrder, equateEmpty); diff != "" {
		t.Errorf("RightOuterJoin (-want +got):\n%s", diff)
	}

	full := joinBatches(t, dstream.FullOuterJoin[string, int, string])
	if diff := cmp.Diff(joinWant(true, true), full, anyPairOrder, equateEmpty); diff != "" {
		t.Errorf("FullOuterJoin (-want +got):\n%s", diff)
	}
}

func TestCoGroup(t *testing.T) {
	leakcheck.Check(t)
	got := joinBatches(t, dstream.CoGroup[string, int, string])
	for i := range joinLeft {
		want := map[string]ops.CoGrouped[int, string]{}
		for _, k := range keysOf(joinLeft[i], joinRight[i]) {
			want[k] = ops.CoGrouped[int, string]{Left: valuesOf(joinLeft[i], k), Right: valuesOf(joinRight[i], k)}
		}
		if diff := cmp.Diff(want, kvMap(t, got[i]), anyOrder[int](), anyOrder[string](), equateEmpty); diff != "" {
			t.Errorf("batch %d (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestPairsValidation(t *testing.T) {
	pairs := func(c *dstream.Context) *dstream.DStream[kv] {
		s, _ := dstream.QueueStream[kv](c, dstream.OneAtATime)
		return s
	}
	checkValidation(t, []validationCase{
		{"nil ReduceByKey function", func(c *dstream.Context) {
			discard(dstream.ReduceByKey(pairs(c), nil))
		}, "dstream.ReduceByKey: invalid argument: nil function"},
		{"incomplete CombineByKey aggregator", func(c *dstream.Context) {
			discard(dstream.CombineByKey(pairs(c), ops.Aggregator[int, int]{Create: ops.Identity[int]}))
		}, "dstream.CombineByKey: invalid argument: nil function"},
		{"nil Join stream", func(c *dstream.Context) {
			discard(dstream.Join[string, int, int](pairs(c), nil))
		}, "dstream.Join: invalid argument: nil stream"},
		{"CoGroup across Contexts", func(c *dstream.Context) {
			other := dstream.NewContext(dstream.BatchInterval(interval))
			discard(dstream.CoGroup(pairs(c), pairs(other)))
		}, "dstream.CoGroup: invalid argument: streams belong to 2 different Contexts"},
	})
}
