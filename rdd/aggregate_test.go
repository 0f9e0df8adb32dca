package rdd_test

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

func TestReduceByKey(t *testing.T) {
	eng := wEng()
	for _, in := range wInputs() {
		want := wReduceRef(in.data, ops.Sum[int])
		for _, o := range wOpts(in.parts, wStrPart(3)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				r := rdd.ReduceByKey(in.rdd(eng), ops.Sum[int], o.opts...)
				if r.Name() != "rdd.ReduceByKey" {
					t.Errorf("Name() = %q", r.Name())
				}
				got := slices.Concat(wPartitioned(t, r, o)...)
				if d := wDiff(want, got, wCmpKV); d != "" {
					t.Error(d)
				}
			})
		}
	}
	for _, in := range wIntInputs() {
		want := wReduceRef(in.data, ops.Sum[int])
		for _, o := range wOpts(in.parts, wIntPart(4)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				r := rdd.ReduceByKey(in.rdd(eng), ops.Sum[int], o.opts...)
				got := slices.Concat(wPartitioned(t, r, o)...)
				if d := wDiff(want, got, wCmpKV); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

func TestReduceByKeyNotCommutativeOrderInTask(t *testing.T) {
	// Within a map task values are reduced in input order: concatenation
	// (associative, not commutative) over one partition gives the input
	// order exactly.
	data := []ops.KV[string, string]{ops.Pair("a", "1"), ops.Pair("b", "x"), ops.Pair("a", "2"), ops.Pair("a", "3"), ops.Pair("b", "y")}
	r := rdd.ReduceByKey(rdd.Parallelize(wEng(), data, 1), func(a, b string) string { return a + b })
	got := wCollect(t, r)
	want := []ops.KV[string, string]{ops.Pair("a", "123"), ops.Pair("b", "xy")}
	if d := wDiff(want, got, wCmpKV); d != "" {
		t.Error(d)
	}
}

func TestFoldByKey(t *testing.T) {
	eng := wEng()
	for _, in := range wInputs() {
		wantSum := wReduceRef(in.data, ops.Sum[int])
		wantMax := wReduceRef(in.data, ops.Max[int])
		for _, o := range wOpts(in.parts, wStrPart(4)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				sum := rdd.FoldByKey(in.rdd(eng), 0, ops.Sum[int], o.opts...)
				if d := wDiff(wantSum, slices.Concat(wPartitioned(t, sum, o)...), wCmpKV); d != "" {
					t.Errorf("sum: %s", d)
				}
				mx := rdd.FoldByKey(in.rdd(eng), math.MinInt, ops.Max[int], o.opts...)
				if d := wDiff(wantMax, slices.Concat(wPartitioned(t, mx, o)...), wCmpKV); d != "" {
					t.Errorf("max: %s", d)
				}
			})
		}
	}
}

// wCountSum is AggregateByKey's result in the tests: a count and a sum.
type wCountSum struct{ N, Sum int }

func wCmpCountSum(a, b ops.KV[string, wCountSum]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value.N, b.Value.N), cmp.Compare(a.Value.Sum, b.Value.Sum))
}

func TestAggregateByKey(t *testing.T) {
	eng := wEng()
	seq := func(u wCountSum, v int) wCountSum { return wCountSum{u.N + 1, u.Sum + v} }
	comb := func(a, b wCountSum) wCountSum { return wCountSum{a.N + b.N, a.Sum + b.Sum} }
	for _, in := range wInputs() {
		want := wAggRef(in.data, ops.Folding(wCountSum{}, seq, comb))
		for _, o := range wOpts(in.parts, wStrPart(3)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				r := rdd.AggregateByKey(in.rdd(eng), wCountSum{}, seq, comb, o.opts...)
				got := slices.Concat(wPartitioned(t, r, o)...)
				if d := wDiff(want, got, wCmpCountSum); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

func TestCombineByKey(t *testing.T) {
	eng := wEng()
	cmpMean := func(a, b ops.KV[string, ops.SumCount[int]]) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value.Sum, b.Value.Sum), cmp.Compare(a.Value.Count, b.Value.Count))
	}
	for _, in := range wInputs() {
		wantMean := wAggRef(in.data, ops.Mean[int]())
		wantCount := wAggRef(in.data, ops.Count[int]())
		wantMin := wAggRef(in.data, ops.MinOf[int]())
		for _, o := range wOpts(in.parts, wStrPart(2)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				mean := rdd.CombineByKey(in.rdd(eng), ops.Mean[int](), o.opts...)
				if mean.Name() != "rdd.CombineByKey" {
					t.Errorf("Name() = %q", mean.Name())
				}
				if d := wDiff(wantMean, slices.Concat(wPartitioned(t, mean, o)...), cmpMean); d != "" {
					t.Errorf("mean: %s", d)
				}
				count := rdd.CombineByKey(in.rdd(eng), ops.Count[int](), o.opts...)
				if d := wDiff(wantCount, slices.Concat(wPartitioned(t, count, o)...), wCmpKV); d != "" {
					t.Errorf("count: %s", d)
				}
				mn := rdd.CombineByKey(in.rdd(eng), ops.MinOf[int](), o.opts...)
				if d := wDiff(wantMin, slices.Concat(wPartitioned(t, mn, o)...), wCmpKV); d != "" {
					t.Errorf("min: %s", d)
				}
			})
		}
	}
}

