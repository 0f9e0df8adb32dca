package shuffleexec

import (
	"slices"
	"unsafe"

	"github.com/spatedev/spate/ops"
)

// A table that outgrows its task's share of the memory pool is written to
// the task's spill file as a sorted run, then emptied: its entries ordered
// by output partition (a map task's table), then by the 64-bit hash of the
// key (the [Hash] partitioner's), then by first appearance, one segment
// per output partition. Keys of any comparable type have no order, but
// their hashes do: the reduce side merges the runs of a partition by hash
// (see merge) and combines equal keys within each group of equal hashes.
// This is Spark's ExternalAppendOnlyMap, with hashes for keys that are
// only comparable.

// hashed is a record of a sorted run: a combined pair and its key's hash.
type hashed[K comparable, C any] struct {
	h  uint64
	kv ops.KV[K, C]
}

// tableMem counts a Table's memory in a Spiller: its two arrays (the
// entries and the index's slots) by capacity, reserved before they grow,
// and what keys and combiners hold beyond their size (strings, slices,
// maps), estimated by sampling entries. The table grows only through
// before, which reserves the growth first.
type tableMem[K comparable, V, C any] struct {
	t      *Table[K, V, C]
	sp     *Spiller
	c      *codec // ops.KV[K, C]'s
	fixed  int64  // reserved for the arrays
	vars   int64  // reserved for what the entries hold
	avgVar int64  // sampled heap bytes per entry
	room   int    // calls to before left until the next check
	rng    uint64
	ords   []ord // the order of a run, reused
}

// varEvery is how many Adds pass between samples of what entries hold.
const varEvery = 256

func newTableMem[K comparable, V, C any](t *Table[K, V, C], sp *Spiller) *tableMem[K, V, C] {
	m := &tableMem[K, V, C]{t: t, sp: sp, c: codecOf[ops.KV[K, C]](), rng: 0x9e3779b97f4a7c15}
	m.fixed = m.arrays(cap(t.entries), len(t.slots))
	sp.pool.grant(sp, m.fixed, true)
	return m
}

// arrays returns the bytes of a table's arrays with room for entries
// entries and slots slots, and of the order of a run of that many entries
// (made at the first run, then reused).
func (m *tableMem[K, V, C]) arrays(entries, slots int) int64 {
	return int64(entries)*(int64(m.c.size)+ordBytes) + int64(slots)*8
}

const ordBytes = int64(unsafe.Sizeof(ord{}))

// entryBytes is what one more entry costs a table at most: its size, its
// place in a run's order and four slots (an index is at most half full,
// and doubles).
func entryBytes[K comparable, C any]() int64 {
	return int64(codecOf[ops.KV[K, C]]().size) + ordBytes + 4*8
}

// order returns the order of the table's entries in a run (see runOrder),
// in the reused memory.
func (m *tableMem[K, V, C]) order(buckets int, place func(h uint64, k K) (int, error)) ([]ord, error) {
	ords, err := runOrder(m.ords, m.t, buckets, place)
	if err == nil {
		m.ords = ords
	}
	return ords, err
}

// before reserves what the next Add or Merge may allocate. When the task's
// share is used up, the owner's free runs (the table is written as a run
// and emptied) and the table is checked again. Most calls only count down
// the calls left before the next check.
func (m *tableMem[K, V, C]) before() error {
	if m.room > 0 {
		m.room--
		return nil
	}
	return m.check()
}

// check grows the table if one more entry needs it, samples what entries
// hold every varEvery calls, and sets room to the calls that need neither.
func (m *tableMem[K, V, C]) check() error {
	t := m.t
	if n := len(t.entries); n == cap(t.entries) || 2*(n+1) > len(t.slots) {
		if err := m.grow(); err != nil {
			return err
		}
	}
	// Each call adds at most one entry: after room more, the entries are
	// still within their capacity and the index at most half full.
	n := len(t.entries)
	m.room = min(cap(t.entries)-n, len(t.slots)/2-n) - 1
	if m.c.heap == nil {
		return nil
	}
	m.room = min(m.room, varEvery-1)
	if n == 0 {
		return nil
	}
	m.sample()
	if est := int64(n) * m.avgVar; est > m.vars {
		spilled, err := m.sp.reserve(est - m.vars)
		if err != nil {
			return err
		}
		if spilled {
			m.room = 0 // the table is empty: check again
			return nil
		}
		m.vars = est
	}
	return nil
}

// grow makes room for one more entry: the entries grow (see growCap;
// Table's append then does not reallocate) and the index doubles when one
// more entry would make it more than half full; both are reserved first.
func (m *tableMem[K, V, C]) grow() error {
	t := m.t
	for {
		n, ne, ns := len(t.entries), cap(t.entries), len(t.slots)
		growE, growS := n == ne, 2*(n+1) > ns
		if !growE && !growS {
			return nil
		}
		if growE {
			ne = max(growCap(ne), firstChunk)
		}
		if growS {
			ns *= 2
		}
		need := m.arrays(ne, ns) - m.fixed
		spilled, err := m.sp.reserve(need)
		if err != nil {
			return err
		}
		if spilled {
			continue // the table was emptied: check again
		}
		if growE {
			t.entries = slices.Grow(t.entries, ne-n)
		}
		if growS {
			t.resize(ns)
		}
		// slices.Grow may round the capacity up: count what it made.
		now := m.arrays(cap(t.entries), len(t.slots))
		if now > m.fixed+need {
			m.sp.pool.grant(m.sp, now-m.fixed-need, true)
		}
		m.fixed = now
		return nil
	}
}

