package shuffleexec

import (
	"unsafe"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// Buckets is one map task's output: one bucket of records per output
// partition. A bucket is a list of chunks, so that appending never copies
// what is already there, and so that the buckets can spill whole chunks:
// with a [Spiller] ([Buckets.SpillTo]), a new chunk is reserved in the
// task's share of the memory pool first, and when the share is used up,
// every chunk in memory is appended to the task's spill file (one segment
// per bucket) and dropped. A bucket's records are then its segments in the
// file, in the order they were written, followed by its chunks in memory:
// the order in which they were added ([Buckets.Read]).
type Buckets[T any] struct {
	chunks [][][]T
	sizes  []int // records per bucket, spilled ones included

	// With a Spiller:
	sp      *Spiller
	c       *codec
	z       sizer
	owner   bool  // the buckets free the Spiller's memory themselves (not a MapSide)
	held    int64 // bytes reserved for the chunks in memory
	kept    int64 // of them, kept in memory after Finish (see Free)
	w       *segWriter
	spilled [][]segment // per bucket, in the file
}

const (
	firstChunk = 64
	maxChunk   = 8192
)

// NewBuckets returns n empty buckets, all in memory until SpillTo.
func NewBuckets[T any](n int) *Buckets[T] {
	return &Buckets[T]{chunks: make([][][]T, n), sizes: make([]int, n)}
}

// SpillTo makes the buckets count their memory in sp and spill beyond the
// task's share. Call it before the first Add. A nil sp, or a record type
// that cannot be encoded (see the codec; a warning is logged), keeps
// everything in memory.
func (b *Buckets[T]) SpillTo(sp *Spiller) {
	b.spillTo(sp, true)
}

// spillTo is SpillTo; owner tells whether the buckets are the task's only
// user of sp (else the owner, a MapSide, spills them).
func (b *Buckets[T]) spillTo(sp *Spiller, owner bool) {
	c := codecOf[T]()
	if sp = sp.usable(c); sp == nil {
		return
	}
	b.sp, b.c, b.z, b.owner = sp, c, sizer{c: c}, owner
	b.spilled = make([][]segment, len(b.chunks))
	if owner {
		sp.free = b.spill
	}
}

// Add appends t to bucket i. The caller checks the range of i. It fails
// only when spilling fails (an error naming the file).
func (b *Buckets[T]) Add(i int, t T) error {
	cs := b.chunks[i]
	if k := len(cs) - 1; k >= 0 && len(cs[k]) < cap(cs[k]) {
		cs[k] = append(cs[k], t)
	} else if err := b.newChunk(i, t); err != nil {
		return err
	}
	b.sizes[i]++
	if b.c != nil && b.z.due() {
		cs := b.chunks[i]
		c := cs[len(cs)-1]
		b.z.sample(unsafe.Pointer(&c[len(c)-1]))
	}
	return nil
}

// newChunk starts a new chunk in bucket i with t, twice the size of the
// last one (at most maxChunk), reserving its memory first.
func (b *Buckets[T]) newChunk(i int, t T) error {
	size := firstChunk
	if k := len(b.chunks[i]) - 1; k >= 0 {
		size = min(2*cap(b.chunks[i][k]), maxChunk)
	}
	if b.sp != nil {
		bytes := int64(size) * b.recordBytes()
		spilled, err := b.sp.reserve(bytes)
		if err != nil {
			return err
		}
		if spilled {
			// Every chunk went to disk: start small again.
			size = firstChunk
			bytes = int64(size) * b.recordBytes()
			b.sp.pool.grant(b.sp, bytes, true)
		}
		b.held += bytes
	}
	c := make([]T, 1, size)
	c[0] = t
	b.chunks[i] = append(b.chunks[i], c)
	return nil
}

func (b *Buckets[T]) recordBytes() int64 { return b.z.bytes() }

// heldBytes returns the memory reserved for the chunks in memory.
func (b *Buckets[T]) heldBytes() int64 { return b.held }

// handOver stops counting the chunks' memory as the buckets' own: the
// output that holds them keeps it in the pool (a MapSide's, see Finish).
func (b *Buckets[T]) handOver() { b.held = 0 }

// spill appends every chunk in memory to the task's spill file, one
// segment per bucket, drops them and releases their memory.
func (b *Buckets[T]) spill() error {
	if b.sp == nil {
		return nil
	}
	if b.held == 0 {
		return nil
	}
	f, err := b.sp.fileFor()
	if err != nil {
		return err
	}
	if b.w == nil {
		b.w = newSegWriter(f, b.c)
	}
	before := f.size
	for q, cs := range b.chunks {
		if len(cs) == 0 {
			continue
		}
		seg, err := writeChunks(b.w, cs)
		if err != nil {
			return err
		}
		b.spilled[q] = append(b.spilled[q], seg)
		b.chunks[q] = nil
	}
	b.sp.wrote(f.size - before)
	b.sp.release(b.held)
	b.held = 0
	return nil
}

// writeChunks writes the records of cs as one segment.
func writeChunks[T any](w *segWriter, cs [][]T) (segment, error) {
	w.begin()
	for _, c := range cs {
		if len(c) == 0 {
			continue
		}
		var err error
		if w.c.flat {
			err = w.addFlat(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c)*w.c.size), len(c))
		} else {
			for i := range c {
				if err = w.add(unsafe.Pointer(&c[i])); err != nil {
					break
				}
			}
		}
		if err != nil {
			return segment{}, err
		}
	}
	return w.end()
}