func wCmpGroup(a, b ops.KV[string, []int]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), slices.Compare(a.Value, b.Value))
}

func TestGroupByKey(t *testing.T) {
	eng := wEng()
	for _, in := range wInputs() {
		want := wAggRef(in.data, ops.Grouping[int]())
		for _, o := range wOpts(in.parts, wStrPart(3)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				r := rdd.GroupByKey(in.rdd(eng), o.opts...)
				got := slices.Concat(wPartitioned(t, r, o)...)
				// Values keep their input order within each map task (a
				// value is its record's index).
				for _, g := range got {
					last := map[int]int{}
					for _, v := range g.Value {
						p := in.inputPartition(v)
						if l, ok := last[p]; ok && l > v {
							t.Fatalf("key %q: value %d after %d from the same map task %d", g.Key, v, l, p)
						}
						last[p] = v
					}
				}
				sorted := make([]ops.KV[string, []int], len(got))
				for i, g := range got {
					sorted[i] = ops.KV[string, []int]{Key: g.Key, Value: slices.Sorted(slices.Values(g.Value))}
				}
				if d := wDiff(want, sorted, wCmpGroup); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

func TestDistinct(t *testing.T) {
	eng := wEng()
	type input struct {
		name  string
		data  []int
		parts int
	}
	inputs := []input{
		{"empty", nil, 3},
		{"one partition", []int{3, 1, 3, 3, 0, 1}, 1},
		{"more partitions than elements", []int{5, 5}, 6},
		{"zero", []int{0, 0, 0, -1, 0}, 2},
		{"skewed", append(slices.Repeat([]int{7}, 5000), 1, 2, 3), 4},
	}
	many := make([]int, wBig)
	for i := range many {
		many[i] = i % (wBig - 5000)
	}
	inputs = append(inputs, input{"many distinct", many, 2})
	for _, in := range inputs {
		var want []int
		seen := map[int]bool{}
		for _, v := range in.data {
			if !seen[v] {
				seen[v] = true
				want = append(want, v)
			}
		}
		custom := wIntPart(3)
		for _, o := range []struct {
			name  string
			opts  []rdd.ShuffleOpt[int]
			parts int
			place shuffle.Partitioner[int]
		}{
			{"default", nil, in.parts, shuffle.NewHash[int](in.parts)},
			{"Partitions(4)", []rdd.ShuffleOpt[int]{rdd.Partitions[int](4)}, 4, shuffle.NewHash[int](4)},
			{"WithPartitioner", []rdd.ShuffleOpt[int]{rdd.WithPartitioner(custom)}, 3, custom},
		} {
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				r := rdd.Distinct(rdd.Parallelize(eng, in.data, in.parts), o.opts...)
				if r.Name() != "rdd.Distinct" {
					t.Errorf("Name() = %q", r.Name())
				}
				if r.NumPartitions() != o.parts {
					t.Errorf("NumPartitions() = %d, want %d", r.NumPartitions(), o.parts)
				}
				parts := wParts(t, r)
				for q, part := range parts {
					for _, v := range part {
						if p := o.place.Partition(v); p != q {
							t.Fatalf("%d in partition %d, partitioner says %d", v, q, p)
						}
					}
				}
				if d := wDiff(want, slices.Concat(parts...), cmp.Compare[int]); d != "" {
					t.Error(d)
				}
			})
		}
	}
	// Distinct of strings, including the empty string.
	words := rdd.Parallelize(eng, strings.Fields("a b a  c b a"), 2)
	got := wCollect(t, rdd.Distinct(rdd.Union(words, rdd.Parallelize(eng, []string{""}, 1))))
	if d := wDiff([]string{"", "a", "b", "c"}, got, strings.Compare); d != "" {
		t.Error(d)
	}
}

func TestByKeyEmptyRDD(t *testing.T) {
	// An input with no partitions gives one empty output partition.
	e := rdd.Empty[wKV](wEng())
	for _, r := range []*rdd.RDD[wKV]{
		rdd.ReduceByKey(e, ops.Sum[int]),
		rdd.FoldByKey(e, 0, ops.Sum[int]),
		rdd.PartitionBy(e),
		rdd.SortByKey(e, rdd.Ascending),
		rdd.SubtractByKey(e, e),
	} {
		if r.NumPartitions() != 1 {
			t.Errorf("%s: NumPartitions() = %d, want 1", r.Name(), r.NumPartitions())
		}
		if got := wCollect(t, r); len(got) != 0 {
			t.Errorf("%s: %v, want nothing", r.Name(), got)
		}
	}
}

// TestReduceByKeyAfterPartitionBy checks that an aggregation over an input
// already partitioned by an equal partitioner combines in place.
func TestReduceByKeyAfterPartitionBy(t *testing.T) {
	eng := wEng()
	in := wInputs()[4] // skewed, 4 partitions
	want := wReduceRef(in.data, ops.Sum[int])
	custom := wStrPart(3)
	tests := []struct {
		name    string
		by      []rdd.ShuffleOpt[string]
		reduce  []rdd.ShuffleOpt[string]
		shuffle bool
	}{
		{"default", nil, nil, false},
		{"Partitions(6) twice", []rdd.ShuffleOpt[string]{rdd.Partitions[string](6)}, []rdd.ShuffleOpt[string]{rdd.Partitions[string](6)}, false},
		{"Partitions(6) then default", []rdd.ShuffleOpt[string]{rdd.Partitions[string](6)}, nil, false},
		{"equal hash partitioner", []rdd.ShuffleOpt[string]{rdd.Partitions[string](6)}, []rdd.ShuffleOpt[string]{rdd.WithPartitioner(shuffle.NewHash[string](6))}, false},
		{"other partition count", []rdd.ShuffleOpt[string]{rdd.Partitions[string](6)}, []rdd.ShuffleOpt[string]{rdd.Partitions[string](5)}, true},
		{"same custom partitioner", []rdd.ShuffleOpt[string]{rdd.WithPartitioner(custom)}, []rdd.ShuffleOpt[string]{rdd.WithPartitioner(custom)}, false},
		// Another custom partitioner whose Equal answers only for itself is
		// not known to be equal, even if it happens to be.
		{"equivalent custom partitioner", []rdd.ShuffleOpt[string]{rdd.WithPartitioner(custom)}, []rdd.ShuffleOpt[string]{rdd.WithPartitioner(wStrPart(3))}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := rdd.PartitionBy(in.rdd(eng), tt.by...)
			for name, r := range map[string]*rdd.RDD[wKV]{
				"ReduceByKey":                rdd.ReduceByKey(pb, ops.Sum[int], tt.reduce...),
				"ReduceByKey after Filter":   rdd.ReduceByKey(rdd.Filter(pb, func(wKV) bool { return true }), ops.Sum[int], tt.reduce...),
				"ReduceByKey after MapValue": rdd.ReduceByKey(rdd.MapValues(pb, ops.Identity[int]), ops.Sum[int], tt.reduce...),
			} {
				debug := r.DebugString()
				if got := wDirectShuffles(debug) > 0; got != tt.shuffle {
					t.Errorf("%s: shuffles = %v, want %v; lineage:\n%s", name, got, tt.shuffle, debug)
				}
				parts := wParts(t, r)
				if d := wDiff(want, slices.Concat(parts...), wCmpKV); d != "" {
					t.Errorf("%s: %s", name, d)
				}
				if !tt.shuffle {
					// The keys stay in the partitions PartitionBy put them in.
					before := wParts(t, pb)
					for q := range parts {
						keysBefore := map[string]bool{}
						for _, kv := range before[q] {
							keysBefore[kv.Key] = true
						}
						for _, kv := range parts[q] {
							if !keysBefore[kv.Key] {
								t.Errorf("%s: key %q moved to partition %d", name, kv.Key, q)
							}
						}
					}
					if got, _ := rdd.PartitionerOf(r); !wSamePart(got, pb) {
						t.Errorf("%s: PartitionerOf = %v, want PartitionBy's", name, got)
					}
				}
			}
		})
	}
}

