package shuffle_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/internal/argerr"
	"github.com/spatedev/spate/shuffle"
)

type point struct {
	X, Y int
	Tag  string
}

// checkHash checks that a hash partitioner over n partitions keeps every key
// in range, answers the same for the same key, and spreads keys evenly.
func checkHash[K comparable](t *testing.T, n int, keys []K) {
	t.Helper()
	h := shuffle.NewHash[K](n)
	again := shuffle.NewHash[K](n)
	if h.NumPartitions() != n {
		t.Fatalf("NumPartitions() = %d, want %d", h.NumPartitions(), n)
	}
	counts := make([]int, n)
	for _, k := range keys {
		p := h.Partition(k)
		if p < 0 || p >= n {
			t.Fatalf("Partition(%v) = %d, want [0, %d)", k, p, n)
		}
		if q := h.Partition(k); q != p {
			t.Fatalf("Partition(%v) = %d, then %d", k, p, q)
		}
		if q := again.Partition(k); q != p {
			t.Fatalf("Partition(%v) = %d, another Hash(%d) says %d", k, p, n, q)
		}
		if p != int(h.Sum64(k)%uint64(n)) {
			t.Fatalf("Partition(%v) = %d, want Sum64 mod n = %d", k, p, h.Sum64(k)%uint64(n))
		}
		counts[p]++
	}
	// Each partition should hold about len(keys)/n keys: allow 10%, many
	// standard deviations for these sizes.
	want := float64(len(keys)) / float64(n)
	for p, c := range counts {
		if math.Abs(float64(c)-want) > 0.1*want {
			t.Errorf("partition %d holds %d keys, want about %.0f (counts %v)", p, c, want, counts)
		}
	}
}

func TestHashDistribution(t *testing.T) {
	const nkeys = 100_000
	for _, n := range []int{2, 7, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Run("string", func(t *testing.T) {
				keys := make([]string, nkeys)
				for i := range keys {
					keys[i] = "key-" + strconv.Itoa(i)
				}
				checkHash(t, n, keys)
			})
			t.Run("int", func(t *testing.T) {
				keys := make([]int, nkeys)
				for i := range keys {
					keys[i] = i - nkeys/2 // negative keys too
				}
				checkHash(t, n, keys)
			})
			t.Run("int32", func(t *testing.T) {
				keys := make([]int32, nkeys)
				for i := range keys {
					keys[i] = int32(i * 1024) // low bits all zero
				}
				checkHash(t, n, keys)
			})
			t.Run("int64", func(t *testing.T) {
				keys := make([]int64, nkeys)
				for i := range keys {
					keys[i] = int64(i) << 32 // low half all zero
				}
				checkHash(t, n, keys)
			})
			t.Run("uint64", func(t *testing.T) {
				keys := make([]uint64, nkeys)
				for i := range keys {
					keys[i] = uint64(i) * 16
				}
				checkHash(t, n, keys)
			})
			t.Run("uint32", func(t *testing.T) {
				keys := make([]uint32, nkeys)
				for i := range keys {
					keys[i] = uint32(i)
				}
				checkHash(t, n, keys)
			})
			t.Run("struct", func(t *testing.T) {
				keys := make([]point, nkeys)
				for i := range keys {
					keys[i] = point{X: i % 317, Y: i / 317, Tag: "p"}
				}
				checkHash(t, n, keys)
			})
		})
	}
}

func TestHashZeroAndOne(t *testing.T) {
	// Below 1 a Hash says it has n partitions (rdd refuses it), not 1.
	for _, n := range []int{-3, 0, 1} {
		h := shuffle.NewHash[string](n)
		if h.NumPartitions() != n {
			t.Errorf("NewHash(%d).NumPartitions() = %d, want %d", n, h.NumPartitions(), n)
		}
		for _, k := range []string{"", "a", "zzz"} {
			if p := h.Partition(k); p != 0 {
				t.Errorf("NewHash(%d).Partition(%q) = %d, want 0", n, k, p)
			}
		}
	}
	// Zero keys are ordinary keys.
	h := shuffle.NewHash[int](5)
	if p := h.Partition(0); p < 0 || p >= 5 {
		t.Errorf("Partition(0) = %d", p)
	}
}

func TestHashIntTypesAgree(t *testing.T) {
	// Keys of the fast-path integer types hash by value: equal values of
	// int and int64 land in the same partition.
	hi, h64 := shuffle.NewHash[int](13), shuffle.NewHash[int64](13)
	for i := -1000; i < 1000; i++ {
		if hi.Partition(i) != h64.Partition(int64(i)) {
			t.Fatalf("int %d -> %d, int64 -> %d", i, hi.Partition(i), h64.Partition(int64(i)))
		}
	}
}

// modPart is a custom partitioner used by value: equal values partition
// alike.
type modPart struct{ n int }

func (p modPart) NumPartitions() int    { return p.n }
func (p modPart) Partition(key int) int { return (key%p.n + p.n) % p.n }
func (p modPart) Equal(other shuffle.Partitioner[int]) bool {
	o, ok := other.(modPart)
	return ok && o == p
}

