package shuffleexec

import (
	"unsafe"

	"github.com/spatedev/spate/ops"
)

// source is one sorted run being merged, a block of records at a time.
type source[R any] struct {
	recs []R
	i    int
	// next returns the next block (valid until the next call), or nil at
	// the end of the run.
	next func() ([]R, error)
	// rank orders the sources whose current records are equal: earlier
	// runs first (GroupByKey keeps each map task's values in input order,
	// SortBy is stable).
	rank int
}

// fill loads the source's next block if it has read its current one; it
// reports false at the end of the run.
func (s *source[R]) fill() (bool, error) {
	if s.i < len(s.recs) {
		return true, nil
	}
	recs, err := s.next()
	if err != nil {
		return false, err
	}
	s.recs, s.i = recs, 0
	return len(recs) > 0, nil
}

// cur returns the source's current record.
func (s *source[R]) cur() *R { return &s.recs[s.i] }

// fileSource returns a source reading the run in segment s of f.
func fileSource[R any](f *spillFile, s segment, rank int) *source[R] {
	r := newSegReader[R](f, []segment{s})
	return &source[R]{next: r.next, rank: rank}
}

// sliceSource returns a source over recs, already sorted.
func sliceSource[R any](recs []R, rank int) *source[R] {
	done := false
	return &source[R]{rank: rank, next: func() ([]R, error) {
		if done {
			return nil, nil
		}
		done = true
		return recs, nil
	}}
}

// mergeHeap is a binary min-heap of sources by their current records
// (less), then rank.
type mergeHeap[R any] struct {
	srcs []*source[R]
	less func(a, b *R) bool
}

// newMergeHeap fills every source's first block and returns the heap of
// those that have records.
func newMergeHeap[R any](srcs []*source[R], less func(a, b *R) bool) (*mergeHeap[R], error) {
	h := &mergeHeap[R]{srcs: make([]*source[R], 0, len(srcs)), less: less}
	for _, s := range srcs {
		ok, err := s.fill()
		if err != nil {
			return nil, err
		}
		if ok {
			h.srcs = append(h.srcs, s)
		}
	}
	for i := len(h.srcs)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	return h, nil
}

func (h *mergeHeap[R]) before(a, b int) bool {
	x, y := h.srcs[a], h.srcs[b]
	if h.less(x.cur(), y.cur()) {
		return true
	}
	return !h.less(y.cur(), x.cur()) && x.rank < y.rank
}

func (h *mergeHeap[R]) down(i int) {
	s := h.srcs
	for {
		l := 2*i + 1
		if l >= len(s) {
			return
		}
		m := l
		if r := l + 1; r < len(s) && h.before(r, l) {
			m = r
		}
		if !h.before(m, i) {
			return
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

// top returns the smallest current record, or nil when every source has
// ended.
func (h *mergeHeap[R]) top() *R {
	if len(h.srcs) == 0 {
		return nil
	}
	return h.srcs[0].cur()
}

// pop moves past the smallest current record, which is valid until then.
func (h *mergeHeap[R]) pop() error {
	s := h.srcs[0]
	s.i++
	ok, err := s.fill()
	if err != nil {
		return err
	}
	if !ok {
		last := len(h.srcs) - 1
		h.srcs[0] = h.srcs[last]
		h.srcs[last] = nil
		h.srcs = h.srcs[:last]
	}
	if len(h.srcs) > 0 {
		h.down(0)
	}
	return nil
}

// maxFanIn is the most runs merged at once: beyond it, runs are merged
// into longer ones first (see Reducer.Finish), so that a merge holds at
// most maxFanIn blocks.
const maxFanIn = 64

// merge merges srcs, each sorted by hash, and calls emit with each key and
// its combiner, in hash order: the combiners of a key (equal keys have
// equal hashes) are merged with mergeC in rank order. It stops early, with
// no error, when emit returns false.
func merge[K comparable, C any](srcs []*source[hashed[K, C]], mergeC func(a, b C) C, emit func(h uint64, kv ops.KV[K, C]) (bool, error)) error {
	h, err := newMergeHeap(srcs, func(a, b *hashed[K, C]) bool { return a.h < b.h })
	if err != nil {
		return err
	}
	var group []ops.KV[K, C] // the distinct keys of one hash, in rank order
	for top := h.top(); top != nil; {
		hv := top.h
		group = group[:0]
		for ; top != nil && top.h == hv; top = h.top() {
			kv := top.kv
			found := false
			for j := range group {
				if group[j].Key == kv.Key {
					group[j].Value = mergeC(group[j].Value, kv.Value)
					found = true
					break
				}
			}
			if !found {
				group = append(group, kv)
			}
			if err := h.pop(); err != nil {
				return err
			}
		}
		for _, kv := range group {
			if ok, err := emit(hv, kv); !ok || err != nil {
				return err
			}
		}
		clear(group)
	}
	return nil
}

// fanIn merges srcs maxFanIn at a time into runs appended to w's file,
// as often as it takes for at most maxFanIn to remain, and returns those.
// mergeGroup merges a group of sources, calling emit with each record in
// order; tick is called for each record written. Ranks follow the order of
// srcs.
func fanIn[R any](sp *Spiller, w *segWriter, srcs []*source[R], tick func() error,
	mergeGroup func(group []*source[R], emit func(r *R) (bool, error)) error) ([]*source[R], error) {
	for len(srcs) > maxFanIn {
		var fewer []*source[R]
		for lo := 0; lo < len(srcs); lo += maxFanIn {
			group := srcs[lo:min(lo+maxFanIn, len(srcs))]
			before := w.f.size
			w.begin()
			err := mergeGroup(group, func(r *R) (bool, error) {
				if err := tick(); err != nil {
					return false, err
				}
				return true, w.add(unsafe.Pointer(r))
			})
			if err != nil {
				return nil, err
			}
			seg, err := w.end()
			if err != nil {
				return nil, err
			}
			sp.wrote(w.f.size - before)
			fewer = append(fewer, fileSource[R](w.f, seg, len(fewer)))
		}
		srcs = fewer
	}
	return srcs, nil
}
