package shuffleexec

import (
	"math/bits"
	"reflect"
	"strings"
	"unsafe"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// Table combines values by key: the map-side combine of an aggregating
// shuffle, and the merge on its reduce side.
//
// It is a dense table: an index from key to a slot of one slice of entries,
// so that folding a value into an existing key costs one probe of the
// index, keys keep the order in which they were first seen (outputs are
// deterministic for a given input order), and reading or splitting the
// table walks a slice instead of a map. A Table is not safe for concurrent
// use; each task owns its own.
//
// The index is an open-addressing hash table of 8-byte slots (linear
// probing, at most half full), each the key's 32 top hash bits and its
// entry's position: it is smaller than a Go map holding the keys, it grows
// without hashing a key again (a slot's hash bits give its place), and a
// probe reads a key only when 32 bits of its hash match. Keys are hashed as
// the [Hash] partitioner hashes them. Like a Go map, a key that is not equal
// to itself (a NaN) never matches: each Add of it makes a new entry. A
// table holds at most 2³¹ keys (an index of 2³² slots, 32 GiB).
//
// A map task's table of string keys (any type whose underlying type is
// string) keeps a copy of each key it stores, packed with the others (see
// keyArena), rather than the caller's string: see copyKeys.
type Table[K comparable, V, C any] struct {
	agg     ops.Aggregator[V, C]
	hash    *shuffle.Hash[K]
	slots   []uint64 // hash>>32<<32 | entry index+1; 0: empty
	shift   uint     // 64 - log2(len(slots)): a hash's home slot is hash>>shift
	entries []ops.KV[K, C]
	keys    *keyArena // string keys: where their copies are; nil for other keys
}

// minSlots is the smallest index.
const minSlots = 8

// NewTable returns an empty table sized for about hint distinct keys.
func NewTable[K comparable, V, C any](agg ops.Aggregator[V, C], hint int) *Table[K, V, C] {
	hint = max(hint, 0)
	t := &Table[K, V, C]{agg: agg, hash: shuffle.NewHash[K](1), entries: make([]ops.KV[K, C], 0, hint)}
	n := minSlots
	for n < 2*hint {
		n *= 2
	}
	t.resize(n)
	return t
}

// copyKeys makes t keep copies of the string keys it stores from now on
// (nothing for other keys). A map task's table does: its keys come
// straight from user code, typically substrings of input lines or Kafka
// records, scattered over the input, and every probe that finds a key
// compares the bytes of the stored one. Packed copies lie together instead
// (in a word count over a 100k vocabulary, fetching scattered keys took a
// quarter of the map side's time), and a stored key no longer keeps its
// whole line or record reachable. A reduce task's table does not: its keys
// come from map outputs, already packed or the user's own, and a key that
// is the very string stored compares without reading its bytes.
func (t *Table[K, V, C]) copyKeys() {
	if reflect.TypeFor[K]().Kind() == reflect.String {
		t.keys = &keyArena{}
	}
}

// find returns the index of k's entry and true, or the position of the
// empty slot where k belongs and false. h is k's hash.
func (t *Table[K, V, C]) find(h uint64, k K) (int, bool) {
	tag := h >> 32 << 32
	mask := len(t.slots) - 1
	for i := int(h >> t.shift); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if s&^0xffffffff == tag {
			if e := int(uint32(s)) - 1; t.entries[e].Key == k {
				return e, true
			}
		}
	}
}

// insert appends kv, whose hash is h, as a new entry at the empty slot i.
func (t *Table[K, V, C]) insert(i int, h uint64, kv ops.KV[K, C]) {
	if t.keys != nil {
		// K's underlying type is string (copyKeys checked).
		k := (*string)(unsafe.Pointer(&kv.Key))
		*k = t.keys.copy(*k)
	}
	t.entries = append(t.entries, kv)
	t.slots[i] = h>>32<<32 | uint64(len(t.entries))
	if 2*len(t.entries) > len(t.slots) {
		t.resize(2 * len(t.slots))
	}
}