// growCap returns the capacity an array of n records grows to: twice n
// while small (few growths for a small table), then half again (less
// memory reserved ahead of need).
func growCap(n int) int {
	if n < 1024 {
		return 2 * n
	}
	return n + n/2
}

// sample updates the estimate of what an entry holds from a few entries
// at random, weighing recent samples more (combiners such as
// GroupByKey's grow).
func (m *tableMem[K, V, C]) sample() {
	const n = 4
	var sum int64
	for range n {
		m.rng ^= m.rng << 13
		m.rng ^= m.rng >> 7
		m.rng ^= m.rng << 17
		e := &m.t.entries[m.rng%uint64(len(m.t.entries))]
		sum += m.c.heap(unsafe.Pointer(e))
	}
	if m.avgVar == 0 {
		m.avgVar = sum / n
	} else {
		m.avgVar = (m.avgVar + sum/n) / 2
	}
}

// emptied empties the table after a run was written: it releases what the
// entries held, and makes the arrays smaller if they are larger than the
// task's share now allows.
func (m *tableMem[K, V, C]) emptied() {
	t := m.t
	m.sp.release(m.vars)
	m.vars = 0
	keep := cap(t.entries)
	if most := m.sp.maxEntries(entryBytes[K, C]()); keep > most {
		keep = max(most, firstChunk)
	}
	t.reset(keep)
	m.room = 0
	if cap(m.ords) > keep {
		m.ords = nil
	}
	if now := m.arrays(cap(t.entries), len(t.slots)); now < m.fixed {
		m.sp.release(m.fixed - now)
		m.fixed = now
	}
}

// releaseAll gives back everything the table holds (it is done with).
func (m *tableMem[K, V, C]) releaseAll() {
	m.sp.release(m.fixed + m.vars)
	m.fixed, m.vars = 0, 0
	m.ords = nil
}

// ord is an entry's place in a run: its bucket, its key's hash and its
// position in the table.
type ord struct {
	h    uint64
	q, i int32
}

// runOrder returns the order of t's entries in a run, in buf's memory: by
// bucket (place answers an entry's bucket, in [0, buckets); nil: one
// bucket), then hash, then position.
func runOrder[K comparable, V, C any](buf []ord, t *Table[K, V, C], buckets int, place func(h uint64, k K) (int, error)) ([]ord, error) {
	ords := slices.Grow(buf[:0], len(t.entries))[:len(t.entries)]
	for i := range t.entries {
		k := t.entries[i].Key
		h := t.hash.Sum64(k)
		q := 0
		if place != nil {
			var err error
			if q, err = place(h, k); err != nil {
				return nil, err
			}
		}
		ords[i] = ord{h: h, q: int32(q), i: int32(i)}
	}
	if place == nil {
		buckets = 1
	}
	sortOrds(ords, buckets)
	return ords, nil
}

// writeRun writes t's entries in the order ords as one segment per bucket,
// calling seg for each bucket that has entries.
func writeRun[K comparable, V, C any](w *segWriter, t *Table[K, V, C], ords []ord, seg func(q int, s segment)) error {
	rec := new(hashed[K, C]) // one record at a time; on the heap once, not per record
	for lo := 0; lo < len(ords); {
		q := ords[lo].q
		w.begin()
		hi := lo
		for ; hi < len(ords) && ords[hi].q == q; hi++ {
			*rec = hashed[K, C]{h: ords[hi].h, kv: t.entries[ords[hi].i]}
			if err := w.add(unsafe.Pointer(rec)); err != nil {
				return err
			}
		}
		s, err := w.end()
		if err != nil {
			return err
		}
		seg(int(q), s)
		lo = hi
	}
	return nil
}

// tableSource returns a source over t's entries in the order ords (one
// bucket), a block at a time: the last run of a merge, read from memory.
func tableSource[K comparable, V, C any](t *Table[K, V, C], ords []ord, rank int) *source[hashed[K, C]] {
	const block = 1024
	buf := make([]hashed[K, C], 0, min(block, len(ords)))
	return &source[hashed[K, C]]{rank: rank, next: func() ([]hashed[K, C], error) {
		buf = buf[:0]
		for _, o := range ords[:min(block, len(ords))] {
			buf = append(buf, hashed[K, C]{h: o.h, kv: t.entries[o.i]})
		}
		ords = ords[len(buf):]
		return buf, nil
	}}
}

// reset empties the table, keeping room for at most capacity entries: its
// arrays are kept, cleared, unless they are larger (then they are made
// anew, smaller).
func (t *Table[K, V, C]) reset(capacity int) {
	if cap(t.entries) > capacity {
		t.entries = make([]ops.KV[K, C], 0, capacity)
		n := minSlots
		for n < 2*capacity {
			n *= 2
		}
		t.slots = nil
		t.resize(n)
		return
	}
	clear(t.entries)
	t.entries = t.entries[:0]
	clear(t.slots)
}
