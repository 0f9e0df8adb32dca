package rdd_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

func TestCollectSources(t *testing.T) {
	// Collect and CollectPartitions keep partition order for every source
	// and for a narrow chain over it.
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		hCheckParts(t, rdd.FromPartitions(eng, c.parts), c.parts)
		hCheckParts(t, rdd.Map(rdd.FromPartitions(eng, c.parts), func(x int) int { return x }), c.parts)
		glom, err := rdd.Collect(context.Background(), rdd.Glom(rdd.FromPartitions(eng, c.parts)))
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Collect(Glom)", c.parts, glom)
	})
}

func TestCollectResultsAreCopies(t *testing.T) {
	ctx := context.Background()
	parts := [][]int{{1, 2}, {3}}
	for _, r := range []*rdd.RDD[int]{
		rdd.FromPartitions(rdd.NewEngine(), parts),
		rdd.Map(rdd.FromPartitions(rdd.NewEngine(), parts), func(x int) int { return x }).Persist(),
	} {
		all, err := rdd.Collect(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		all[0] = 100
		ps, err := rdd.CollectPartitions(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ps[0][1] = 200
		again, err := rdd.CollectPartitions(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, r.Name()+" after modifying results", [][]int{{1, 2}, {3}}, again)
	}
}

func TestCount(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		want := 0
		for _, p := range c.parts {
			want += len(p)
		}
		got, err := rdd.Count(context.Background(), rdd.FromPartitions(eng, c.parts))
		if err != nil || got != int64(want) {
			t.Errorf("Count = %d, %v; want %d", got, err, want)
		}
	})
}

func TestReduce(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		ctx := context.Background()
		r := rdd.FromPartitions(eng, c.parts)
		all := hConcat(c.parts)
		sum, err := rdd.Reduce(ctx, r, func(a, b int) int { return a + b })
		mx, err2 := rdd.Reduce(ctx, r, func(a, b int) int { return max(a, b) })
		if len(all) == 0 {
			if !errors.Is(err, rdd.ErrEmpty) || !errors.Is(err2, rdd.ErrEmpty) {
				t.Errorf("Reduce of no elements: errors %v, %v; want rdd.ErrEmpty", err, err2)
			}
			return
		}
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		wantSum, wantMax := 0, all[0]
		for _, x := range all {
			wantSum += x
			if x > wantMax {
				wantMax = x
			}
		}
		if sum != wantSum || mx != wantMax {
			t.Errorf("Reduce sum, max = %d, %d; want %d, %d", sum, mx, wantSum, wantMax)
		}
	})
}

func TestFold(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		ctx := context.Background()
		r := rdd.FromPartitions(eng, c.parts)
		want := 0
		for _, x := range hConcat(c.parts) {
			want += x
		}
		got, err := rdd.Fold(ctx, r, 0, ops.Sum[int])
		if err != nil || got != want {
			t.Errorf("Fold(0, +) = %d, %v; want %d", got, err, want)
		}
		// Documented (Spark's fold): zero starts each partition and the
		// final merge, so a non-neutral zero counts nparts+1 times.
		got, err = rdd.Fold(ctx, r, 10, ops.Sum[int])
		if want := want + 10*(len(c.parts)+1); err != nil || got != want {
			t.Errorf("Fold(10, +) = %d, %v; want %d", got, err, want)
		}
	})
}

func TestAggregate(t *testing.T) {
	type stats struct{ N, Sum, Zeros int }
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		var want stats
		for _, x := range hConcat(c.parts) {
			want.N++
			want.Sum += x
			if x == 0 {
				want.Zeros++
			}
		}
		got, err := rdd.Aggregate(context.Background(), rdd.FromPartitions(eng, c.parts), stats{},
			func(s stats, x int) stats {
				s.N++
				s.Sum += x
				if x == 0 {
					s.Zeros++
				}
				return s
			},
			func(a, b stats) stats { return stats{a.N + b.N, a.Sum + b.Sum, a.Zeros + b.Zeros} })
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Aggregate", want, got)
	})
}

