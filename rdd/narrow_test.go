package rdd_test

import (
	"context"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// hCheckNarrow checks a one-parent narrow operator on every case: partition
// i of op(r) must be ref applied to partition i of r, in order, and r's
// input must not be modified.
func hCheckNarrow[T, U any](t *testing.T, cases []hCase[T], name string, op func(*rdd.RDD[T]) *rdd.RDD[U], ref func(p int, part []T) []U) {
	t.Helper()
	hEach(t, cases, func(t *testing.T, eng *rdd.Engine, c hCase[T]) {
		orig := hClone(c.parts)
		out := op(rdd.FromPartitions(eng, c.parts))
		if out.Name() != name {
			t.Errorf("Name() = %q, want %q", out.Name(), name)
		}
		if err := out.Err(); err != nil {
			t.Fatalf("Err() = %v", err)
		}
		hCheckParts(t, out, hPerPart(orig, ref))
		hDiff(t, "input after actions", orig, c.parts)
	})
}

func TestMap(t *testing.T) {
	hCheckNarrow(t, hIntCases(), "rdd.Map",
		func(r *rdd.RDD[int]) *rdd.RDD[string] {
			return rdd.Map(r, func(x int) string { return strconv.Itoa(x * x) })
		},
		func(_ int, part []int) []string {
			var out []string
			for _, x := range part {
				out = append(out, strconv.Itoa(x*x))
			}
			return out
		})
	t.Run("to pairs", func(t *testing.T) {
		hCheckNarrow(t, hIntCases(), "rdd.Map",
			func(r *rdd.RDD[int]) *rdd.RDD[ops.KV[int, bool]] {
				return rdd.Map(r, func(x int) ops.KV[int, bool] { return ops.Pair(x%2, x > 0) })
			},
			func(_ int, part []int) []ops.KV[int, bool] {
				var out []ops.KV[int, bool]
				for _, x := range part {
					out = append(out, ops.KV[int, bool]{Key: x % 2, Value: x > 0})
				}
				return out
			})
	})
}

// hRepeat is FlatMap's test function: x repeated |x| mod 3 times, nil for
// none.
func hRepeat(x int) []int {
	var out []int
	for range (x%3 + 3) % 3 {
		out = append(out, x)
	}
	return out
}

func TestFlatMap(t *testing.T) {
	hCheckNarrow(t, hIntCases(), "rdd.FlatMap",
		func(r *rdd.RDD[int]) *rdd.RDD[int] { return rdd.FlatMap(r, hRepeat) },
		func(_ int, part []int) []int {
			var out []int
			for _, x := range part {
				for range (x%3 + 3) % 3 {
					out = append(out, x)
				}
			}
			return out
		})
	t.Run("words", func(t *testing.T) {
		lines := rdd.FromPartitions(rdd.NewEngine(), [][]string{{"to be", "", "  or not "}, {}, {"to   be"}})
		hCheckParts(t, rdd.FlatMap(lines, strings.Fields), [][]string{{"to", "be", "or", "not"}, {}, {"to", "be"}})
	})
}

// hCheckAllocsPerElement checks that counting build(n), where each of the n
// input elements gives per elements, allocates no more for 10,100 input
// elements than for 100: nothing per element.
func hCheckAllocsPerElement[T any](t *testing.T, per int, build func(n int) *rdd.RDD[T]) {
	t.Helper()
	allocs := func(n int) float64 {
		r := build(n)
		return testing.AllocsPerRun(5, func() {
			if c, err := rdd.Count(context.Background(), r); err != nil || c != int64(per*n) {
				t.Fatalf("Count = %d, %v, want %d", c, err, per*n)
			}
		})
	}
	small, large := allocs(100), allocs(10_100)
	if got := (large - small) / 10_000; got > 0.01 {
		t.Errorf("%.2f allocations per input element (%v for 100 elements, %v for 10100)", got, small, large)
	}
}

// hOddTwice is the function of the FlatMapSeq and FlatMapYield tests: odd
// x gives x, -x; even x gives nothing. hOddTwiceWant is what it makes of a
// partition.
func hOddTwice(x int, yield func(int) bool) {
	if x%2 != 0 {
		_ = yield(x) && yield(-x)
	}
}

func hOddTwiceWant(_ int, part []int) []int {
	var out []int
	for _, x := range part {
		if x%2 != 0 {
			out = append(out, x, -x)
		}
	}
	return out
}

func TestFlatMapSeq(t *testing.T) {
	hCheckNarrow(t, hIntCases(), "rdd.FlatMapSeq",
		func(r *rdd.RDD[int]) *rdd.RDD[int] {
			return rdd.FlatMapSeq(r, func(x int) iter.Seq[int] {
				return func(yield func(int) bool) { hOddTwice(x, yield) }
			})
		},
		hOddTwiceWant)
	t.Run("words", func(t *testing.T) {
		lines := rdd.FromPartitions(rdd.NewEngine(), [][]string{{"to be", "", "  or not "}, {}, {"to   be"}})
		hCheckParts(t, rdd.FlatMapSeq(lines, strings.FieldsSeq), [][]string{{"to", "be", "or", "not"}, {}, {"to", "be"}})
	})
	t.Run("nil iterator", func(t *testing.T) {
		// nil is no elements, as a nil slice is FlatMap's.
		lines := rdd.FromPartitions(rdd.NewEngine(), [][]string{{"to be", "", "  or not "}, {}, {"to   be"}})
		fields := func(line string) iter.Seq[string] {
			if line == "" {
				return nil
			}
			return strings.FieldsSeq(line)
		}
		hCheckParts(t, rdd.FlatMapSeq(lines, fields), [][]string{{"to", "be", "or", "not"}, {}, {"to", "be"}})
	})
	t.Run("allocates nothing per element", func(t *testing.T) {
		// Iterators that allocate nothing themselves: whatever the job
		// allocates must not grow with the number of elements.
		seqs := []iter.Seq[int]{
			func(yield func(int) bool) { _ = yield(1) && yield(2) },
			func(func(int) bool) {},
		}
		hCheckAllocsPerElement(t, 2, func(n int) *rdd.RDD[int] {
			data := make([]int, n)
			return rdd.FlatMapSeq(rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(1)), data, 1), func(x int) iter.Seq[int] { return seqs[x%2] })
		})
	})
}

