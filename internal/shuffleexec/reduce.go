package shuffleexec

import (
	"github.com/spatedev/spate/ops"
)

// Reducer merges the records of one reduce partition by key: combined
// records (Merge) and raw ones (Add) in a [Table], and sorted runs that map
// tasks spilled. With a [Spiller], the table counts its memory and, beyond
// the task's share, is written to the task's spill file as a sorted run
// and emptied (see runs.go); Finish then merges every run with what the
// table still holds and streams the result, so that a partition whose
// distinct keys do not fit in memory is never in memory whole: the merge
// holds a block of each run and the keys of one hash. A single key's
// combiner must fit (GroupByKey's group of a hot key). A Reducer is used by
// one goroutine.
type Reducer[K comparable, V, C any] struct {
	agg  ops.Aggregator[V, C]
	t    *Table[K, V, C]
	sp   *Spiller
	mem  *tableMem[K, V, C] // nil without a Spiller
	w    *segWriter
	runs []segment // the table's runs, in the task's file
	// ext are the map tasks' runs of this partition, merged before the
	// table's: a map task's combined records precede its raw ones.
	ext []extRun
}

// extRun is a run a map task spilled.
type extRun struct {
	f *spillFile
	s segment
}

// NewReducer returns a reducer with agg, its table sized for about hint
// keys (at most what the task's share holds). sp may be nil: then nothing
// is counted and nothing spills.
func NewReducer[K comparable, V, C any](agg ops.Aggregator[V, C], hint int, sp *Spiller) *Reducer[K, V, C] {
	sp = sp.usable(codecOf[ops.KV[K, C]]())
	if sp != nil {
		hint = min(hint, sp.maxEntries(entryBytes[K, C]()))
	}
	r := &Reducer[K, V, C]{agg: agg, t: NewTable[K](agg, hint), sp: sp}
	if sp != nil {
		r.mem = newTableMem(r.t, sp)
		sp.free = r.spill
	}
	return r
}

// Add folds value v into key k's combiner (see Table.Add). It fails only
// when spilling fails.
func (r *Reducer[K, V, C]) Add(k K, v V) error {
	return r.addHashed(r.t.hash.Sum64(k), k, v)
}

// addHashed is Add of a key whose hash (see Table.AddHashed) is h.
func (r *Reducer[K, V, C]) addHashed(h uint64, k K, v V) error {
	if r.mem != nil {
		if err := r.mem.before(); err != nil {
			return err
		}
	}
	r.t.AddHashed(h, k, v)
	return nil
}

// Merge folds combiner c into key k's combiner (see Table.Merge). It fails
// only when spilling fails.
func (r *Reducer[K, V, C]) Merge(k K, c C) error {
	if r.mem != nil {
		if err := r.mem.before(); err != nil {
			return err
		}
	}
	r.t.Merge(k, c)
	return nil
}

// addRun adds a run a map task spilled.
func (r *Reducer[K, V, C]) addRun(f *spillFile, s segment) {
	r.ext = append(r.ext, extRun{f, s})
}

// spill writes the table as a run and empties it.
func (r *Reducer[K, V, C]) spill() error {
	if r.t.Len() == 0 {
		return nil
	}
	if err := r.ensureWriter(); err != nil {
		return err
	}
	ords, err := r.mem.order(1, nil)
	if err != nil {
		return err
	}
	before := r.w.f.size
	if err := writeRun(r.w, r.t, ords, func(_ int, s segment) { r.runs = append(r.runs, s) }); err != nil {
		return err
	}
	r.sp.wrote(r.w.f.size - before)
	r.mem.emptied()
	return nil
}

// ensureWriter makes the task's spill file and the reducer's writer of runs
// in it, if not yet made.
func (r *Reducer[K, V, C]) ensureWriter() error {
	if r.w != nil {
		return nil
	}
	f, err := r.sp.fileFor()
	if err != nil {
		return err
	}
	r.w = newSegWriter(f, codecOf[hashed[K, C]]())
	return nil
}

// Finish returns the partition. When nothing was spilled (by the map tasks
// or the reducer), it returns the table's pairs in first-seen key order, a
// slice the reducer owns, and does not call yield. Otherwise it merges
// every run and the table by key hash (see merge) and calls yield with
// each key and its combiner, in hash order, until yield returns false; it
// returns nil then. tick is called for each record merged; its error stops
// the merge and is returned. More than maxFanIn runs are first merged into
// fewer, longer ones in the task's file.
func (r *Reducer[K, V, C]) Finish(tick func() error, yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error) {
	if len(r.ext) == 0 && len(r.runs) == 0 {
		return r.t.Pairs(), nil
	}
	var srcs []*source[hashed[K, C]]
	for _, e := range r.ext {
		srcs = append(srcs, fileSource[hashed[K, C]](e.f, e.s, len(srcs)))
	}
	for _, s := range r.runs {
		srcs = append(srcs, fileSource[hashed[K, C]](r.w.f, s, len(srcs)))
	}
	if r.t.Len() > 0 {
		// The table is the last run, read in place in hash order; its
		// index is no longer needed.
		var ords []ord
		if r.mem != nil {
			ords, _ = r.mem.order(1, nil)
		} else {
			ords, _ = runOrder(nil, r.t, 1, nil)
		}
		r.t.slots = nil
		srcs = append(srcs, tableSource(r.t, ords, len(srcs)))
	}
	if len(srcs) > maxFanIn && r.sp != nil {
		if err := r.ensureWriter(); err != nil {
			return nil, err
		}
		rec := new(hashed[K, C]) // one record at a time; on the heap once, not per record
		var err error
		srcs, err = fanIn(r.sp, r.w, srcs, tick, func(group []*source[hashed[K, C]], emit func(*hashed[K, C]) (bool, error)) error {
			return merge(group, r.agg.MergeCombiners, func(h uint64, kv ops.KV[K, C]) (bool, error) {
				*rec = hashed[K, C]{h: h, kv: kv}
				return emit(rec)
			})
		})
		if err != nil {
			return nil, err
		}
		// The table is in the file now.
		r.t.entries = nil
		if r.mem != nil {
			r.mem.releaseAll()
		}
	}
	return nil, merge(srcs, r.agg.MergeCombiners, func(_ uint64, kv ops.KV[K, C]) (bool, error) {
		if err := tick(); err != nil {
			return false, err
		}
		return yield(kv), nil
	})
}