// wOp is a wide operator over the string-keyed test input, run by Collect.
type wOp struct {
	name string
	run  func(t *testing.T, in *rdd.RDD[wKV], opts ...rdd.ShuffleOpt[string]) error
}

func wRun[T any](t *testing.T, r *rdd.RDD[T]) error {
	_, err := rdd.Collect(t.Context(), r)
	return err
}

// wKeyedOps returns every keyed wide operator.
func wKeyedOps() []wOp {
	other := func(in *rdd.RDD[wKV]) *rdd.RDD[ops.KV[string, string]] {
		return rdd.MapValues(in, func(v int) string { return fmt.Sprint(v) })
	}
	return []wOp{
		{"rdd.ReduceByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.ReduceByKey(in, ops.Sum[int], o...))
		}},
		{"rdd.FoldByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.FoldByKey(in, 0, ops.Sum[int], o...))
		}},
		{"rdd.AggregateByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.AggregateByKey(in, 0, ops.Sum[int], ops.Sum[int], o...))
		}},
		{"rdd.CombineByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.CombineByKey(in, ops.Count[int](), o...))
		}},
		{"rdd.GroupByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.GroupByKey(in, o...))
		}},
		{"rdd.Distinct", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.Distinct(rdd.Keys(in), o...))
		}},
		{"rdd.PartitionBy", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.PartitionBy(in, o...))
		}},
		{"rdd.SortByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.SortByKey(in, rdd.Descending, o...))
		}},
		{"rdd.SortBy", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.SortBy(in, func(kv wKV) string { return kv.Key }, rdd.Ascending, o...))
		}},
		{"rdd.SortByFunc", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.SortByFunc(in, func(kv wKV) string { return kv.Key }, strings.Compare, o...))
		}},
		{"rdd.Join", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.Join(in, other(in), o...))
		}},
		{"rdd.LeftOuterJoin", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.LeftOuterJoin(in, other(in), o...))
		}},
		{"rdd.RightOuterJoin", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.RightOuterJoin(in, other(in), o...))
		}},
		{"rdd.FullOuterJoin", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.FullOuterJoin(in, other(in), o...))
		}},
		{"rdd.CoGroup", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.CoGroup(in, other(in), o...))
		}},
		{"rdd.SubtractByKey", func(t *testing.T, in *rdd.RDD[wKV], o ...rdd.ShuffleOpt[string]) error {
			return wRun(t, rdd.SubtractByKey(in, other(in), o...))
		}},
	}
}

