package rdd_test

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

type wSKV = ops.KV[string, string]

// wJoinCase is a pair of join inputs: a's values are ints, b's strings.
type wJoinCase struct {
	name   string
	a      []wKV
	b      []wSKV
	pa, pb int // partition counts; 0 means rdd.Empty
}

func (c wJoinCase) rdds(e *rdd.Engine) (*rdd.RDD[wKV], *rdd.RDD[wSKV]) {
	a, b := rdd.Empty[wKV](e), rdd.Empty[wSKV](e)
	if c.pa > 0 {
		a = rdd.Parallelize(e, c.a, c.pa)
	}
	if c.pb > 0 {
		b = rdd.Parallelize(e, c.b, c.pb)
	}
	return a, b
}

func wRight(n int, key func(i int) string) []wSKV {
	s := make([]wSKV, n)
	for i := range s {
		s[i] = ops.Pair(key(i), "r"+strconv.Itoa(i))
	}
	return s
}

func wLeft(n int, key func(i int) string) []wKV {
	return wGen("", n, 1, key).data
}

func wJoinCases() []wJoinCase {
	k := func(mod int) func(int) string { return func(i int) string { return "k" + strconv.Itoa(i%mod) } }
	return []wJoinCase{
		{name: "both Empty"},
		{name: "left Empty", b: wRight(5, k(3)), pb: 2},
		{name: "right no elements", a: wLeft(5, k(3)), pa: 2, pb: 3},
		{name: "one partition", a: wLeft(20, k(6)), b: wRight(10, k(4)), pa: 1, pb: 1},
		{name: "more partitions than elements", a: wLeft(3, k(2)), b: wRight(2, k(3)), pa: 8, pb: 5},
		{name: "duplicates both sides", a: wLeft(30, k(5)), b: wRight(24, func(i int) string { return "k" + strconv.Itoa(i%8) }), pa: 3, pb: 2},
		{name: "skewed", a: wLeft(3000, func(i int) string {
			if i%10 != 0 {
				return "hot"
			}
			return "k" + strconv.Itoa(i%40)
		}), b: wRight(40, func(i int) string {
			if i < 3 {
				return "hot"
			}
			return "k" + strconv.Itoa(i)
		}), pa: 4, pb: 2},
		{name: "zero keys", a: wLeft(6, func(i int) string { return []string{"", "x"}[i%2] }), b: wRight(3, func(i int) string { return []string{"", "y", ""}[i] }), pa: 2, pb: 3},
		{name: "many keys", a: wLeft(30000, k(25000)), b: wRight(20000, func(i int) string { return "k" + strconv.Itoa(i*2) }), pa: 3, pb: 2},
	}
}

// wCoGroupRef is the reference CoGroup: every key of a or b, in first-seen
// order (a first), with all its values on each side in input order.
func wCoGroupRef(a []wKV, b []wSKV) []ops.KV[string, ops.CoGrouped[int, string]] {
	index := map[string]int{}
	var out []ops.KV[string, ops.CoGrouped[int, string]]
	slot := func(k string) *ops.CoGrouped[int, string] {
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, ops.KV[string, ops.CoGrouped[int, string]]{Key: k})
		}
		return &out[i].Value
	}
	for _, kv := range a {
		g := slot(kv.Key)
		g.Left = append(g.Left, kv.Value)
	}
	for _, kv := range b {
		g := slot(kv.Key)
		g.Right = append(g.Right, kv.Value)
	}
	return out
}

// wJoinRef is a nested-loop join: for every pair of a and every pair of b
// with the same key, in the style of the operator, with the unmatched pairs
// of the outer sides.
type wJoinRef struct {
	inner []ops.KV[string, ops.Joined[int, string]]
	left  []ops.KV[string, ops.Joined[int, ops.Maybe[string]]]
	right []ops.KV[string, ops.Joined[ops.Maybe[int], string]]
	full  []ops.KV[string, ops.Joined[ops.Maybe[int], ops.Maybe[string]]]
	sub   []wKV
}

