package ops_test

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/ops"
)

func TestSumSubtract(t *testing.T) {
	if got := ops.Sum(2, 3); got != 5 {
		t.Errorf("Sum(2, 3) = %d", got)
	}
	if got := ops.Sum(-2.5, 1.0); got != -1.5 {
		t.Errorf("Sum(-2.5, 1) = %v", got)
	}
	if got := ops.Sum[uint8](250, 10); got != 4 {
		t.Errorf("Sum[uint8](250, 10) = %d, want wrap-around 4", got)
	}
	type meters int
	if got := ops.Sum[meters](4, 5); got != 9 {
		t.Errorf("Sum on a named type = %d", got)
	}
	if got := ops.Subtract(2, 3); got != -1 {
		t.Errorf("Subtract(2, 3) = %d", got)
	}
	if got := ops.Subtract[uint](3, 2); got != 1 {
		t.Errorf("Subtract[uint](3, 2) = %d", got)
	}
}

func TestMinMax(t *testing.T) {
	tests := []struct {
		a, b     int
		min, max int
	}{
		{1, 2, 1, 2},
		{2, 1, 1, 2},
		{-3, -3, -3, -3},
		{0, math.MinInt, math.MinInt, 0},
	}
	for _, tt := range tests {
		if got := ops.Min(tt.a, tt.b); got != tt.min {
			t.Errorf("Min(%d, %d) = %d", tt.a, tt.b, got)
		}
		if got := ops.Max(tt.a, tt.b); got != tt.max {
			t.Errorf("Max(%d, %d) = %d", tt.a, tt.b, got)
		}
	}
	if ops.Min("b", "a") != "a" || ops.Max("b", "a") != "b" || ops.Min("", "a") != "" {
		t.Error("Min/Max on strings")
	}
	// Equal values: the first argument wins (observable with -0.0 and 0.0).
	negZero := math.Copysign(0, -1)
	if got := ops.Min(negZero, 0.0); !math.Signbit(got) {
		t.Errorf("Min(-0, 0) = %v, want the first argument", got)
	}
	if got := ops.Max(0.0, negZero); math.Signbit(got) {
		t.Errorf("Max(0, -0) = %v, want the first argument", got)
	}
}

func TestOneIdentity(t *testing.T) {
	if ops.One("x") != 1 || ops.One(struct{}{}) != 1 || ops.One[any](nil) != 1 {
		t.Error("One is not 1")
	}
	if ops.Identity(42) != 42 || ops.Identity("s") != "s" {
		t.Error("Identity changed its argument")
	}
}

// fold runs agg over values the way a shuffle does: values split into
// partitions, each folded from Create, partial results merged in order.
func fold[V, C any](agg ops.Aggregator[V, C], parts ...[]V) C {
	var acc C
	started := false
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		c := agg.Create(p[0])
		for _, v := range p[1:] {
			c = agg.MergeValue(c, v)
		}
		if started {
			acc = agg.MergeCombiners(acc, c)
		} else {
			acc, started = c, true
		}
	}
	return acc
}

func TestAggregators(t *testing.T) {
	parts := [][]int{{3, 1, 4}, {}, {1, 5}, {9}}
	if got := fold(ops.Reducing(ops.Sum[int]), parts...); got != 23 {
		t.Errorf("Reducing(Sum) = %d, want 23", got)
	}
	if got := fold(ops.Reducing(func(a, b int) int { return a*10 + b }), []int{1, 2, 3}); got != 123 {
		t.Errorf("Reducing folds left in order: got %d", got)
	}
	if got := fold(ops.Count[int](), parts...); got != 6 {
		t.Errorf("Count = %d, want 6", got)
	}
	if got := fold(ops.MinOf[int](), parts...); got != 1 {
		t.Errorf("MinOf = %d", got)
	}
	if got := fold(ops.MaxOf[int](), parts...); got != 9 {
		t.Errorf("MaxOf = %d", got)
	}
	if got := fold(ops.MinOf[string](), []string{"pear", "apple"}, []string{"fig"}); got != "apple" {
		t.Errorf("MinOf[string] = %q", got)
	}
	if got := fold(ops.Grouping[int](), parts...); !cmp.Equal(got, []int{3, 1, 4, 1, 5, 9}) {
		t.Errorf("Grouping = %v", got)
	}
	mean := fold(ops.Mean[int](), parts...)
	if diff := cmp.Diff(ops.SumCount[int]{Sum: 23, Count: 6}, mean); diff != "" {
		t.Errorf("Mean combiner (-want +got):\n%s", diff)
	}
	if got := mean.Mean(); math.Abs(got-23.0/6) > 1e-12 {
		t.Errorf("Mean() = %v", got)
	}
	if got := (ops.SumCount[float64]{}).Mean(); got != 0 {
		t.Errorf("Mean() of nothing = %v, want 0", got)
	}
	// Folding: the zero starts every partition (here a non-neutral one to
	// make that visible) and combOp merges.
	lengths := ops.Folding(100, func(acc int, s string) int { return acc + len(s) }, ops.Sum[int])
	if got := fold(lengths, []string{"ab", "c"}, []string{"defg"}); got != 207 {
		t.Errorf("Folding = %d, want 100+3 + 100+4", got)
	}
	for name, ok := range map[string]bool{
		"Reducing": ops.Reducing(ops.Sum[int]).Valid(),
		"Folding":  lengths.Valid(),
		"Count":    ops.Count[string]().Valid(),
		"Grouping": ops.Grouping[string]().Valid(),
		"Mean":     ops.Mean[float32]().Valid(),
	} {
		if !ok {
			t.Errorf("%s: Valid() = false", name)
		}
	}
	if (ops.Aggregator[int, int]{Create: ops.Identity[int]}).Valid() {
		t.Error("Valid() = true with nil functions")
	}
	if ops.Reducing[int](nil).Valid() {
		t.Error("Reducing(nil).Valid() = true")
	}
}

