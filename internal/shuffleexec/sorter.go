package shuffleexec

import (
	"slices"
	"unsafe"
)

// Sorter sorts the records of one reduce partition (SortBy's) with a
// comparison, stably: records that compare equal keep the order in which
// they were added. With a [Spiller], the records it holds count against the
// task's share; beyond it, they are sorted, written to the task's spill
// file as a sorted run and dropped, and Finish merges the runs with what is
// left in memory, so that a partition larger than the share is never in
// memory whole. A Sorter is used by one goroutine.
type Sorter[T any] struct {
	cmp  func(a, b T) int
	recs []T
	sp   *Spiller // nil: everything in memory
	z    sizer
	held int64 // reserved for recs' array
	vars int64 // reserved for what the records hold
	adds uint32
	w    *segWriter
	runs []segment
}

// NewSorter returns a sorter by cmp with room for about hint records (at
// most what the task's share holds). sp may be nil: then nothing is counted
// and nothing spills; so also, with a warning, when T cannot be encoded.
func NewSorter[T any](cmp func(a, b T) int, hint int, sp *Spiller) *Sorter[T] {
	c := codecOf[T]()
	s := &Sorter[T]{cmp: cmp, sp: sp.usable(c), z: sizer{c: c}}
	if s.sp != nil {
		hint = min(hint, s.sp.maxEntries(int64(c.size)))
		s.held = int64(max(hint, 0)) * int64(c.size)
		s.sp.pool.grant(s.sp, s.held, true)
		s.sp.free = s.spill
	}
	s.recs = make([]T, 0, max(hint, 0))
	return s
}

// Add adds t. It fails only when spilling fails (an error naming the file).
func (s *Sorter[T]) Add(t T) error {
	if s.sp == nil {
		s.recs = append(s.recs, t)
		return nil
	}
	if len(s.recs) == cap(s.recs) {
		if err := s.grow(); err != nil {
			return err
		}
	}
	s.recs = append(s.recs, t)
	if s.z.c.heap == nil {
		return nil
	}
	if s.z.due() {
		s.z.sample(unsafe.Pointer(&s.recs[len(s.recs)-1]))
	}
	if s.adds++; s.adds%varEvery != 0 {
		return nil
	}
	if est := int64(len(s.recs)) * (s.z.bytes() - int64(s.z.c.size)); est > s.vars {
		spilled, err := s.sp.reserve(est - s.vars)
		if err != nil || spilled {
			return err
		}
		s.vars = est
	}
	return nil
}

// grow makes room for more records (see growCap), reserving it first;
// beyond the task's share the records are spilled instead.
func (s *Sorter[T]) grow() error {
	for len(s.recs) == cap(s.recs) {
		n := max(growCap(cap(s.recs)), firstChunk)
		need := int64(n)*int64(s.z.c.size) - s.held
		spilled, err := s.sp.reserve(need)
		if err != nil {
			return err
		}
		if spilled {
			continue
		}
		s.recs = slices.Grow(s.recs, n-len(s.recs))
		s.held += need
	}
	return nil
}

// spill writes the records as a sorted run and drops them (keeping their
// array).
func (s *Sorter[T]) spill() error {
	if len(s.recs) == 0 {
		return nil
	}
	f, err := s.sp.fileFor()
	if err != nil {
		return err
	}
	if s.w == nil {
		s.w = newSegWriter(f, s.z.c)
	}
	slices.SortStableFunc(s.recs, s.cmp)
	before := f.size
	seg, err := writeChunks(s.w, [][]T{s.recs})
	if err != nil {
		return err
	}
	s.runs = append(s.runs, seg)
	s.sp.wrote(f.size - before)
	clear(s.recs)
	s.recs = s.recs[:0]
	s.sp.release(s.vars)
	s.vars = 0
	return nil
}

// Finish sorts the records. When nothing was spilled, it returns them
// sorted, a slice the sorter owns, and does not call yield. Otherwise it
// merges the runs with the records in memory and calls yield with each
// record in order until yield returns false; it returns nil then. tick is
// called for each record merged; its error stops the merge and is
// returned. More than maxFanIn runs are first merged into fewer, longer
// ones in the task's file.
func (s *Sorter[T]) Finish(tick func() error, yield func(T) bool) ([]T, error) {
	slices.SortStableFunc(s.recs, s.cmp)
	if len(s.runs) == 0 {
		return s.recs, nil
	}
	var srcs []*source[T]
	for _, seg := range s.runs {
		srcs = append(srcs, fileSource[T](s.w.f, seg, len(srcs)))
	}
	if len(s.recs) > 0 {
		srcs = append(srcs, sliceSource(s.recs, len(srcs)))
	}
	less := func(a, b *T) bool { return s.cmp(*a, *b) < 0 }
	if len(srcs) > maxFanIn {
		var err error
		srcs, err = fanIn(s.sp, s.w, srcs, tick, func(group []*source[T], emit func(*T) (bool, error)) error {
			return mergeSorted(group, less, emit)
		})
		if err != nil {
			return nil, err
		}
		// The records in memory are in the file now.
		s.recs = nil
		s.sp.release(s.held + s.vars)
		s.held, s.vars = 0, 0
	}
	return nil, mergeSorted(srcs, less, func(t *T) (bool, error) {
		if err := tick(); err != nil {
			return false, err
		}
		return yield(*t), nil
	})
}

// mergeSorted merges srcs, each sorted by less, and calls emit with each
// record in order, those of earlier sources first among equal ones, until
// emit returns false or fails.
func mergeSorted[T any](srcs []*source[T], less func(a, b *T) bool, emit func(t *T) (bool, error)) error {
	h, err := newMergeHeap(srcs, less)
	if err != nil {
		return err
	}
	for t := h.top(); t != nil; t = h.top() {
		if ok, err := emit(t); !ok || err != nil {
			return err
		}
		if err := h.pop(); err != nil {
			return err
		}
	}
	return nil
}