// Finish ends the map task's writing. The chunks still in memory stay
// there, counted against the pool until the job ends, if the pool's kept
// outputs allow (see [Pool]); otherwise they are spilled too. Without a
// Spiller it does nothing. No Add may follow.
func (b *Buckets[T]) Finish() error {
	if b.sp == nil {
		return nil
	}
	if err := b.finish(); err != nil {
		return err
	}
	if b.Spilled() {
		b.sp.published = true
	}
	return nil
}

// finish keeps or spills the chunks in memory.
func (b *Buckets[T]) finish() error {
	if b.held > 0 {
		if b.sp.space.keep(b.sp, b.held) {
			b.kept = b.held
		} else if err := b.spill(); err != nil {
			return err
		}
	}
	b.held = 0
	return nil
}

// Free drops the records the buckets hold in memory and gives back to the
// pool what it kept for them after Finish: for a map output read for the
// last time before its job ends (SortBy's first map stage). No method but
// Len may follow. Its spill file stays until the job ends.
func (b *Buckets[T]) Free() {
	clear(b.chunks)
	if b.kept > 0 {
		b.sp.space.unkeep(b.kept)
		b.kept = 0
	}
}

// addChunk appends a whole chunk, which the buckets then own (uncounted:
// for buckets without a Spiller).
func (b *Buckets[T]) addChunk(i int, c []T) {
	if len(c) > 0 {
		b.chunks[i] = append(b.chunks[i], c)
		b.sizes[i] += len(c)
	}
}

// Len returns the number of buckets.
func (b *Buckets[T]) Len() int { return len(b.chunks) }

// Chunks returns bucket i's records in memory as a list of chunks, in
// order: all of them unless the buckets spilled (see Read). The slices are
// the buckets' own: readers must not modify them.
func (b *Buckets[T]) Chunks(i int) [][]T { return b.chunks[i] }

// Size returns the number of records in bucket i, spilled ones included.
func (b *Buckets[T]) Size(i int) int { return b.sizes[i] }

// Spilled reports whether any record went to the spill file.
func (b *Buckets[T]) Spilled() bool { return b.w != nil && b.w.f.size > 0 }

// Read calls f with bucket i's records, a chunk at a time, in the order
// they were added: those spilled, read back from the file, then those in
// memory. f must not modify a chunk, nor keep one read from the file after
// it returns. Read stops when f returns false, and fails only when reading
// the file fails (an error naming it).
func (b *Buckets[T]) Read(i int, f func(chunk []T) bool) error {
	if b.spilled != nil && len(b.spilled[i]) > 0 {
		r := newSegReader[T](b.w.f, b.spilled[i])
		for {
			c, err := r.next()
			if err != nil {
				return err
			}
			if c == nil {
				break
			}
			if !f(c) {
				return nil
			}
		}
	}
	for _, c := range b.chunks[i] {
		if !f(c) {
			return nil
		}
	}
	return nil
}

// AddKeyed appends the pair kv to the bucket p assigns its key, checking the
// partition p answers.
func AddKeyed[K comparable, V any](b *Buckets[ops.KV[K, V]], p shuffle.Partitioner[K], kv ops.KV[K, V]) error {
	q := p.Partition(kv.Key)
	if err := CheckPartition(q, len(b.chunks), kv.Key); err != nil {
		return err
	}
	return b.Add(q, kv)
}
