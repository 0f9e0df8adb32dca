package shuffleexec

import (
	"cmp"
	"slices"
)

// sortOrds sorts a run's order by bucket, then hash, then position: an
// in-place radix sort (American flag sort) by bucket, then by the hash's
// bytes from the top, with insertion sort for small ranges. Hashes are
// uniform: two passes over a few million entries leave ranges of a few
// entries. It takes half the time of a comparison sort through a function
// value.
func sortOrds(a []ord, buckets int) {
	if buckets <= 1 {
		sortByHash(a, 56)
		return
	}
	starts := make([]int, buckets+1)
	flagPass(a, starts, true, 0)
	for b := range buckets {
		sortByHash(a[starts[b]:starts[b+1]], 56)
	}
}

// smallSort is the size of a range below which insertion sort is used.
const smallSort = 24

// sortByHash sorts a (all of one bucket) by hash, then position; their
// hashes agree above bit shift+8.
func sortByHash(a []ord, shift int) {
	if len(a) <= smallSort {
		for i := 1; i < len(a); i++ {
			for j := i; j > 0 && (a[j].h < a[j-1].h || a[j].h == a[j-1].h && a[j].i < a[j-1].i); j-- {
				a[j], a[j-1] = a[j-1], a[j]
			}
		}
		return
	}
	if shift < 0 {
		// Every hash is the same.
		slices.SortFunc(a, func(x, y ord) int { return cmp.Compare(x.i, y.i) })
		return
	}
	var starts [257]int
	flagPass(a, starts[:], false, shift)
	for d := range 256 {
		sortByHash(a[starts[d]:starts[d+1]], shift-8)
	}
}

// flagPass permutes a in place so that its entries are grouped by digit,
// in digit order, and sets starts[d] to where digit d's range starts
// (starts has a slot per digit and one more, set to len(a)). An entry's
// digit is its bucket if byBucket, else the byte of its hash at shift.
func flagPass(a []ord, starts []int, byBucket bool, shift int) {
	digit := func(o *ord) int {
		if byBucket {
			return int(o.q)
		}
		return int(o.h >> shift & 0xff)
	}
	n := len(starts) - 1
	clear(starts)
	for i := range a {
		starts[digit(&a[i])+1]++
	}
	for d := range n {
		starts[d+1] += starts[d]
	}
	var small [256]int
	next := small[:0]
	if n > len(small) {
		next = make([]int, 0, n)
	}
	next = append(next, starts[:n]...) // the first place of each digit not yet filled
	for d := range n {
		for next[d] < starts[d+1] {
			o := a[next[d]]
			// Carry o to its digit's range, taking what is there, until
			// something of digit d comes back.
			for e := digit(&o); e != d; e = digit(&o) {
				a[next[e]], o = o, a[next[e]]
				next[e]++
			}
			a[next[d]] = o
			next[d]++
		}
	}
}