func TestPartitionerEqual(t *testing.T) {
	a, b, c := shuffle.NewHash[int](4), shuffle.NewHash[int](4), shuffle.NewHash[int](5)
	rng := shuffle.NewRange([]int{10}, shuffle.Ascending)
	tests := []struct {
		name string
		x, y shuffle.Partitioner[int]
		want bool
	}{
		{"same pointer", a, a, true},
		{"equal count", a, b, true},
		{"other count", a, c, false},
		{"nil", a, nil, false},
		{"two Ranges over the same bounds", rng, shuffle.NewRange([]int{10}, shuffle.Ascending), false},
		{"one Range", rng, rng, true},
		{"equal values", modPart{3}, modPart{3}, true},
		{"other values", modPart{3}, modPart{4}, false},
		{"hash vs range", a, shuffle.NewRange([]int{1, 2, 3}, shuffle.Ascending), false},
		{"range vs hash", rng, a, false},
		{"hash vs custom", a, modPart{4}, false},
	}
	for _, tt := range tests {
		if got := tt.x.Equal(tt.y); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := a.String(); got != "shuffle.Hash(4)" {
		t.Errorf("String() = %q", got)
	}
}

func TestRangePartition(t *testing.T) {
	r := shuffle.NewRange([]int{10, 20, 30}, shuffle.Ascending)
	if r.NumPartitions() != 4 {
		t.Fatalf("NumPartitions() = %d, want 4", r.NumPartitions())
	}
	tests := map[int]int{math.MinInt: 0, -5: 0, 0: 0, 10: 0, 11: 1, 20: 1, 21: 2, 30: 2, 31: 3, math.MaxInt: 3}
	for k, want := range tests {
		if got := r.Partition(k); got != want {
			t.Errorf("ascending Partition(%d) = %d, want %d", k, got, want)
		}
	}
	d := shuffle.NewRange([]int{30, 20, 10}, shuffle.Descending)
	tests = map[int]int{100: 0, 30: 0, 29: 1, 20: 1, 19: 2, 10: 2, 9: 3, -100: 3}
	for k, want := range tests {
		if got := d.Partition(k); got != want {
			t.Errorf("descending Partition(%d) = %d, want %d", k, got, want)
		}
	}
	// Bounds is a copy, and so is what NewRange keeps.
	bounds := []int{1, 2}
	r = shuffle.NewRange(bounds, shuffle.Ascending)
	bounds[0] = 100
	b := r.Bounds()
	b[1] = -1
	if diff := cmp.Diff([]int{1, 2}, r.Bounds()); diff != "" {
		t.Errorf("Bounds() changed through an alias (-want +got):\n%s", diff)
	}
	// No bounds: one partition.
	one := shuffle.NewRange[string](nil, shuffle.Ascending)
	if one.NumPartitions() != 1 || one.Partition("x") != 0 {
		t.Errorf("NewRange(nil): %d partitions, Partition = %d", one.NumPartitions(), one.Partition("x"))
	}
	// Bounds must each be after the one before, in the partitioner's order.
	for name, r := range map[string]*shuffle.Range[int]{
		"unsorted":              shuffle.NewRange([]int{10, 30, 20}, shuffle.Ascending),
		"repeated":              shuffle.NewRange([]int{10, 10}, shuffle.Ascending),
		"ascending, Descending": shuffle.NewRange([]int{10, 20}, shuffle.Descending),
		"nil compare":           shuffle.NewRangeFunc([]int{10}, nil),
	} {
		if err := r.Err(); !errors.Is(err, argerr.ErrInvalid) {
			t.Errorf("%s: Err() = %v, want ErrInvalid", name, err)
		}
		if got := r.Partition(25); got != 0 {
			t.Errorf("%s: Partition = %d, want 0 for an invalid partitioner", name, got)
		}
	}
	if err := shuffle.NewRange([]int{30, 20, 10}, shuffle.Descending).Err(); err != nil {
		t.Errorf("descending bounds, Descending: Err() = %v", err)
	}
	// NewRangeFunc with a custom order (by length).
	byLen := shuffle.NewRangeFunc([]string{"aa", "aaaa"}, func(a, b string) int { return len(a) - len(b) })
	for k, want := range map[string]int{"": 0, "zz": 0, "zzz": 1, "zzzz": 1, "zzzzz": 2} {
		if got := byLen.Partition(k); got != want {
			t.Errorf("by length Partition(%q) = %d, want %d", k, got, want)
		}
	}
}

func uniform(n int, w float64) []shuffle.Sample[int] {
	s := make([]shuffle.Sample[int], n)
	for i := range s {
		// Out of order on purpose: RangeBounds sorts.
		s[i] = shuffle.Sample[int]{Key: (i * 7919) % n, Weight: w}
	}
	return s
}

func checkBounds[K any](t *testing.T, bounds []K, n int, compare func(a, b K) int) {
	t.Helper()
	if len(bounds) > n-1 {
		t.Fatalf("%d bounds for %d partitions", len(bounds), n)
	}
	for i := 1; i < len(bounds); i++ {
		if compare(bounds[i-1], bounds[i]) >= 0 {
			t.Fatalf("bounds not strictly increasing at %d: %v", i, bounds)
		}
	}
}

func TestRangeBoundsBalanced(t *testing.T) {
	const size = 10_000
	for _, n := range []int{2, 3, 8, 10} {
		samples := uniform(size, 2.5)
		bounds := shuffle.RangeBounds(samples, n, cmpInt)
		checkBounds(t, bounds, n, cmpInt)
		if len(bounds) != n-1 {
			t.Fatalf("n=%d: %d bounds %v, want %d", n, len(bounds), bounds, n-1)
		}
		if !slices.IsSortedFunc(samples, func(a, b shuffle.Sample[int]) int { return cmpInt(a.Key, b.Key) }) {
			t.Errorf("n=%d: samples not sorted in place", n)
		}
		r := shuffle.NewRangeFunc(bounds, cmpInt)
		counts := make([]int, r.NumPartitions())
		for k := range size {
			counts[r.Partition(k)]++
		}
		want := size / n
		for p, c := range counts {
			if c < want*95/100 || c > want*105/100 {
				t.Errorf("n=%d: partition %d holds %d of %d keys, want about %d (counts %v)", n, p, c, size, want, counts)
			}
		}
	}
}

func TestRangeBoundsWeights(t *testing.T) {
	// Keys 0..99 weigh 1, keys 100..199 weigh 3: the heavy half should get
	// three quarters of the partitions' weight evenly.
	var s []shuffle.Sample[int]
	for k := range 200 {
		w := 1.0
		if k >= 100 {
			w = 3
		}
		s = append(s, shuffle.Sample[int]{Key: k, Weight: w})
	}
	bounds := shuffle.RangeBounds(s, 4, cmpInt)
	// Total 400, step 100: each bound is the first key whose cumulative
	// weight reaches the next multiple of 100.
	var want []int
	cum, target := 0.0, 100.0
	for k := range 200 {
		if k < 100 {
			cum++
		} else {
			cum += 3
		}
		if cum >= target && len(want) < 3 {
			want = append(want, k)
			target += 100
		}
	}
	if diff := cmp.Diff(want, bounds); diff != "" {
		t.Errorf("weighted bounds (-want +got):\n%s", diff)
	}
}

func TestRangeBoundsDuplicates(t *testing.T) {
	// Key 5 holds most of the weight: it must appear at most once among
	// the bounds, the bounds must stay strictly increasing, and every
	// copy of a key lands in one partition.
	var s []shuffle.Sample[int]
	for i := range 1000 {
		k := 5
		if i%10 == 0 {
			k = i / 10
		}
		s = append(s, shuffle.Sample[int]{Key: k, Weight: 1})
	}
	for _, n := range []int{2, 4, 16, 200} {
		bounds := shuffle.RangeBounds(slices.Clone(s), n, cmpInt)
		checkBounds(t, bounds, n, cmpInt)
		if c := count(bounds, 5); c > 1 {
			t.Errorf("n=%d: key 5 is %d bounds: %v", n, c, bounds)
		}
		// Each bound is the last of its run of equal keys in the sorted
		// sample, so no range ends inside a run.
		r := shuffle.NewRangeFunc(bounds, cmpInt)
		part := map[int]int{}
		for _, x := range s {
			p := r.Partition(x.Key)
			if q, ok := part[x.Key]; ok && q != p {
				t.Fatalf("n=%d: key %d in partitions %d and %d", n, x.Key, q, p)
			}
			part[x.Key] = p
		}
	}
	// All samples equal: no bound can split them.
	same := []shuffle.Sample[string]{{"a", 1}, {"a", 1}, {"a", 1}, {"a", 1}}
	if b := shuffle.RangeBounds(same, 3, cmpString); len(b) > 1 {
		t.Errorf("all-equal sample: bounds %v, want at most one", b)
	}
}

func TestRangeBoundsEdges(t *testing.T) {
	s := uniform(100, 1)
	if b := shuffle.RangeBounds(s, 1, cmpInt); len(b) != 0 {
		t.Errorf("n=1: bounds %v, want none", b)
	}
	if b := shuffle.RangeBounds(s, 0, cmpInt); len(b) != 0 {
		t.Errorf("n=0: bounds %v, want none", b)
	}
	if b := shuffle.RangeBounds[int](nil, 4, cmpInt); len(b) != 0 {
		t.Errorf("no samples: bounds %v, want none", b)
	}
	// Fewer distinct keys than partitions: at most one bound per key.
	few := []shuffle.Sample[int]{{3, 1}, {1, 1}, {2, 1}}
	b := shuffle.RangeBounds(few, 10, cmpInt)
	checkBounds(t, b, 10, cmpInt)
	if diff := cmp.Diff([]int{1, 2, 3}, b); diff != "" {
		t.Errorf("3 keys, 10 partitions (-want +got):\n%s", diff)
	}
	// Descending order.
	desc := func(a, b int) int { return cmpInt(b, a) }
	b = shuffle.RangeBounds(uniform(1000, 1), 4, desc)
	checkBounds(t, b, 4, desc)
	if len(b) != 3 || b[0] <= b[1] {
		t.Errorf("descending bounds %v", b)
	}
}