func wJoinRefs(a []wKV, b []wSKV) wJoinRef {
	var r wJoinRef
	inB := map[string]bool{}
	for _, y := range b {
		inB[y.Key] = true
	}
	inA := map[string]bool{}
	for _, x := range a {
		inA[x.Key] = true
	}
	// Group b by key so the nested loop only visits matching pairs.
	byKey := map[string][]wSKV{}
	for _, y := range b {
		byKey[y.Key] = append(byKey[y.Key], y)
	}
	for _, x := range a {
		for _, y := range byKey[x.Key] {
			r.inner = append(r.inner, ops.Pair(x.Key, ops.Joined[int, string]{Left: x.Value, Right: y.Value}))
			r.left = append(r.left, ops.Pair(x.Key, ops.Joined[int, ops.Maybe[string]]{Left: x.Value, Right: ops.Some(y.Value)}))
			r.right = append(r.right, ops.Pair(x.Key, ops.Joined[ops.Maybe[int], string]{Left: ops.Some(x.Value), Right: y.Value}))
			r.full = append(r.full, ops.Pair(x.Key, ops.Joined[ops.Maybe[int], ops.Maybe[string]]{Left: ops.Some(x.Value), Right: ops.Some(y.Value)}))
		}
		if !inB[x.Key] {
			r.left = append(r.left, ops.Pair(x.Key, ops.Joined[int, ops.Maybe[string]]{Left: x.Value}))
			r.full = append(r.full, ops.Pair(x.Key, ops.Joined[ops.Maybe[int], ops.Maybe[string]]{Left: ops.Some(x.Value)}))
			r.sub = append(r.sub, x)
		}
	}
	for _, y := range b {
		if !inA[y.Key] {
			r.right = append(r.right, ops.Pair(y.Key, ops.Joined[ops.Maybe[int], string]{Right: y.Value}))
			r.full = append(r.full, ops.Pair(y.Key, ops.Joined[ops.Maybe[int], ops.Maybe[string]]{Right: ops.Some(y.Value)}))
		}
	}
	return r
}

func wCmpInner(a, b ops.KV[string, ops.Joined[int, string]]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value.Left, b.Value.Left), cmp.Compare(a.Value.Right, b.Value.Right))
}

func wCmpLeft(a, b ops.KV[string, ops.Joined[int, ops.Maybe[string]]]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value.Left, b.Value.Left), wCmpMaybe(a.Value.Right, b.Value.Right))
}

func wCmpRight(a, b ops.KV[string, ops.Joined[ops.Maybe[int], string]]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), wCmpMaybe(a.Value.Left, b.Value.Left), cmp.Compare(a.Value.Right, b.Value.Right))
}

func wCmpFull(a, b ops.KV[string, ops.Joined[ops.Maybe[int], ops.Maybe[string]]]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), wCmpMaybe(a.Value.Left, b.Value.Left), wCmpMaybe(a.Value.Right, b.Value.Right))
}

func wCmpCoGroup(a, b ops.KV[string, ops.CoGrouped[int, string]]) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), slices.Compare(a.Value.Left, b.Value.Left), slices.Compare(a.Value.Right, b.Value.Right))
}

func TestJoins(t *testing.T) {
	eng := wEng()
	for _, c := range wJoinCases() {
		ref := wJoinRefs(c.a, c.b)
		def := max(c.pa, c.pb)
		for _, o := range wOpts(def, wStrPart(3)) {
			if wSkip(len(c.a)+len(c.b), o.name) {
				continue
			}
			t.Run(c.name+"/"+o.name, func(t *testing.T) {
				a, b := c.rdds(eng)
				t.Run("Join", func(t *testing.T) {
					got := slices.Concat(wPartitioned(t, rdd.Join(a, b, o.opts...), o)...)
					if d := wDiff(ref.inner, got, wCmpInner); d != "" {
						t.Error(d)
					}
				})
				t.Run("LeftOuterJoin", func(t *testing.T) {
					got := slices.Concat(wPartitioned(t, rdd.LeftOuterJoin(a, b, o.opts...), o)...)
					if d := wDiff(ref.left, got, wCmpLeft); d != "" {
						t.Error(d)
					}
				})
				t.Run("RightOuterJoin", func(t *testing.T) {
					got := slices.Concat(wPartitioned(t, rdd.RightOuterJoin(a, b, o.opts...), o)...)
					if d := wDiff(ref.right, got, wCmpRight); d != "" {
						t.Error(d)
					}
				})
				t.Run("FullOuterJoin", func(t *testing.T) {
					got := slices.Concat(wPartitioned(t, rdd.FullOuterJoin(a, b, o.opts...), o)...)
					if d := wDiff(ref.full, got, wCmpFull); d != "" {
						t.Error(d)
					}
				})
				t.Run("SubtractByKey", func(t *testing.T) {
					got := slices.Concat(wPartitioned(t, rdd.SubtractByKey(a, b, o.opts...), o)...)
					if d := wDiff(ref.sub, got, wCmpKV); d != "" {
						t.Error(d)
					}
				})
				t.Run("CoGroup", func(t *testing.T) {
					got := slices.Concat(wPartitioned(t, rdd.CoGroup(a, b, o.opts...), o)...)
					for _, g := range got {
						if len(g.Value.Left)+len(g.Value.Right) == 0 {
							t.Errorf("key %q has no values on either side", g.Key)
						}
						// The order of values within a group is not
						// specified: compare them sorted.
						slices.Sort(g.Value.Left)
						slices.Sort(g.Value.Right)
					}
					want := wCoGroupRef(c.a, c.b)
					for _, g := range want {
						slices.Sort(g.Value.Left)
						slices.Sort(g.Value.Right)
					}
					if d := wDiff(want, got, wCmpCoGroup); d != "" {
						t.Error(d)
					}
				})
			})
		}
	}
}