func TestForeach(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, 1)
		var mu sync.Mutex
		var got []int
		badCtx := 0
		err := rdd.Foreach(ctx, rdd.FromPartitions(eng, c.parts), func(ctx context.Context, x int) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, x)
			if ctx.Value(key{}) != 1 {
				badCtx++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := hConcat(c.parts)
		slices.Sort(want)
		slices.Sort(got)
		hDiff(t, "elements seen by Foreach", want, got)
		if badCtx > 0 {
			t.Errorf("%d calls did not get the action's context", badCtx)
		}
	})
}

func TestForeachPartition(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		var mu sync.Mutex
		got := map[int][]int{}
		calls := 0
		err := rdd.ForeachPartition(context.Background(), rdd.FromPartitions(eng, c.parts),
			func(_ context.Context, part int, in iter.Seq[int]) error {
				var elems []int
				for x := range in {
					elems = append(elems, x)
				}
				mu.Lock()
				defer mu.Unlock()
				calls++
				got[part] = elems
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if calls != len(c.parts) {
			t.Errorf("f called %d times, want once per partition (%d)", calls, len(c.parts))
		}
		want := map[int][]int{}
		for p, part := range c.parts {
			want[p] = part
		}
		hDiff(t, "partitions seen by ForeachPartition", want, got)
	})
	t.Run("early break", func(t *testing.T) {
		var mapped atomic.Int64
		r := rdd.Map(rdd.Parallelize(rdd.NewEngine(), hSeq(0, 50_000), 2), func(x int) int { mapped.Add(1); return x })
		err := rdd.ForeachPartition(context.Background(), r, func(_ context.Context, _ int, in iter.Seq[int]) error {
			for range in {
				break
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := mapped.Load(); n != 2 {
			t.Errorf("breaking after one element of each partition mapped %d elements, want 2", n)
		}
	})
}

func TestTake(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		ctx := context.Background()
		r := rdd.FromPartitions(eng, c.parts)
		all := hConcat(c.parts)
		for _, n := range []int{-1, 0, 1, 2, 5, len(all) - 1, len(all), len(all) + 3} {
			got, err := rdd.Take(ctx, r, n)
			if err != nil {
				t.Fatalf("Take(%d): %v", n, err)
			}
			var want []int
			for i := 0; i < n && i < len(all); i++ {
				want = append(want, all[i])
			}
			hDiff(t, "Take", want, got)
		}
		first, err := rdd.First(ctx, r)
		if len(all) == 0 {
			if !errors.Is(err, rdd.ErrEmpty) {
				t.Errorf("First of no elements: error %v, want rdd.ErrEmpty", err)
			}
		} else if err != nil || first != all[0] {
			t.Errorf("First = %d, %v; want %d", first, err, all[0])
		}
		empty, err := rdd.IsEmpty(ctx, r)
		if err != nil || empty != (len(all) == 0) {
			t.Errorf("IsEmpty = %v, %v; want %v", empty, err, len(all) == 0)
		}
	})
}

func TestTakeStopsEarly(t *testing.T) {
	for _, e := range hEngines() {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			const n = 100_000
			var mapped atomic.Int64
			r := rdd.Map(rdd.Parallelize(e.eng, hSeq(0, n), 4), func(x int) int { mapped.Add(1); return x })
			got, err := rdd.Take(ctx, r, 1)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Take(1)", []int{0}, got)
			if m := mapped.Load(); m > 1024 {
				t.Errorf("Take(1) mapped %d of %d elements", m, n)
			}

			mapped.Store(0)
			if _, err := rdd.First(ctx, r); err != nil {
				t.Fatal(err)
			}
			if empty, err := rdd.IsEmpty(ctx, r); err != nil || empty {
				t.Fatalf("IsEmpty = %v, %v", empty, err)
			}
			if m := mapped.Load(); m > 2048 {
				t.Errorf("First and IsEmpty mapped %d of %d elements", m, n)
			}

			// More than one partition's worth: each task stops once it has
			// what is still missing.
			mapped.Store(0)
			got, err = rdd.Take(ctx, r, 30_000)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Take(30000)", hSeq(0, 30_000), got)
			if m := mapped.Load(); m >= n {
				t.Errorf("Take(30000) mapped all %d elements", m)
			}
		})
	}
}

