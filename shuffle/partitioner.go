package shuffle

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/spatedev/spate/internal/argerr"
	"github.com/spatedev/spate/internal/keyhash"
)

// Partitioner assigns keys to output partitions.
//
// Partition must be deterministic, safe for concurrent use and return a value
// in [0, NumPartitions()).
//
// Equal reports whether other places every key in the same partition as
// this partitioner: operators use it to skip a shuffle when their input is
// already partitioned the way they need (co-partitioned joins, ReduceByKey
// after PartitionBy). A partitioner that cannot tell answers whether other
// is the very same partitioner (the same pointer), which is always correct:
// a false answer costs a shuffle, never a wrong result.
type Partitioner[K any] interface {
	NumPartitions() int
	Partition(key K) int
	Equal(other Partitioner[K]) bool
}

// ErrPartition is wrapped by the error returned when a partitioner answers a
// partition outside [0, NumPartitions()).
var ErrPartition = fmt.Errorf("shuffle: partition out of range")

// seed is the process-wide hash seed: a key hashes to the same partition in
// every shuffle of this process.
var seed = maphash.MakeSeed()

// Hash is the default partitioner: hash(key) mod n. Strings and the common
// integer types take a fast path; any other comparable key is hashed with
// [maphash.Comparable]. The hash is consistent within a process, not across
// processes.
type Hash[K comparable] struct {
	n int
	h keyhash.Hasher[K]
}

// NewHash returns a hash partitioner over n partitions. n must be at least
// 1: a Hash over fewer says so (NumPartitions returns n), which rdd's wide
// operators refuse as an invalid partitioner (rdd.WithPartitioner) rather
// than partition by it; its Partition answers 0.
func NewHash[K comparable](n int) *Hash[K] {
	return &Hash[K]{n: n, h: keyhash.New[K](seed)}
}

// NumPartitions returns n.
func (h *Hash[K]) NumPartitions() int { return h.n }

// Partition returns the partition of key.
func (h *Hash[K]) Partition(key K) int {
	if h.n <= 1 {
		return 0
	}
	return int(h.Sum64(key) % uint64(h.n))
}

// Sum64 returns the 64-bit hash the partitioner uses for key.
func (h *Hash[K]) Sum64(key K) uint64 { return h.h.Sum64(key) }

// Equal reports whether other is a Hash partitioner with the same partition
// count.
func (h *Hash[K]) Equal(other Partitioner[K]) bool {
	o, ok := other.(*Hash[K])
	return ok && o.n == h.n
}

// String describes the partitioner.
func (h *Hash[K]) String() string { return fmt.Sprintf("shuffle.Hash(%d)", h.n) }

// Range assigns keys to contiguous ranges: partition i holds the keys k with
// bounds[i-1] < k <= bounds[i] (in the partitioner's order), the last
// partition the keys above every bound. With n-1 bounds there are n
// partitions.
type Range[K any] struct {
	bounds []K
	cmp    func(a, b K) int
	err    error
}

// Order is the order of a range partitioner's keys, and of rdd.SortBy and
// rdd.SortByKey (rdd.Order is this type): [Ascending] or [Descending], the
// only two values (the zero Order is Ascending). Where Spark passes a boolean
// ascending, Spate names the order.
type Order struct{ descending bool }

var (
	// Ascending orders keys smallest first. It is the zero Order.
	Ascending = Order{}
	// Descending orders keys largest first.
	Descending = Order{descending: true}
)

// String returns "Ascending" or "Descending".
func (o Order) String() string {
	if o.descending {
		return "Descending"
	}
	return "Ascending"
}

// NewRange returns a range partitioner over sorted, distinct bounds for an
// ordered key type, in order (for Descending the bounds must be sorted in
// descending order). Bounds that are not are an invalid partitioner (see
// NewRangeFunc).
func NewRange[K cmp.Ordered](bounds []K, order Order) *Range[K] {
	c := cmp.Compare[K]
	if order.descending {
		c = func(a, b K) int { return cmp.Compare(b, a) }
	}
	return newRange("shuffle.NewRange", bounds, c)
}

// NewRangeFunc returns a range partitioner over bounds sorted by compare,
// each greater than the one before. Bounds out of order, repeated, or a nil
// compare make an invalid partitioner: [Range.Err] says what is wrong, and
// rdd's wide operators refuse it (rdd.WithPartitioner) rather than
// partition by it; its Partition answers 0. compare is called here, for
// each pair of neighbouring bounds.
func NewRangeFunc[K any](bounds []K, compare func(a, b K) int) *Range[K] {
	return newRange("shuffle.NewRangeFunc", bounds, compare)
}

// newRange is NewRangeFunc, its errors naming op.
func newRange[K any](op string, bounds []K, compare func(a, b K) int) *Range[K] {
	r := &Range[K]{bounds: slices.Clone(bounds), cmp: compare}
	if compare == nil {
		r.err = argerr.Errorf(op, "nil compare")
		return r
	}
	for i := 1; i < len(r.bounds); i++ {
		if compare(r.bounds[i-1], r.bounds[i]) >= 0 {
			r.err = argerr.Errorf(op, "bound %d (%v) is not after bound %d (%v) in the partitioner's order", i, r.bounds[i], i-1, r.bounds[i-1])
			return r
		}
	}
	return r
}

// Err returns why the partitioner is invalid (bounds out of order, a nil
// compare), wrapping the module's invalid-argument error (rdd.ErrInvalid),
// or nil.
func (r *Range[K]) Err() error { return r.err }

// NumPartitions returns len(bounds)+1.
func (r *Range[K]) NumPartitions() int { return len(r.bounds) + 1 }

// Partition returns the range key falls in, by binary search.
func (r *Range[K]) Partition(key K) int {
	if r.err != nil {
		return 0
	}
	i, _ := slices.BinarySearchFunc(r.bounds, key, r.cmp)
	return i
}

// Equal reports whether other is r itself: a range partitioner's comparison
// is a function, which Go cannot compare.
func (r *Range[K]) Equal(other Partitioner[K]) bool {
	o, ok := other.(*Range[K])
	return ok && o == r
}

// Bounds returns a copy of the upper bounds.
func (r *Range[K]) Bounds() []K { return slices.Clone(r.bounds) }

// Sample is one key of a range partitioner's sample with the number of
// records it stands for (its partition's size divided by the partition's
// sample size).
type Sample[K any] struct {
	Key    K
	Weight float64
}

// RangeBounds picks at most n-1 distinct upper bounds from a weighted sample
// so that each of the n ranges holds about the same total weight, as Spark's
// RangePartitioner does. samples is sorted in place.
func RangeBounds[K any](samples []Sample[K], n int, compare func(a, b K) int) []K {
	if n <= 1 || len(samples) == 0 {
		return nil
	}
	slices.SortStableFunc(samples, func(a, b Sample[K]) int { return compare(a.Key, b.Key) })
	var total float64
	for _, s := range samples {
		total += s.Weight
	}
	step := total / float64(n)
	bounds := make([]K, 0, n-1)
	var cum, target float64 = 0, step
	for i, s := range samples {
		cum += s.Weight
		if cum < target {
			continue
		}
		// Never end a range in the middle of a run of equal keys, and keep
		// the bounds strictly increasing.
		if i+1 < len(samples) && compare(samples[i+1].Key, s.Key) == 0 {
			continue
		}
		if len(bounds) > 0 && compare(bounds[len(bounds)-1], s.Key) >= 0 {
			continue
		}
		bounds = append(bounds, s.Key)
		if len(bounds) == n-1 {
			break
		}
		target += step
	}
	return bounds
}