func TestGroupingMergeCopies(t *testing.T) {
	// MergeCombiners must not write into spare capacity of its first
	// argument: that slice may be read again.
	g := ops.Grouping[int]()
	a := make([]int, 2, 10)
	a[0], a[1] = 1, 2
	m1 := g.MergeCombiners(a, []int{3})
	m2 := g.MergeCombiners(a, []int{4})
	if !cmp.Equal(m1, []int{1, 2, 3}) || !cmp.Equal(m2, []int{1, 2, 4}) {
		t.Errorf("merges interfere: %v, %v", m1, m2)
	}
	if !cmp.Equal(a, []int{1, 2}) {
		t.Errorf("first argument changed: %v", a)
	}
}

func TestSumInv(t *testing.T) {
	r := ops.SumInv[int64]()
	if !r.Valid() {
		t.Fatal("SumInv().Valid() = false")
	}
	for _, a := range []int64{0, 1, -7, math.MaxInt64, math.MinInt64} {
		for _, b := range []int64{0, 3, -3, math.MaxInt64} {
			if got := r.Inverse(r.Reduce(a, b), b); got != a {
				t.Errorf("Inverse(Reduce(%d, %d), %d) = %d", a, b, b, got)
			}
		}
	}
	f := ops.SumInv[float64]()
	if got := f.Inverse(f.Reduce(1.5, 2.25), 2.25); got != 1.5 {
		t.Errorf("float: %v", got)
	}
	if (ops.InvReducer[int]{Reduce: ops.Sum[int]}).Valid() {
		t.Error("Valid() = true without Inverse")
	}
}

func TestMaybe(t *testing.T) {
	s := ops.Some(0)
	if v, ok := s.Get(); v != 0 || !ok {
		t.Errorf("Some(0).Get() = %v, %v", v, ok)
	}
	if s.OrElse(9) != 0 {
		t.Error("Some(0).OrElse(9) != 0: a present zero is still present")
	}
	n := ops.None[string]()
	if v, ok := n.Get(); v != "" || ok {
		t.Errorf("None.Get() = %q, %v", v, ok)
	}
	if n.OrElse("def") != "def" {
		t.Error("None.OrElse")
	}
	if n != (ops.Maybe[string]{}) {
		t.Error("None is not the zero Maybe")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		v    interface{ String() string }
		want string
	}{
		{ops.Pair("a", 1), "(a, 1)"},
		{ops.Pair("", 0), "(, 0)"},
		{ops.Pair(3, []int{1, 2}), "(3, [1 2])"},
		{ops.Joined[int, string]{Left: 1, Right: "x"}, "(1, x)"},
		{ops.Some(4), "Some(4)"},
		{ops.None[int](), "None"},
		{ops.Some(""), "Some()"},
		{ops.Joined[int, ops.Maybe[string]]{Left: 1, Right: ops.None[string]()}, "(1, None)"},
		{ops.Pair("k", ops.Joined[ops.Maybe[int], ops.Maybe[int]]{Left: ops.Some(1)}), "(k, (Some(1), None))"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if kv := ops.Pair("k", 2); kv.Key != "k" || kv.Value != 2 {
		t.Errorf("Pair = %+v", kv)
	}
}