func TestFlatMapYield(t *testing.T) {
	hCheckNarrow(t, hIntCases(), "rdd.FlatMapYield",
		func(r *rdd.RDD[int]) *rdd.RDD[int] { return rdd.FlatMapYield(r, hOddTwice) },
		hOddTwiceWant)
	fields := func(line string, yield func(string) bool) {
		for w := range strings.FieldsSeq(line) {
			if !yield(w) {
				return
			}
		}
	}
	t.Run("words", func(t *testing.T) {
		lines := rdd.FromPartitions(rdd.NewEngine(), [][]string{{"to be", "", "  or not "}, {}, {"to   be"}})
		hCheckParts(t, rdd.FlatMapYield(lines, fields), [][]string{{"to", "be", "or", "not"}, {}, {"to", "be"}})
	})
	t.Run("allocates nothing per element", func(t *testing.T) {
		// A range over strings.FieldsSeq inside the function: its iterator
		// stays on the stack (through FlatMapSeq it is one allocation per
		// line), and the job's allocations must not grow with the lines.
		hCheckAllocsPerElement(t, 3, func(n int) *rdd.RDD[string] {
			return rdd.FlatMapYield(rdd.Parallelize(rdd.NewEngine(rdd.Parallelism(1)), slices.Repeat([]string{"a bc  def"}, n), 1), fields)
		})
	})
}