func TestJoinIntKeys(t *testing.T) {
	eng := wEng()
	a := []ops.KV[int, string]{ops.Pair(0, "a0"), ops.Pair(1, "a1"), ops.Pair(0, "a0'"), ops.Pair(-1, "a-1")}
	b := []ops.KV[int, int]{ops.Pair(0, 10), ops.Pair(2, 20), ops.Pair(0, 11)}
	got := wCollect(t, rdd.Join(rdd.Parallelize(eng, a, 2), rdd.Parallelize(eng, b, 3), rdd.WithPartitioner(wIntPart(2))))
	want := []ops.KV[int, ops.Joined[string, int]]{
		ops.Pair(0, ops.Joined[string, int]{Left: "a0", Right: 10}),
		ops.Pair(0, ops.Joined[string, int]{Left: "a0", Right: 11}),
		ops.Pair(0, ops.Joined[string, int]{Left: "a0'", Right: 10}),
		ops.Pair(0, ops.Joined[string, int]{Left: "a0'", Right: 11}),
	}
	compare := func(x, y ops.KV[int, ops.Joined[string, int]]) int {
		return cmp.Or(cmp.Compare(x.Key, y.Key), cmp.Compare(x.Value.Left, y.Value.Left), cmp.Compare(x.Value.Right, y.Value.Right))
	}
	if d := wDiff(want, got, compare); d != "" {
		t.Error(d)
	}
}