// TestWideOptionErrors checks the errors every keyed wide operator gives for
// bad options and for a partitioner that answers out of range.
func TestWideOptionErrors(t *testing.T) {
	eng := wEng()
	small := rdd.Parallelize(eng, []wKV{ops.Pair("a", 1), ops.Pair("bad-key", 2), ops.Pair("c", 3), ops.Pair("a", 4)}, 2)
	// Mostly distinct keys: the aggregating map tasks pass records through
	// by the time they meet the bad key.
	bigData := make([]wKV, shuffleexec.CheckAfter+100)
	for i := range bigData {
		bigData[i] = wKV{Key: fmt.Sprint("k", i), Value: i}
	}
	bigData[len(bigData)-1].Key = "bad-key"
	big := rdd.Parallelize(eng, bigData, 1)

	invalid := []struct {
		name string
		opts []rdd.ShuffleOpt[string]
	}{
		{"Partitions(0)", []rdd.ShuffleOpt[string]{rdd.Partitions[string](0)}},
		{"Partitions(-1)", []rdd.ShuffleOpt[string]{rdd.Partitions[string](-1)}},
		{"nil partitioner", []rdd.ShuffleOpt[string]{rdd.WithPartitioner[string](nil)}},
		{"Partitions conflicts", []rdd.ShuffleOpt[string]{rdd.Partitions[string](2), rdd.WithPartitioner(wStrPart(3))}},
		{"conflicts, other order", []rdd.ShuffleOpt[string]{rdd.WithPartitioner(wStrPart(3)), rdd.Partitions[string](4)}},
		{"no partitions", []rdd.ShuffleOpt[string]{rdd.WithPartitioner(wStrPart(0))}},
	}
	bad := []struct {
		name string
		in   *rdd.RDD[wKV]
		part shuffle.Partitioner[string]
	}{
		{"too high", small, wBadPart(3, "bad-key")},
		{"negative", small, &wFuncPart[string]{n: 3, f: func(k string) int {
			if k == "bad-key" {
				return -1
			}
			return 1
		}}},
		{"one partition", small, wBadPart(1, "bad-key")},
		{"passing through", big, wBadPart(2, "bad-key")},
	}
	for _, op := range wKeyedOps() {
		t.Run(op.name, func(t *testing.T) {
			for _, tt := range invalid {
				err := op.run(t, small, tt.opts...)
				if !errors.Is(err, rdd.ErrInvalid) {
					t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
				} else if !strings.Contains(err.Error(), op.name) {
					t.Errorf("%s: err = %q does not name %s", tt.name, err, op.name)
				}
			}
			for _, tt := range bad {
				err := op.run(t, tt.in, rdd.WithPartitioner(tt.part))
				if !errors.Is(err, shuffle.ErrPartition) {
					t.Errorf("%s partitioner: err = %v, want ErrPartition", tt.name, err)
					continue
				}
				if !strings.Contains(err.Error(), "bad-key") {
					t.Errorf("%s partitioner: err = %q does not name the key", tt.name, err)
				}
				var te *rdd.TaskError
				if !errors.As(err, &te) || te.Op != op.name {
					t.Errorf("%s partitioner: err = %v, want a *TaskError of %s", tt.name, err, op.name)
				}
			}
		})
	}
}