// TestFlatMapStopsEarly checks that Take stops the function of
// FlatMapYield and the iterator of FlatMapSeq: it sees yield return false,
// and if it yields on, it gets false again and gives nothing more.
func TestFlatMapStopsEarly(t *testing.T) {
	var produced atomic.Int64
	f := func(x int, yield func(int) bool) {
		for i := range 1_000_000 {
			produced.Add(1)
			if !yield(x*10 + i) {
				if yield(-1) {
					t.Error("yield returned true after it returned false")
				}
				return
			}
		}
	}
	for name, build := range map[string]func(*rdd.RDD[int]) *rdd.RDD[int]{
		"FlatMapYield": func(r *rdd.RDD[int]) *rdd.RDD[int] { return rdd.FlatMapYield(r, f) },
		"FlatMapSeq": func(r *rdd.RDD[int]) *rdd.RDD[int] {
			return rdd.FlatMapSeq(r, func(x int) iter.Seq[int] { return func(yield func(int) bool) { f(x, yield) } })
		},
	} {
		t.Run(name, func(t *testing.T) {
			produced.Store(0)
			got, err := rdd.Take(context.Background(), build(rdd.Parallelize(rdd.NewEngine(), []int{0, 1}, 1)), 3)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "Take", []int{0, 1, 2}, got)
			if n := produced.Load(); n > 4 {
				t.Errorf("produced %d elements for Take(3)", n)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(int) bool
	}{
		{"even", func(x int) bool { return x%2 == 0 }},
		{"none", func(int) bool { return false }},
		{"all", func(int) bool { return true }},
		{"zero", func(x int) bool { return x == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hCheckNarrow(t, hIntCases(), "rdd.Filter",
				func(r *rdd.RDD[int]) *rdd.RDD[int] { return rdd.Filter(r, tc.keep) },
				func(_ int, part []int) []int {
					var out []int
					for _, x := range part {
						if tc.keep(x) {
							out = append(out, x)
						}
					}
					return out
				})
		})
	}
}

// TestPartitionerPropagation checks which narrow operators keep the
// partitioner of a partitioned input (Filter, MapValues, FlatMapValues) and
// which drop it because they may change keys.
func TestPartitionerPropagation(t *testing.T) {
	kv := rdd.Parallelize(rdd.NewEngine(), []hKV{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, 2)
	if wPart(kv) != nil {
		t.Fatalf("a source has partitioner %v", wPart(kv))
	}
	byKey := rdd.PartitionBy(kv, rdd.Partitions[string](3))
	p := wPart(byKey)
	if p == nil {
		t.Fatal("PartitionBy set no partitioner")
	}
	for name, got := range map[string]any{
		"Filter":        wAnyPart(rdd.Filter(byKey, func(hKV) bool { return true })),
		"MapValues":     wAnyPart(rdd.MapValues(byKey, func(v int) int { return v })),
		"FlatMapValues": wAnyPart(rdd.FlatMapValues(byKey, func(v int) []int { return []int{v} })),
	} {
		if got != p {
			t.Errorf("%s: partitioner = %v, want the input's %v", name, got, p)
		}
	}
	for name, got := range map[string]any{
		"Map":           wAnyPart(rdd.Map(byKey, func(kv hKV) hKV { return kv })),
		"FlatMap":       wAnyPart(rdd.FlatMap(byKey, func(kv hKV) []hKV { return []hKV{kv} })),
		"MapPartitions": wAnyPart(rdd.MapPartitions(byKey, func(context.Context, int, iter.Seq[hKV], func(hKV) bool) error { return nil })),
	} {
		if got != nil {
			t.Errorf("%s: partitioner = %v, want nil", name, got)
		}
	}
}

func TestMapPartitions(t *testing.T) {
	// One summary per partition: its index, size and sum. The index is the
	// task's partition.
	type summary struct{ Part, Len, Sum int }
	hCheckNarrow(t, hIntCases(), "rdd.MapPartitions",
		func(r *rdd.RDD[int]) *rdd.RDD[summary] {
			return rdd.MapPartitions(r, func(_ context.Context, part int, in iter.Seq[int], yield func(summary) bool) error {
				s := summary{Part: part}
				for x := range in {
					s.Len++
					s.Sum += x
				}
				yield(s)
				return nil
			})
		},
		func(p int, part []int) []summary {
			s := summary{Part: p, Len: len(part)}
			for _, x := range part {
				s.Sum += x
			}
			return []summary{s}
		})
	t.Run("element wise", func(t *testing.T) {
		hCheckNarrow(t, hIntCases(), "rdd.MapPartitions",
			func(r *rdd.RDD[int]) *rdd.RDD[int] {
				return rdd.MapPartitions(r, func(_ context.Context, part int, in iter.Seq[int], yield func(int) bool) error {
					for x := range in {
						if x != 0 && (!yield(x) || !yield(part)) {
							return nil
						}
					}
					return nil
				})
			},
			func(p int, part []int) []int {
				var out []int
				for _, x := range part {
					if x != 0 {
						out = append(out, x, p)
					}
				}
				return out
			})
	})
	t.Run("context of the action", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, "v")
		var seen atomic.Int64
		r := rdd.MapPartitions(rdd.Parallelize(rdd.NewEngine(), hSeq(0, 4), 4),
			func(ctx context.Context, _ int, _ iter.Seq[int], _ func(int) bool) error {
				if ctx.Value(key{}) == "v" {
					seen.Add(1)
				}
				return nil
			})
		if _, err := rdd.Count(ctx, r); err != nil {
			t.Fatal(err)
		}
		if seen.Load() != 4 {
			t.Errorf("%d of 4 tasks saw the action's context", seen.Load())
		}
	})
	t.Run("consumer stops early", func(t *testing.T) {
		// Take(3) stops the consumer: the input iterator ends early, so f's
		// loop finishes without reading the whole partition, and what f
		// yields after the stop, ignoring yield's false, is dropped.
		var read, lateTrue atomic.Int64
		var returned atomic.Bool
		r := rdd.MapPartitions(rdd.Parallelize(rdd.NewEngine(), hSeq(0, 100_000), 1),
			func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
				for x := range in {
					read.Add(1)
					yield(x)
				}
				for i := range 1000 {
					if yield(-i) {
						lateTrue.Add(1)
					}
				}
				returned.Store(true)
				return nil
			})
		got, err := rdd.Take(context.Background(), r, 3)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Take", []int{0, 1, 2}, got)
		if !returned.Load() {
			t.Error("f did not run to its end")
		}
		if n := read.Load(); n >= 100_000 {
			t.Errorf("f read %d elements for Take(3): the input did not end early", n)
		}
		if n := lateTrue.Load(); n > 0 {
			t.Errorf("yield returned true %d times after the consumer stopped", n)
		}
	})
}