func TestTakeScansMorePartitions(t *testing.T) {
	// The first elements are in partition 10 of 30: Take must go past the
	// empty partitions in several rounds, and must not compute partitions
	// beyond what it needs.
	for _, e := range hEngines() {
		t.Run(e.name, func(t *testing.T) {
			parts := make([][]int, 30)
			for p := 10; p < 30; p++ {
				parts[p] = []int{p * 10, p*10 + 1}
			}
			var computed [30]atomic.Bool
			r := rdd.MapPartitions(rdd.FromPartitions(e.eng, parts), func(_ context.Context, part int, in iter.Seq[int], yield func(int) bool) error {
				computed[part].Store(true)
				for x := range in {
					if !yield(x) {
						return nil
					}
				}
				return nil
			})
			got, err := rdd.Take(context.Background(), r, 3)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Take(3)", []int{100, 101, 110}, got)
			n := 0
			for p := range computed {
				if computed[p].Load() {
					n++
				} else if p <= 11 {
					t.Errorf("partition %d was not computed", p)
				}
			}
			if n == 30 {
				t.Error("Take(3) computed every partition")
			}
			first, err := rdd.First(context.Background(), r)
			if err != nil || first != 100 {
				t.Errorf("First = %d, %v; want 100", first, err)
			}
			empty, err := rdd.IsEmpty(context.Background(), rdd.Filter(r, func(x int) bool { return x == 291 }))
			if err != nil || empty {
				t.Errorf("IsEmpty with one element in the last partition = %v, %v", empty, err)
			}
		})
	}
}

func TestTakeOrderedTop(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		ctx := context.Background()
		r := rdd.FromPartitions(eng, c.parts)
		sorted := hConcat(c.parts)
		slices.Sort(sorted)
		for _, n := range []int{0, 1, 3, len(sorted), len(sorted) + 2} {
			var asc, desc []int
			for i := 0; i < n && i < len(sorted); i++ {
				asc = append(asc, sorted[i])
				desc = append(desc, sorted[len(sorted)-1-i])
			}
			got, err := rdd.TakeOrdered(ctx, r, n, hCmpInt)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "TakeOrdered", asc, got)
			got, err = rdd.Top(ctx, r, n, hCmpInt)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Top", desc, got)
		}
	})
	t.Run("custom order", func(t *testing.T) {
		words := rdd.Parallelize(rdd.NewEngine(), []string{"pear", "", "fig", "banana", "kiwi", "", "apple"}, 3)
		byLen := func(a, b string) int {
			if d := len(a) - len(b); d != 0 {
				return d
			}
			return hCmpString(a, b)
		}
		got, err := rdd.TakeOrdered(context.Background(), words, 4, byLen)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "TakeOrdered", []string{"", "", "fig", "kiwi"}, got)
		got, err = rdd.Top(context.Background(), words, 2, byLen)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Top", []string{"banana", "apple"}, got)
	})
	t.Run("invalid", func(t *testing.T) {
		r := rdd.Parallelize(rdd.NewEngine(), []int{1}, 1)
		_, err := rdd.TakeOrdered(context.Background(), r, -1, hCmpInt)
		hCheckInvalid(t, err, "rdd.TakeOrdered")
		_, err = rdd.Top(context.Background(), r, -1, hCmpInt)
		hCheckInvalid(t, err, "rdd.Top")
	})
}

func TestCountByValue(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		want := map[int]int64{}
		for _, x := range hConcat(c.parts) {
			want[x]++
		}
		got, err := rdd.CountByValue(context.Background(), rdd.FromPartitions(eng, c.parts))
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "CountByValue", want, got)
	})
}