// resize replaces the index by one of n slots (a power of two, at least
// twice the entries). A slot's hash bits give its new place: no key is
// hashed again.
func (t *Table[K, V, C]) resize(n int) {
	old := t.slots
	t.slots = make([]uint64, n)
	t.shift = uint(64 - bits.TrailingZeros(uint(n)))
	mask := n - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(s >> t.shift)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// Add folds value v into key k's combiner (Create for a new key, MergeValue
// otherwise).
func (t *Table[K, V, C]) Add(k K, v V) { t.AddHashed(t.hash.Sum64(k), k, v) }

// AddHashed is Add for a caller that has hashed k already: h must be
// k's [Hash.Sum64] (any shuffle.Hash over K; the seed is the process's). A shuffle's
// map side hashes each key to place it, so that its reduce side need not
// hash it again.
func (t *Table[K, V, C]) AddHashed(h uint64, k K, v V) {
	i, ok := t.find(h, k)
	if ok {
		e := &t.entries[i]
		e.Value = t.agg.MergeValue(e.Value, v)
		return
	}
	t.insert(i, h, ops.KV[K, C]{Key: k, Value: t.agg.Create(v)})
}

// Merge folds combiner c into key k's combiner (MergeCombiners), or stores it
// for a new key.
func (t *Table[K, V, C]) Merge(k K, c C) {
	h := t.hash.Sum64(k)
	i, ok := t.find(h, k)
	if ok {
		e := &t.entries[i]
		e.Value = t.agg.MergeCombiners(e.Value, c)
		return
	}
	t.insert(i, h, ops.KV[K, C]{Key: k, Value: c})
}

// Len returns the number of distinct keys.
func (t *Table[K, V, C]) Len() int { return len(t.entries) }

// Get returns key k's combiner.
func (t *Table[K, V, C]) Get(k K) (C, bool) {
	if i, ok := t.find(t.hash.Sum64(k), k); ok {
		return t.entries[i].Value, true
	}
	var zero C
	return zero, false
}

// Pairs returns the table's contents in first-seen key order. The slice is
// the table's own.
func (t *Table[K, V, C]) Pairs() []ops.KV[K, C] { return t.entries }

// Split buckets the table's pairs by p: bucket i holds the keys p assigns to
// partition i, in first-seen order. It fails, naming the key, if p answers a
// partition outside [0, p.NumPartitions()).
func (t *Table[K, V, C]) Split(p shuffle.Partitioner[K]) (*Buckets[ops.KV[K, C]], error) {
	n := p.NumPartitions()
	h, isHash := p.(*shuffle.Hash[K])
	if n == 1 && isHash {
		// One hash partition holds every key. A custom partitioner is
		// asked even then, so that a bad answer fails.
		return t.bucketsOf(1, nil, nil), nil
	}
	dest := make([]int32, len(t.entries))
	for i := range t.entries {
		var q int
		if isHash {
			q = h.Partition(t.entries[i].Key)
		} else {
			q = p.Partition(t.entries[i].Key)
			if err := CheckPartition(q, n, t.entries[i].Key); err != nil {
				return nil, err
			}
		}
		dest[i] = int32(q)
	}
	return t.bucketsOf(n, dest, nil), nil
}

// bucketsOf buckets the table's pairs into n buckets, pair i into bucket
// dest[i] (in range; dest is not read when n is 1), in first-seen order.
// counts, if not nil, holds how many pairs go to each bucket.
func (t *Table[K, V, C]) bucketsOf(n int, dest []int32, counts []int) *Buckets[ops.KV[K, C]] {
	b := NewBuckets[ops.KV[K, C]](n)
	if n == 1 {
		b.addChunk(0, t.entries)
		return b
	}
	// Two passes: count, then fill one exactly sized chunk per bucket.
	if counts == nil {
		counts = make([]int, n)
		for _, q := range dest {
			counts[q]++
		}
	}
	chunks := make([][]ops.KV[K, C], n)
	for q, c := range counts {
		chunks[q] = make([]ops.KV[K, C], 0, c)
	}
	for i, q := range dest {
		chunks[q] = append(chunks[q], t.entries[i])
	}
	for q, c := range chunks {
		b.addChunk(q, c)
	}
	return b
}

// keyArena holds copies of a table's string keys, packed into chunks. A
// chunk's bytes are never written again once a key was copied there: a
// key outlives its table's entry (a map task's output, a reduce output),
// so the arena only ever appends, and a chunk lives as long as any key in
// it. Chunks start small and double up to maxKeyChunk, so that a table of
// few keys holds little, and a key longer than a quarter of that gets a
// copy of its own.
type keyArena struct {
	buf []byte // the current chunk: its length is what keys use
}

// maxKeyChunk is the largest chunk of a keyArena: 16 KiB, so that what an
// arena holds beyond its keys' bytes is small beside a task's memory share.
// The keys' bytes themselves are counted with what entries hold (tableMem
// samples them).
const maxKeyChunk = 16 << 10

// copy returns a copy of s in the arena.
func (a *keyArena) copy(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > maxKeyChunk/4 {
		return strings.Clone(s)
	}
	if len(s) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(min(2*cap(a.buf), maxKeyChunk), 256, len(s)))
	}
	n := len(a.buf)
	a.buf = append(a.buf, s...)
	return unsafe.String(&a.buf[n], len(s))
}