func TestUnion(t *testing.T) {
	mixed := hIntCases()[len(hIntCases())-1].parts
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		a := rdd.FromPartitions(eng, c.parts)
		b := rdd.FromPartitions(eng, mixed)
		var want [][]int
		want = append(want, c.parts...)
		want = append(want, mixed...)
		want = append(want, c.parts...)
		u := rdd.Union(a, b, rdd.Empty[int](eng), a)
		if u.Name() != "rdd.Union" {
			t.Errorf("Name() = %q", u.Name())
		}
		hCheckParts(t, u, want)
		hCheckParts(t, rdd.Union(a), c.parts)
	})
	t.Run("of narrow chains", func(t *testing.T) {
		eng := rdd.NewEngine(rdd.Parallelism(2))
		a := rdd.Map(rdd.Parallelize(eng, []int{1, 2, 3}, 2), func(x int) int { return x * 10 })
		b := rdd.Filter(rdd.Parallelize(eng, []int{4, 5, 6, 7}, 3), func(x int) bool { return x%2 == 1 })
		hCheckParts(t, rdd.Union(a, b), [][]int{{10}, {20, 30}, {}, {5}, {7}})
	})
}

func TestCoalesce(t *testing.T) {
	// Input partition i holds only i, so the output shows which input
	// partitions each output partition took.
	for _, in := range []int{0, 1, 2, 5, 8, 13} {
		for _, n := range []int{1, 2, 3, 4, 8, 20} {
			for _, e := range hEngines() {
				parts := make([][]int, in)
				for i := range parts {
					parts[i] = []int{i}
				}
				c := rdd.Coalesce(rdd.FromPartitions(e.eng, parts), n)
				if c.Name() != "rdd.Coalesce" || c.Err() != nil {
					t.Fatalf("Name() = %q, Err() = %v", c.Name(), c.Err())
				}
				wantN := min(n, in)
				if c.NumPartitions() != wantN {
					t.Errorf("in=%d n=%d: NumPartitions() = %d, want %d", in, n, c.NumPartitions(), wantN)
				}
				got, err := rdd.CollectPartitions(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				// Every input partition, in order, each output partition a
				// contiguous run of them of near-equal count.
				hDiff(t, "concatenated partitions", hSeq(0, in), hConcat(got))
				if len(got) != wantN {
					t.Fatalf("in=%d n=%d: %d partitions", in, n, len(got))
				}
				for i, p := range got {
					if len(p) < in/wantN || len(p) > (in+wantN-1)/wantN {
						t.Errorf("in=%d n=%d: output partition %d merged %d inputs, want %d or %d", in, n, i, len(p), in/wantN, (in+wantN-1)/wantN)
					}
				}
			}
		}
	}
	t.Run("even split", func(t *testing.T) {
		r := rdd.FromPartitions(rdd.NewEngine(), [][]int{{1, 2}, {}, {3}, {4, 5, 6}})
		hCheckParts(t, rdd.Coalesce(r, 2), [][]int{{1, 2}, {3, 4, 5, 6}})
	})
	t.Run("take stops early", func(t *testing.T) {
		var mapped atomic.Int64
		r := rdd.Map(rdd.Parallelize(rdd.NewEngine(), hSeq(0, 40_000), 4), func(x int) int { mapped.Add(1); return x })
		got, err := rdd.Take(context.Background(), rdd.Coalesce(r, 1), 2)
		if err != nil {
			t.Fatal(err)
		}
		hDiff(t, "Take", []int{0, 1}, got)
		if n := mapped.Load(); n > 1024 {
			t.Errorf("Take(2) over a coalesced RDD mapped %d elements", n)
		}
	})
}

// TestCoalesceOne checks that merging into one partition keeps every
// element in partition order.
func TestCoalesceOne(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		want := [][]int{hConcat(c.parts)}
		if len(c.parts) == 0 {
			want = [][]int{}
		}
		hCheckParts(t, rdd.Coalesce(rdd.FromPartitions(eng, c.parts), 1), want)
	})
}

