package shuffleexec

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortOrds checks the radix sort of a run's order against a comparison
// sort, with colliding hashes and hashes that agree in their top bytes.
func TestSortOrds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, smallSort, smallSort + 1, 1000, 100_000} {
		for _, buckets := range []int{1, 3, 64} {
			a := make([]ord, n)
			for i := range a {
				h := rng.Uint64()
				switch rng.IntN(4) {
				case 0:
					h &= 0xff // top bytes all zero
				case 1:
					h = uint64(rng.IntN(3)) // collisions
				}
				a[i] = ord{h: h, q: int32(rng.IntN(buckets)), i: int32(i)}
			}
			want := slices.Clone(a)
			slices.SortFunc(want, func(x, y ord) int {
				return cmp.Or(cmp.Compare(x.q, y.q), cmp.Compare(x.h, y.h), cmp.Compare(x.i, y.i))
			})
			sortOrds(a, buckets)
			if !slices.Equal(a, want) {
				t.Fatalf("%d entries in %d buckets: the radix sort differs from the comparison sort", n, buckets)
			}
		}
	}
}
