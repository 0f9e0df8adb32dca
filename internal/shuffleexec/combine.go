package shuffleexec

import (
	"errors"
	"math"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// Adaptive map-side combine: a map task combines its first CheckAfter
// records; if they hold more than MaxDistinctRatio distinct keys per record,
// combining is not shrinking the data, so the task keeps what it combined
// and passes its remaining records through uncombined (the reduce side
// combines them). Spark SQL skips partial aggregation on the same evidence.
const (
	CheckAfter       = 1 << 16
	MaxDistinctRatio = 0.5
)

// MapSide is one map task of an aggregating shuffle: it combines values by
// key (map-side combine) and buckets the result by output partition.
//
// With a [Spiller] (SpillTo), its table counts its memory and, beyond the
// task's share, is written to the task's spill file as sorted runs (one per
// output partition, see runs.go) and emptied; the records it passes
// through uncombined are [Buckets] that spill whole chunks to the same
// file.
type MapSide[K comparable, V, C any] struct {
	table *Table[K, V, C]
	part  shuffle.Partitioner[K]
	hash  *shuffle.Hash[K] // part, when it is the default partitioner
	// Once the task passes records through: raw holds them, or, with a
	// source (SetSource), rawAt holds their places in src. passed is the
	// one in use (nil while combining).
	raw    *Buckets[hashed[K, V]]
	rawAt  *Buckets[at]
	src    []ops.KV[K, V]
	passed rawBuckets
	// sketches estimate each bucket's distinct keys (hash partitioner
	// only): combined keys are added by Finish or as runs are written,
	// raw ones as they pass. Each is sized by its bucket (see Sketch).
	sketches []Sketch
	seen     int

	// With a Spiller:
	sp   *Spiller
	mem  *tableMem[K, V, C]
	w    *segWriter
	runs [][]segment // per bucket
	runN []int       // records in runs, per bucket
	ran  int         // records in runs, in all
}

// NewMapSide returns a map task writer that combines with agg and buckets
// by part.
func NewMapSide[K comparable, V, C any](agg ops.Aggregator[V, C], part shuffle.Partitioner[K]) *MapSide[K, V, C] {
	m := &MapSide[K, V, C]{table: NewTable[K](agg, 0), part: part}
	m.table.copyKeys()
	m.hash, _ = part.(*shuffle.Hash[K])
	if m.hash != nil {
		m.sketches = make([]Sketch, part.NumPartitions())
	}
	return m
}

// SpillTo makes the map side count its memory in sp and spill beyond the
// task's share. Call it before the first Add. A nil sp, or record types
// that cannot be encoded (see the codec; a warning is logged), keep
// everything in memory.
func (m *MapSide[K, V, C]) SpillTo(sp *Spiller) {
	sp = sp.usable(codecOf[ops.KV[K, C]]()).usable(codecOf[hashed[K, V]]())
	if sp == nil {
		return
	}
	m.sp, m.mem = sp, newTableMem(m.table, sp)
	sp.free = m.spill
}

// Add takes one record. It fails, naming the key, if a custom partitioner
// answers a partition out of range, and, naming the file, if spilling
// fails. A map side with a source (SetSource) takes its records by
// AddIndex instead.
func (m *MapSide[K, V, C]) Add(k K, v V) error { return m.add(k, v, -1) }

// SetSource tells the map side that its records are those of src, which it
// takes by AddIndex. Once it passes records through, it then buckets each
// as its key's hash and its place in src, 16 bytes without pointers,
// instead of a copy of the pair (in reducebykey1m, 117 MB of chunks that
// the garbage collector scanned, with the input, in every cycle). src must
// not change until every reduce task has read the output: a source's
// partition or a shuffle's output, which stay as they are for the job. A
// src of more than 2³¹-1 records is passed through as copies.
func (m *MapSide[K, V, C]) SetSource(src []ops.KV[K, V]) { m.src = src }

// AddIndex takes src[i], src being the map side's source (SetSource), as
// Add takes a record.
func (m *MapSide[K, V, C]) AddIndex(i int) error {
	kv := &m.src[i]
	return m.add(kv.Key, kv.Value, i)
}

// add is Add of a record that is src[i], or of one that is not in src (i
// is -1).
func (m *MapSide[K, V, C]) add(k K, v V, i int) error {
	if m.passed == nil {
		if m.mem != nil {
			if err := m.mem.before(); err != nil {
				return err
			}
		}
		m.table.Add(k, v)
		// Keys in runs may repeat: with them, the count is an upper bound.
		if m.seen++; m.seen == CheckAfter && float64(m.table.Len()+m.ran) > MaxDistinctRatio*float64(m.seen) {
			m.passThrough(i >= 0 && len(m.src) <= math.MaxInt32)
		}
		return nil
	}
	// Each raw record carries its key's hash (the table's: the default
	// partitioner's is the same), so that the reduce side does not hash
	// the key again.
	var h uint64
	var q int
	if m.hash != nil {
		h = m.hash.Sum64(k)
		q = int(h % uint64(m.hash.NumPartitions()))
		m.sketches[q].Add(h)
	} else {
		q = m.part.Partition(k)
		if err := CheckPartition(q, m.part.NumPartitions(), k); err != nil {
			return err
		}
		h = m.table.hash.Sum64(k)
	}
	if m.rawAt != nil {
		if i < 0 {
			return errors.New("shuffle: a map task that reads a source was given a record from elsewhere (Add after SetSource)")
		}
		return m.rawAt.Add(q, at{h: h, i: int32(i)})
	}
	return m.raw.Add(q, hashed[K, V]{h: h, kv: ops.KV[K, V]{Key: k, Value: v}})
}

// passThrough stops combining: the records that follow go to raw buckets,
// as places in src if byPlace.
func (m *MapSide[K, V, C]) passThrough(byPlace bool) {
	n := m.part.NumPartitions()
	if byPlace {
		m.rawAt = NewBuckets[at](n)
		m.rawAt.spillTo(m.sp, false)
		m.passed = m.rawAt
		return
	}
	m.raw = NewBuckets[hashed[K, V]](n)
	m.raw.spillTo(m.sp, false)
	m.passed = m.raw
}

// at is a raw record of a map task with a source: its key's hash and its
// place in the source.
type at struct {
	h uint64
	i int32
}

// rawBuckets is what a map task and the reduce side need of its raw
// records' buckets, whichever their records ([Buckets] of hashed or of
// at).
type rawBuckets interface {
	Size(q int) int
	Spilled() bool
	spill() error
	heldBytes() int64
	handOver()
}

// Combining reports whether the task still combines (false once it has
// switched to passing records through).
func (m *MapSide[K, V, C]) Combining() bool { return m.passed == nil }

// spill writes the table as sorted runs and empties it, and spills the raw
// buckets' chunks. Once the task passes records through, its table takes
// no more: its memory goes to the raw buckets.
func (m *MapSide[K, V, C]) spill() error {
	if err := m.spillTable(); err != nil {
		return err
	}
	if m.passed == nil {
		return nil
	}
	m.table.reset(0)
	m.mem.releaseAll()
	return m.passed.spill()
}

// spillTable writes the table as one sorted run per bucket and empties it.
func (m *MapSide[K, V, C]) spillTable() error {
	if m.table.Len() == 0 {
		return nil
	}
	f, err := m.sp.fileFor()
	if err != nil {
		return err
	}
	n := m.part.NumPartitions()
	if m.w == nil {
		m.w = newSegWriter(f, codecOf[hashed[K, C]]())
		m.runs, m.runN = make([][]segment, n), make([]int, n)
	}
	place := func(h uint64, k K) (int, error) {
		if m.hash != nil {
			q := int(h % uint64(n))
			m.sketches[q].Add(h)
			return q, nil
		}
		q := m.part.Partition(k)
		return q, CheckPartition(q, n, k)
	}
	ords, err := m.mem.order(n, place)
	if err != nil {
		return err
	}
	before := f.size
	err = writeRun(m.w, m.table, ords, func(q int, s segment) {
		m.runs[q] = append(m.runs[q], s)
		m.runN[q] += s.n
		m.ran += s.n
	})
	if err != nil {
		return err
	}
	m.sp.wrote(f.size - before)
	m.mem.emptied()
	return nil
}

// Finish returns the task's output. With a Spiller, the combined records
// stay in memory, counted against the pool until the job ends, if the
// table never spilled and the pool's kept outputs allow (see [Pool]);
// otherwise the table is written as a last run. The raw records likewise.
func (m *MapSide[K, V, C]) Finish() (*MapOutput[K, V, C], error) {
	if m.sp != nil {
		if err := m.keepOrSpill(); err != nil {
			return nil, err
		}
	}
	out := &MapOutput[K, V, C]{Raw: m.raw, rawAt: m.rawAt, passed: m.passed, sketches: m.sketches, runs: m.runs, runN: m.runN}
	if m.rawAt != nil {
		out.src = m.src
	}
	if m.w != nil {
		out.file = m.w.f
	}
	if m.table.Len() == 0 && m.ran > 0 {
		out.Combined = NewBuckets[ops.KV[K, C]](m.part.NumPartitions())
		return out, nil
	}
	if m.hash != nil {
		// One hash per key places it and feeds its bucket's sketch.
		n := m.hash.NumPartitions()
		dest := make([]int32, len(m.table.entries))
		codes := make([]uint16, len(m.table.entries))
		counts := make([]int, n)
		for i := range m.table.entries {
			h := m.hash.Sum64(m.table.entries[i].Key)
			q := int32(h % uint64(n))
			dest[i], codes[i] = q, encode(h)
			counts[q]++
		}
		addAll(m.sketches, dest, codes, counts)
		out.Combined = m.table.bucketsOf(n, dest, counts)
		return out, nil
	}
	var err error
	if out.Combined, err = m.table.Split(m.part); err != nil {
		return nil, err
	}
	return out, nil
}

// keepOrSpill keeps the task's output in memory or spills it, at Finish.
func (m *MapSide[K, V, C]) keepOrSpill() error {
	if m.ran == 0 {
		// The combined pairs stay in buckets, without the table's index
		// and run order: they are what the pool keeps.
		combined := int64(m.table.Len()) * (int64(m.mem.c.size) + m.mem.avgVar)
		m.mem.releaseAll()
		m.sp.pool.grant(m.sp, combined, true)
		var raw int64
		if m.passed != nil {
			raw = m.passed.heldBytes()
		}
		if m.sp.space.keep(m.sp, combined+raw) {
			if m.passed != nil {
				m.passed.handOver()
			}
			m.publish()
			return nil
		}
		m.sp.release(combined)
	}
	if err := m.spillTable(); err != nil {
		return err
	}
	m.mem.releaseAll()
	if m.passed != nil {
		if err := m.passed.spill(); err != nil {
			return err
		}
	}
	m.publish()
	return nil
}

// publish marks the task's spill file as the output's, if anything went
// to it: it then lives until the job ends.
func (m *MapSide[K, V, C]) publish() {
	if m.w != nil || (m.passed != nil && m.passed.Spilled()) {
		m.sp.published = true
	}
}

// MapOutput is one map task's output of an aggregating shuffle: combined
// records (at most one per key and run) and, if the task stopped
// combining, the raw records after that point, each with its key's hash
// (a [Table]'s, so that the reduce side need not hash it again). Raw is
// nil when every record was combined, or when the task had a source (see
// SetSource): its raw records are then places in it. Combined holds the
// combined records in memory; a task whose table spilled has them in
// sorted runs in its spill file instead (Combined is then empty).
type MapOutput[K comparable, V, C any] struct {
	Combined *Buckets[ops.KV[K, C]]
	Raw      *Buckets[hashed[K, V]]
	// A task with a source (SetSource) has its raw records in rawAt, as
	// places in src, instead. passed is Raw or rawAt, nil when neither.
	rawAt    *Buckets[at]
	src      []ops.KV[K, V]
	passed   rawBuckets
	sketches []Sketch // per bucket, nil unless hash-partitioned
	file     *spillFile
	runs     [][]segment // per bucket, nil if none spilled
	runN     []int       // records in runs, per bucket
}

// combined returns the number of combined records in bucket q, in memory
// and in runs.
func (o *MapOutput[K, V, C]) combined(q int) int {
	n := o.Combined.Size(q)
	if o.runN != nil {
		n += o.runN[q]
	}
	return n
}

// Spilled reports whether any of the output's records are in its spill
// file.
func (o *MapOutput[K, V, C]) Spilled() bool {
	return o.file != nil || (o.passed != nil && o.passed.Spilled())
}

// smallBucket is the most records a bucket may hold across every map
// output for Distinct to answer their number instead of merging sketches:
// a table that many keys too large costs less than the merge.
const smallBucket = 1024

// Distinct estimates the number of distinct keys in bucket q across outs:
// from the merged sketches when every output has them, else the number of
// combined records (an upper bound for them alone). For a bucket of at most
// smallBucket records in all, their number is the answer: the sketches are
// not merged.
func Distinct[K comparable, V, C any](outs []*MapOutput[K, V, C], q int) int {
	size, records := 0, 0
	sketched := true
	for _, o := range outs {
		if o == nil {
			continue
		}
		size += o.combined(q)
		records += o.combined(q)
		if o.passed != nil {
			records += o.passed.Size(q)
		}
		sketched = sketched && o.sketches != nil
	}
	if !sketched {
		return size
	}
	if records <= smallBucket {
		return records
	}
	var s Sketch
	for _, o := range outs {
		if o != nil {
			s.Merge(&o.sketches[q])
		}
	}
	return s.Estimate() * 21 / 20 // the estimate's error is about 3%
}

// Reduce merges bucket q of every output (see [Reducer]), in a table sized
// by [Distinct] within sp's share. When nothing was spilled, it returns the
// pairs in first-seen key order (a slice readers must not modify) and does
// not call yield; otherwise it streams them to yield in key hash order and
// returns nil (see [Reducer.Finish]). tick is called for each record read
// or merged; its error stops the reduce and is returned. sp may be nil.
func Reduce[K comparable, V, C any](agg ops.Aggregator[V, C], outs []*MapOutput[K, V, C], q int, sp *Spiller, tick func() error, yield func(ops.KV[K, C]) bool) ([]ops.KV[K, C], error) {
	if only := onlyCombined(outs, q); only != nil {
		// One map task holds this partition's keys, all combined and in
		// memory: they are distinct already.
		return only, nil
	}
	r := NewReducer[K](agg, Distinct(outs, q), sp)
	var err error
	for _, o := range outs {
		if o == nil {
			continue
		}
		for _, c := range o.Combined.Chunks(q) {
			for _, kv := range c {
				if err = tick(); err == nil {
					err = r.Merge(kv.Key, kv.Value)
				}
				if err != nil {
					return nil, err
				}
			}
		}
		if err = o.readRaw(q, tick, r.addHashed); err != nil {
			return nil, err
		}
	}
	for _, o := range outs {
		if o != nil && o.runs != nil {
			for _, s := range o.runs[q] {
				r.addRun(o.file, s)
			}
		}
	}
	return r.Finish(tick, yield)
}

// readRaw passes the raw records of bucket q to add, with their keys'
// hashes, calling tick before each; it stops at the first error.
func (o *MapOutput[K, V, C]) readRaw(q int, tick func() error, add func(h uint64, k K, v V) error) error {
	var err error
	var rerr error
	switch {
	case o.Raw != nil:
		rerr = o.Raw.Read(q, func(c []hashed[K, V]) bool {
			for i := range c {
				if err = tick(); err == nil {
					err = add(c[i].h, c[i].kv.Key, c[i].kv.Value)
				}
				if err != nil {
					return false
				}
			}
			return true
		})
	case o.rawAt != nil:
		rerr = o.rawAt.Read(q, func(c []at) bool {
			for i := range c {
				if err = tick(); err == nil {
					kv := &o.src[c[i].i]
					err = add(c[i].h, kv.Key, kv.Value)
				}
				if err != nil {
					return false
				}
			}
			return true
		})
	}
	return cmpErr(rerr, err)
}

// cmpErr returns the first non-nil error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// onlyCombined returns bucket q's records if exactly one map output has any
// for q and they are all combined, in memory, in one chunk; else nil.
func onlyCombined[K comparable, V, C any](outs []*MapOutput[K, V, C], q int) []ops.KV[K, C] {
	var only []ops.KV[K, C]
	for _, o := range outs {
		if o == nil {
			continue
		}
		if (o.passed != nil && o.passed.Size(q) > 0) || (o.runN != nil && o.runN[q] > 0) {
			return nil
		}
		if cs := o.Combined.Chunks(q); len(cs) > 0 {
			if only != nil || len(cs) > 1 {
				return nil
			}
			only = cs[0]
		}
	}
	return only
}