func TestGlom(t *testing.T) {
	hCheckNarrow(t, hIntCases(), "rdd.Glom",
		rdd.Glom[int],
		func(_ int, part []int) [][]int { return [][]int{append([]int{}, part...)} })
	t.Run("one element per partition", func(t *testing.T) {
		r := rdd.Glom(rdd.FromPartitions(rdd.NewEngine(), [][]int{{}, {1}, {}, {}}))
		if n, err := rdd.Count(context.Background(), r); err != nil || n != 4 {
			t.Errorf("Count = %d, %v; want 4 (one per partition, empty ones included)", n, err)
		}
	})
}

func TestMapValues(t *testing.T) {
	hCheckNarrow(t, hKVCases(), "rdd.MapValues",
		func(r *rdd.RDD[hKV]) *rdd.RDD[ops.KV[string, string]] {
			return rdd.MapValues(r, func(v int) string { return strconv.Itoa(v * 2) })
		},
		func(_ int, part []hKV) []ops.KV[string, string] {
			var out []ops.KV[string, string]
			for _, kv := range part {
				out = append(out, ops.KV[string, string]{Key: kv.Key, Value: strconv.Itoa(kv.Value * 2)})
			}
			return out
		})
}

func TestFlatMapValues(t *testing.T) {
	// v ≥ 0 gives v and v+1; negative v gives nothing.
	f := func(v int) []int {
		if v < 0 {
			return nil
		}
		return []int{v, v + 1}
	}
	hCheckNarrow(t, hKVCases(), "rdd.FlatMapValues",
		func(r *rdd.RDD[hKV]) *rdd.RDD[hKV] { return rdd.FlatMapValues(r, f) },
		func(_ int, part []hKV) []hKV {
			var out []hKV
			for _, kv := range part {
				if kv.Value >= 0 {
					out = append(out, hKV{Key: kv.Key, Value: kv.Value}, hKV{Key: kv.Key, Value: kv.Value + 1})
				}
			}
			return out
		})
}