func TestByKeyNilFunctions(t *testing.T) {
	in := rdd.Parallelize(wEng(), []wKV{ops.Pair("a", 1)}, 1)
	for name, err := range map[string]error{
		"ReduceByKey":          rdd.ReduceByKey(in, nil).Err(),
		"FoldByKey":            rdd.FoldByKey(in, 0, nil).Err(),
		"AggregateByKey seqOp": rdd.AggregateByKey(in, 0, nil, ops.Sum[int]).Err(),
		"AggregateByKey comb":  rdd.AggregateByKey[string, int, int](in, 0, ops.Sum[int], nil).Err(),
		"CombineByKey":         rdd.CombineByKey(in, ops.Aggregator[int, int]{Create: ops.Identity[int]}).Err(),
		"ReduceByKey nil RDD":  rdd.ReduceByKey[string, int](nil, ops.Sum[int]).Err(),
		"GroupByKey nil RDD":   rdd.GroupByKey[string, int](nil).Err(),
	} {
		if !errors.Is(err, rdd.ErrInvalid) {
			t.Errorf("%s: Err() = %v, want ErrInvalid", name, err)
		}
	}
	_, err := rdd.Collect(t.Context(), rdd.ReduceByKey(in, nil))
	if !errors.Is(err, rdd.ErrInvalid) || !strings.Contains(err.Error(), "rdd.ReduceByKey") {
		t.Errorf("Collect = %v, want ErrInvalid naming rdd.ReduceByKey", err)
	}
}

func wPanics[T any](t *testing.T, r *rdd.RDD[T], op string) {
	t.Helper()
	_, err := rdd.Collect(t.Context(), r)
	var pe *rdd.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: err = %v, want a *PanicError", op, err)
	}
	if pe.Op != op || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Errorf("PanicError{Op: %q, Value: %v, %d bytes of stack}, want Op %q, Value boom", pe.Op, pe.Value, len(pe.Stack), op)
	}
	if pe.Partition < 0 || pe.Partition >= max(r.NumPartitions(), 4) {
		t.Errorf("PanicError.Partition = %d", pe.Partition)
	}
}