// TestJoinCoPartitioned checks that inputs already partitioned by the
// join's partitioner are read in place and the partitioner is kept.
func TestJoinCoPartitioned(t *testing.T) {
	eng := wEng()
	c := wJoinCases()[5] // duplicates both sides
	ref := wJoinRefs(c.a, c.b)
	a, b := c.rdds(eng)
	h4 := shuffle.NewHash[string](4)
	pa := rdd.PartitionBy(a, rdd.WithPartitioner(h4))
	pb := rdd.PartitionBy(b, rdd.Partitions[string](4)) // an equal hash partitioner

	tests := []struct {
		name     string
		r        *rdd.RDD[ops.KV[string, ops.Joined[int, string]]]
		shuffles int
		parts    int
	}{
		{"both co-partitioned", rdd.Join(pa, pb), 0, 4},
		{"both, explicit Partitions", rdd.Join(pa, pb, rdd.Partitions[string](4)), 0, 4},
		{"both, equal partitioner", rdd.Join(pa, pb, rdd.WithPartitioner(shuffle.NewHash[string](4))), 0, 4},
		{"left only", rdd.Join(pa, b), 1, 4},
		{"right only", rdd.Join(a, pb), 1, 4},
		{"after MapValues", rdd.Join(rdd.MapValues(pa, ops.Identity[int]), pb), 0, 4},
		{"other partition count", rdd.Join(pa, pb, rdd.Partitions[string](3)), 2, 3},
		// An input's partitioner is the default only if it has at least as
		// many partitions as the larger input.
		{"partitioner too small", rdd.Join(rdd.PartitionBy(a, rdd.Partitions[string](2)), rdd.Parallelize(eng, c.b, 5)), 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug := tt.r.DebugString()
			if got := wDirectShuffles(debug); got != tt.shuffles {
				t.Errorf("%d shuffles, want %d; lineage:\n%s", got, tt.shuffles, debug)
			}
			if tt.r.NumPartitions() != tt.parts {
				t.Errorf("NumPartitions() = %d, want %d", tt.r.NumPartitions(), tt.parts)
			}
			p, ok := rdd.PartitionerOf(tt.r)
			if !ok || p.NumPartitions() != tt.parts {
				t.Fatalf("PartitionerOf = %v", wPart(tt.r))
			}
			if tt.shuffles < 2 && !wSame(p, h4) {
				t.Errorf("partitioner = %v, want the inputs' %v", p, h4)
			}
			parts := wParts(t, tt.r)
			wCheckPlaced(t, parts, p)
			if d := wDiff(ref.inner, slices.Concat(parts...), wCmpInner); d != "" {
				t.Error(d)
			}
		})
	}
	// A custom partitioner already on one side is the default for the join.
	custom := wStrPart(5)
	pc := rdd.PartitionBy(a, rdd.WithPartitioner(custom))
	j := rdd.Join(pc, b)
	if wPart(j) != any(custom) || j.NumPartitions() != 5 || wDirectShuffles(j.DebugString()) != 1 {
		t.Errorf("Join over a custom-partitioned input: partitioner = %v, %d partitions, lineage:\n%s", wPart(j), j.NumPartitions(), j.DebugString())
	}
	if d := wDiff(ref.inner, wCollect(t, j), wCmpInner); d != "" {
		t.Error(d)
	}
	// The result of a co-partitioned join feeds a ReduceByKey without a
	// shuffle.
	counts := rdd.ReduceByKey(rdd.MapValues(rdd.Join(pa, pb), func(ops.Joined[int, string]) int { return 1 }), ops.Sum[int])
	if n := wDirectShuffles(counts.DebugString()); n != 0 {
		t.Errorf("ReduceByKey after a join shuffles again:\n%s", counts.DebugString())
	}
	want := map[string]int{}
	for _, p := range ref.inner {
		want[p.Key]++
	}
	got := map[string]int{}
	for _, p := range wCollect(t, counts) {
		got[p.Key] = p.Value
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func TestSelfJoin(t *testing.T) {
	eng := wEng()
	data := []wKV{ops.Pair("a", 1), ops.Pair("a", 2), ops.Pair("b", 3)}
	r := rdd.Parallelize(eng, data, 2)
	got := wCollect(t, rdd.Join(r, r))
	want := []ops.KV[string, ops.Joined[int, int]]{
		ops.Pair("a", ops.Joined[int, int]{Left: 1, Right: 1}), ops.Pair("a", ops.Joined[int, int]{Left: 1, Right: 2}),
		ops.Pair("a", ops.Joined[int, int]{Left: 2, Right: 1}), ops.Pair("a", ops.Joined[int, int]{Left: 2, Right: 2}),
		ops.Pair("b", ops.Joined[int, int]{Left: 3, Right: 3}),
	}
	compare := func(x, y ops.KV[string, ops.Joined[int, int]]) int {
		return cmp.Or(cmp.Compare(x.Key, y.Key), cmp.Compare(x.Value.Left, y.Value.Left), cmp.Compare(x.Value.Right, y.Value.Right))
	}
	if d := wDiff(want, got, compare); d != "" {
		t.Error(d)
	}
	// Partitioned, the self-join reads the same partitions twice in place.
	pr := rdd.PartitionBy(r, rdd.Partitions[string](3))
	sj := rdd.Join(pr, pr)
	if wDirectShuffles(sj.DebugString()) != 0 {
		t.Errorf("self-join of a partitioned RDD shuffles:\n%s", sj.DebugString())
	}
	if d := wDiff(want, wCollect(t, sj), compare); d != "" {
		t.Error(d)
	}
	if got := wCollect(t, rdd.SubtractByKey(r, r)); len(got) != 0 {
		t.Errorf("SubtractByKey(r, r) = %v", got)
	}
}

func TestJoinNames(t *testing.T) {
	a := rdd.Parallelize(wEng(), []wKV{ops.Pair("a", 1)}, 1)
	for want, got := range map[string]string{
		"rdd.Join":           rdd.Join(a, a).Name(),
		"rdd.LeftOuterJoin":  rdd.LeftOuterJoin(a, a).Name(),
		"rdd.RightOuterJoin": rdd.RightOuterJoin(a, a).Name(),
		"rdd.FullOuterJoin":  rdd.FullOuterJoin(a, a).Name(),
		"rdd.CoGroup":        rdd.CoGroup(a, a).Name(),
		"rdd.SubtractByKey":  rdd.SubtractByKey(a, a).Name(),
	} {
		if got != want {
			t.Errorf("Name() = %q, want %q", got, want)
		}
	}
	if err := rdd.Join[string, int, int](a, nil).Err(); err == nil {
		t.Error("Join with a nil RDD: no error")
	}
}