func TestKeysValues(t *testing.T) {
	hCheckNarrow(t, hKVCases(), "rdd.Keys", rdd.Keys[string, int], func(_ int, part []hKV) []string {
		var out []string
		for _, kv := range part {
			out = append(out, kv.Key)
		}
		return out
	})
	hCheckNarrow(t, hKVCases(), "rdd.Values", rdd.Values[string, int], func(_ int, part []hKV) []int {
		var out []int
		for _, kv := range part {
			out = append(out, kv.Value)
		}
		return out
	})
}

// TestNarrowChain checks a fused chain of narrow operators against a plain
// loop, partition by partition.
func TestNarrowChain(t *testing.T) {
	hCheckNarrow(t, hIntCases(), "rdd.Values",
		func(r *rdd.RDD[int]) *rdd.RDD[int] {
			m := rdd.Map(r, func(x int) int { return x * 3 })
			f := rdd.Filter(m, func(x int) bool { return x%2 == 0 })
			fm := rdd.FlatMap(f, func(x int) []int { return []int{x, x + 1} })
			kv := rdd.Map(fm, func(x int) ops.KV[int, int] { return ops.Pair(x, x) })
			mv := rdd.MapValues(kv, func(v int) int { return -v })
			return rdd.Values(mv)
		},
		func(_ int, part []int) []int {
			var out []int
			for _, x := range part {
				if y := x * 3; y%2 == 0 {
					out = append(out, -y, -(y + 1))
				}
			}
			return out
		})
}