func TestByKeyPanics(t *testing.T) {
	eng := wEng()
	boom := func(a, b int) int { panic("boom") }
	// Duplicate keys within a map task: the map side merges them.
	dupInTask := rdd.Parallelize(eng, []wKV{ops.Pair("a", 1), ops.Pair("a", 2), ops.Pair("b", 3)}, 1)
	// Each key once per map task: only the reduce side merges.
	dupAcross := rdd.Parallelize(eng, []wKV{ops.Pair("a", 1), ops.Pair("b", 2), ops.Pair("a", 3), ops.Pair("b", 4)}, 2)
	for name, in := range map[string]*rdd.RDD[wKV]{
		"map side":    dupInTask,
		"reduce side": dupAcross,
		"in place":    rdd.PartitionBy(dupAcross, rdd.Partitions[string](3)),
	} {
		t.Run(name, func(t *testing.T) {
			wPanics(t, rdd.ReduceByKey(in, boom), "rdd.ReduceByKey")
			wPanics(t, rdd.FoldByKey(in, 0, boom), "rdd.FoldByKey")
			wPanics(t, rdd.AggregateByKey(in, 0, boom, boom), "rdd.AggregateByKey")
			wPanics(t, rdd.CombineByKey(in, ops.Reducing(boom)), "rdd.CombineByKey")
			// After a Map upstream, the panic still names the aggregation.
			wPanics(t, rdd.ReduceByKey(rdd.Map(in, ops.Identity[wKV]), boom), "rdd.ReduceByKey")
		})
	}
	t.Run("Create", func(t *testing.T) {
		agg := ops.Aggregator[int, int]{
			Create:         func(int) int { panic("boom") },
			MergeValue:     ops.Sum[int],
			MergeCombiners: ops.Sum[int],
		}
		wPanics(t, rdd.CombineByKey(dupAcross, agg), "rdd.CombineByKey")
	})
	t.Run("only combOp", func(t *testing.T) {
		r := rdd.AggregateByKey(dupAcross, 0, ops.Sum[int], boom)
		wPanics(t, r, "rdd.AggregateByKey")
	})
	t.Run("partitioner", func(t *testing.T) {
		p := &wFuncPart[string]{n: 2, f: func(string) int { panic("boom") }}
		wPanics(t, rdd.ReduceByKey(dupAcross, ops.Sum[int], rdd.WithPartitioner(p)), "rdd.ReduceByKey")
		wPanics(t, rdd.PartitionBy(dupAcross, rdd.WithPartitioner(p)), "rdd.PartitionBy")
		wPanics(t, rdd.Join(dupAcross, dupInTask, rdd.WithPartitioner(p)), "rdd.Join")
	})
}

func TestLookupPartitioned(t *testing.T) {
	eng := wEng()
	in := wInputs()[4] // skewed, 4 partitions
	sums := map[string]int{}
	for _, kv := range in.data {
		sums[kv.Key] += kv.Value
	}
	red := rdd.ReduceByKey(in.rdd(eng), ops.Sum[int], rdd.Partitions[string](8))
	parts := wParts(t, red)
	for _, key := range []string{"hot", "k10", "k0"} {
		// MapValues keeps the partitioner: Lookup computes the key's
		// partition only, so f sees only that partition's keys.
		var calls atomic.Int64
		counted := rdd.MapValues(red, func(v int) int { calls.Add(1); return v })
		got, err := rdd.Lookup(t.Context(), counted, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != sums[key] {
			t.Errorf("Lookup(%q) = %v, want [%d]", key, got, sums[key])
		}
		q := shuffle.NewHash[string](8).Partition(key)
		if n := calls.Load(); n != int64(len(parts[q])) {
			t.Errorf("Lookup(%q) computed %d pairs, want the %d of partition %d only", key, n, len(parts[q]), q)
		}
	}
	if got, err := rdd.Lookup(t.Context(), red, "missing"); err != nil || len(got) != 0 {
		t.Errorf(`Lookup("missing") = %v, %v`, got, err)
	}
	// A custom partitioner: all values of the key, in partition order.
	data := []wKV{ops.Pair("x", 1), ops.Pair("y", 2), ops.Pair("x", 3), ops.Pair("", 4), ops.Pair("x", 5)}
	pb := rdd.PartitionBy(rdd.Parallelize(eng, data, 3), rdd.WithPartitioner(wStrPart(2)))
	if got, err := rdd.Lookup(t.Context(), pb, "x"); err != nil || !slices.Equal(got, []int{1, 3, 5}) {
		t.Errorf(`Lookup("x") = %v, %v, want [1 3 5]`, got, err)
	}
	if got, err := rdd.Lookup(t.Context(), pb, ""); err != nil || !slices.Equal(got, []int{4}) {
		t.Errorf(`Lookup("") = %v, %v, want [4]`, got, err)
	}
	// A partitioner that answers out of range for the looked-up key.
	ghost := rdd.PartitionBy(rdd.Parallelize(eng, data, 3), rdd.WithPartitioner(wBadPart(2, "ghost")))
	if _, err := rdd.Lookup(t.Context(), ghost, "ghost"); !errors.Is(err, shuffle.ErrPartition) || !strings.Contains(err.Error(), "ghost") {
		t.Errorf(`Lookup("ghost") = %v, want ErrPartition naming the key`, err)
	}
}