func TestKeyedActions(t *testing.T) {
	hEach(t, hKVCases(), func(t *testing.T, eng *rdd.Engine, c hCase[hKV]) {
		ctx := context.Background()
		r := rdd.FromPartitions(eng, c.parts)
		all := hConcat(c.parts)

		counts := map[string]int64{}
		last := map[string]int{}
		values := map[string][]int{}
		for _, kv := range all {
			counts[kv.Key]++
			last[kv.Key] = kv.Value
			values[kv.Key] = append(values[kv.Key], kv.Value)
		}

		gotCounts, err := rdd.CountByKey(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "CountByKey", counts, gotCounts)

		// CollectAsMap: the last pair in partition order wins.
		gotMap, err := rdd.CollectAsMap(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "CollectAsMap", last, gotMap)

		for _, key := range []string{"", "a", "x", "k3", "absent"} {
			got, err := rdd.Lookup(ctx, r, key)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Lookup("+key+")", values[key], got)
		}
	})
}

// TestActionsReturnZeroOnFailure runs every action that returns a value over
// an RDD whose last partition fails after the others succeeded: each returns
// its type's zero value with the error, never a result of the partitions that
// succeeded (a partial count, "empty", the fold's starting value).
func TestActionsReturnZeroOnFailure(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	// One task at a time, in partition order: partitions 0 and 1 are done
	// when partition 2 fails.
	eng := rdd.NewEngine(rdd.Parallelism(1))
	r := rdd.MapPartitions(rdd.FromPartitions(eng, [][]int{{1, 2}, {3}, {4}}),
		func(_ context.Context, part int, in iter.Seq[int], yield func(int) bool) error {
			if part == 2 {
				return boom
			}
			for x := range in {
				if !yield(x) {
					return nil
				}
			}
			return nil
		})
	kv := rdd.Map(r, func(x int) ops.KV[int, int] { return ops.Pair(x, x) })
	check := func(name string, got any, isZero bool, err error) {
		t.Helper()
		if !errors.Is(err, boom) {
			t.Errorf("%s: error %v, want the task's", name, err)
		}
		if !isZero {
			t.Errorf("%s = %v with an error, want the zero value", name, got)
		}
	}
	n, err := rdd.Count(ctx, r)
	check("Count", n, n == 0, err)
	empty, err := rdd.IsEmpty(ctx, rdd.Filter(r, func(x int) bool { return x > 3 }))
	check("IsEmpty", empty, !empty, err)
	f, err := rdd.Fold(ctx, r, 10, func(a, b int) int { return max(a, b) })
	check("Fold", f, f == 0, err)
	a, err := rdd.Aggregate(ctx, r, 10, func(n, _ int) int { return n + 1 }, ops.Sum[int])
	check("Aggregate", a, a == 0, err)
	sum, err := rdd.Reduce(ctx, r, ops.Sum[int])
	check("Reduce", sum, sum == 0, err)
	all, err := rdd.Collect(ctx, r)
	check("Collect", all, all == nil, err)
	parts, err := rdd.CollectPartitions(ctx, r)
	check("CollectPartitions", parts, parts == nil, err)
	first, err := rdd.Take(ctx, r, 10)
	check("Take", first, first == nil, err)
	ordered, err := rdd.TakeOrdered(ctx, r, 2, hCmpInt)
	check("TakeOrdered", ordered, ordered == nil, err)
	byValue, err := rdd.CountByValue(ctx, r)
	check("CountByValue", byValue, byValue == nil, err)
	byKey, err := rdd.CountByKey(ctx, kv)
	check("CountByKey", byKey, byKey == nil, err)
	m, err := rdd.CollectAsMap(ctx, kv)
	check("CollectAsMap", m, m == nil, err)
	vs, err := rdd.Lookup(ctx, kv, 1)
	check("Lookup", vs, vs == nil, err)
}