// TestLazy checks that building a graph runs no user code: only actions do.
func TestLazy(t *testing.T) {
	var calls atomic.Int64
	count := func() { calls.Add(1) }
	eng := rdd.NewEngine()
	src := rdd.Parallelize(eng, []int{1, 2, 3}, 2)
	m := rdd.Map(src, func(x int) int { count(); return x })
	f := rdd.Filter(m, func(int) bool { count(); return true })
	fm := rdd.FlatMap(f, func(x int) []int { count(); return []int{x} })
	mp := rdd.MapPartitions(fm, func(_ context.Context, _ int, in iter.Seq[int], yield func(int) bool) error {
		count()
		for x := range in {
			if !yield(x) {
				return nil
			}
		}
		return nil
	})
	s := rdd.Sample(mp, rdd.WithoutReplacement, 1, 1)
	if calls.Load() != 0 {
		t.Fatalf("building the graph ran user code %d times", calls.Load())
	}
	if _, err := rdd.Count(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	// 3 elements through Map, Filter and FlatMap, 2 partitions through
	// MapPartitions.
	if got := calls.Load(); got != 3*3+2 {
		t.Errorf("one Count ran user code %d times, want 11", got)
	}
}

func TestSampleBounds(t *testing.T) {
	hEach(t, hIntCases(), func(t *testing.T, eng *rdd.Engine, c hCase[int]) {
		r := rdd.FromPartitions(eng, c.parts)
		none := hPerPart(c.parts, func(int, []int) []int { return nil })
		hCheckParts(t, rdd.Sample(r, rdd.WithoutReplacement, 0, 7), none)
		hCheckParts(t, rdd.Sample(r, rdd.WithReplacement, 0, 7), none)
		all := rdd.Sample(r, rdd.WithoutReplacement, 1, 7)
		if all.Name() != "rdd.Sample" {
			t.Errorf("Name() = %q", all.Name())
		}
		hCheckParts(t, all, c.parts)
	})
}

func TestSampleReproducible(t *testing.T) {
	ctx := context.Background()
	for _, e := range hEngines() {
		for _, repl := range []rdd.Replacement{rdd.WithoutReplacement, rdd.WithReplacement} {
			src := rdd.Range(e.eng, 0, 20_000, 1, 4)
			a, err := rdd.CollectPartitions(ctx, rdd.Sample(src, repl, 0.3, 42))
			if err != nil {
				t.Fatal(err)
			}
			s := rdd.Sample(src, repl, 0.3, 42)
			b, err := rdd.CollectPartitions(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			again, err := rdd.CollectPartitions(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "same seed, new node", a, b)
			hDiff(t, "same node, second action", a, again)
			// Another engine (parallelism) with the same partitioning gives
			// the same sample.
			other, err := rdd.CollectPartitions(ctx, rdd.Sample(rdd.Range(rdd.NewEngine(rdd.Parallelism(3)), 0, 20_000, 1, 4), repl, 0.3, 42))
			if err != nil {
				t.Fatal(err)
			}
			hDiff(t, "same seed, other engine", a, other)
			c, err := rdd.CollectPartitions(ctx, rdd.Sample(src, repl, 0.3, 43))
			if err != nil {
				t.Fatal(err)
			}
			if slices.EqualFunc(a, c, slices.Equal) {
				t.Errorf("withReplacement=%v: seeds 42 and 43 gave the same sample of 20000 elements", repl)
			}
			// Every sampled element comes from its own partition, in input
			// order: strictly increasing without replacement, non-decreasing
			// (repeats) with it.
			in, err := rdd.CollectPartitions(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			for p, part := range a {
				for i, x := range part {
					if !slices.Contains(in[p], x) {
						t.Fatalf("partition %d: sampled %d is not in the partition", p, x)
					}
					if i > 0 && (x < part[i-1] || repl == rdd.WithoutReplacement && x == part[i-1]) {
						t.Fatalf("withReplacement=%v: partition %d out of order at %d: %d after %d", repl, p, i, x, part[i-1])
					}
				}
			}
		}
	}
}

func TestSampleSize(t *testing.T) {
	// Deterministic seeds; the bounds are more than 10 standard deviations
	// wide, so they hold for any reasonable sampler and fail for a wrong one.
	const n = 200_000
	src := rdd.Range(rdd.NewEngine(), 0, n, 1, 4)
	for _, tc := range []struct {
		repl     rdd.Replacement
		fraction float64
		tol      float64
	}{
		{rdd.WithoutReplacement, 0.25, 2_500},
		{rdd.WithoutReplacement, 0.9, 2_000},
		{rdd.WithReplacement, 0.5, 3_500},
		{rdd.WithReplacement, 1, 5_000},
		{rdd.WithReplacement, 2, 8_000},
	} {
		got, err := rdd.Count(context.Background(), rdd.Sample(src, tc.repl, tc.fraction, 1234))
		if err != nil {
			t.Fatal(err)
		}
		want := tc.fraction * n
		if math.Abs(float64(got)-want) > tc.tol {
			t.Errorf("Sample(withReplacement=%v, %v) of %d: %d elements, want %v ± %v", tc.repl, tc.fraction, n, got, want, tc.tol)
		}
	}
	// With replacement, some elements must appear more than once.
	got, err := rdd.CountByValue(context.Background(), rdd.Sample(src, rdd.WithReplacement, 1, 99))
	if err != nil {
		t.Fatal(err)
	}
	repeated := 0
	for _, c := range got {
		if c > 1 {
			repeated++
		}
	}
	if repeated < n/10 {
		t.Errorf("with replacement and fraction 1, only %d of %d elements repeated", repeated, n)
	}
}

func TestSampleInvalid(t *testing.T) {
	src := rdd.Parallelize(rdd.NewEngine(), hSeq(0, 10), 2)
	for _, tc := range []struct {
		repl     rdd.Replacement
		fraction float64
	}{
		{rdd.WithoutReplacement, -0.1},
		{rdd.WithoutReplacement, 1.5},
		{rdd.WithoutReplacement, math.NaN()},
		{rdd.WithoutReplacement, math.Inf(1)},
		{rdd.WithReplacement, -1},
		{rdd.WithReplacement, math.NaN()},
		{rdd.WithReplacement, math.Inf(1)},
		{rdd.WithReplacement, math.Inf(-1)},
	} {
		r := rdd.Sample(src, tc.repl, tc.fraction, 1)
		hCheckInvalid(t, r.Err(), "rdd.Sample")
		_, err := rdd.Count(context.Background(), r)
		hCheckInvalid(t, err, "rdd.Sample")
	}
}
