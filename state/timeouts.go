package state

import (
	"iter"
	"slices"
)

// Timeouts finds the keys that have been idle for a while without scanning every key:
// a key touched at a time goes into that time's bucket, and the buckets come due in
// time order. A key touched again later stays in its older buckets too; whoever drains
// them checks the key's last touch (kept with its value) and skips it. So a batch
// costs the keys it touches plus the keys due, never the whole state. The times are
// batch times, increasing in the common case: a touch at a time before the newest
// bucket is placed in order. Not safe for concurrent use.
type Timeouts[K comparable] struct {
	buckets map[int64][]K
	times   []int64 // of the buckets, ascending
}

// NewTimeouts returns an empty index.
func NewTimeouts[K comparable]() *Timeouts[K] { return &Timeouts[K]{buckets: map[int64][]K{}} }

// Touch records that k was touched at time at.
func (x *Timeouts[K]) Touch(k K, at int64) {
	b, ok := x.buckets[at]
	if !ok {
		i, _ := slices.BinarySearch(x.times, at)
		x.times = slices.Insert(x.times, i, at)
	}
	x.buckets[at] = append(b, k)
}

// Due yields, and forgets, the keys of every bucket at or before until, oldest bucket
// first, each with the time it was touched at (the caller skips a key touched again
// since). The keys of a bucket are yielded once, in the order touched. Breaking out
// of the loop keeps the buckets not finished.
func (x *Timeouts[K]) Due(until int64) iter.Seq2[K, int64] {
	return func(yield func(K, int64) bool) {
		for len(x.times) > 0 && x.times[0] <= until {
			at := x.times[0]
			keys := x.buckets[at]
			for i, k := range keys {
				if !yield(k, at) {
					x.buckets[at] = keys[i+1:]
					return
				}
			}
			delete(x.buckets, at)
			x.times = x.times[1:]
		}
	}
}

// Len returns how many touches the index holds (including those of keys touched
// again since).
func (x *Timeouts[K]) Len() int {
	n := 0
	for _, b := range x.buckets {
		n += len(b)
	}
	return n
}

// Reset empties the index.
func (x *Timeouts[K]) Reset() {
	clear(x.buckets)
	x.times = nil
}
