package state

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/spatedev/spate/internal/keyhash"
)

// table is a store's entries in memory: an open-addressing hash table with linear
// probing, a control byte per slot (empty, deleted, or 7 bits of the key's hash) and
// the keys and values in one array of slots, so that an entry costs its key, its
// value and a byte, over the table's load (at most 4/5, and 3/5 after it grows: its
// size is not a power of two, the home slot of a hash is its high bits times the
// size). Unlike a Go map, it finds a key once to read and change its value (in
// place, through the slot), and a slot can be referred to (Ref) until the table is
// rebuilt: an update by Ref needs no lookup.
type table[K comparable, V any] struct {
	h     keyhash.Hasher[K]
	ctrl  []uint8
	slots []slot[K, V]
	live  int    // entries
	used  int    // slots not empty: entries and deleted ones
	gen   uint32 // moves on when the table is rebuilt: refs of before are stale
	// strKeys: K is string, and a key is copied when it enters the table (see
	// insertAt).
	strKeys bool
}

type slot[K comparable, V any] struct {
	k K
	v V
}

const (
	ctrlEmpty   = 0x80
	ctrlDeleted = 0xFE
	minSlots    = 8
)

// newTable returns an empty table.
//
// A table hashes with a seed of its own, new at every rebuild: not the shuffle's, so
// that the keys of one state partition, which share their shuffle hash's residue,
// spread over the table; and not one it had or another table has, so that keys that
// come in the slot order of a table (a snapshot written from a store and read back
// into another; the entries a rebuild moves, which are those Evict left, the last in
// slot order) come in no order of its hash. In that order, keys with nearby hashes
// would come together, and pile up in one run of slots that each insertion probes
// to its end.
func newTable[K comparable, V any]() table[K, V] {
	_, str := any(*new(K)).(string)
	return table[K, V]{h: keyhash.New[K](maphash.MakeSeed()), strKeys: str}
}

// Ref is where an entry was in a store's memory, from UpdateRef: it lets the caller
// come back to the entry without looking its key up, as long as the entry is still
// there: until the store's table is rebuilt (as it grows with new keys, and shrinks
// after removals and on Evict) or the entry is removed. Using a Ref that no longer
// holds its key's entry costs a lookup of the key, never another entry. The zero Ref
// refers to no entry.
type Ref struct {
	i, gen uint32
}

// hash returns k's hash.
func (t *table[K, V]) hash(k K) uint64 { return t.h.Sum64(k) }

// home returns the first slot of the probe of hash x (the table has slots).
func (t *table[K, V]) home(x uint64) int {
	hi, _ := bits.Mul64(x, uint64(len(t.ctrl)))
	return int(hi)
}

// h2 returns the control byte of an entry of hash x.
func h2(x uint64) uint8 { return uint8(x & 0x7F) }

// lookup returns the slot of k, whose hash is x, and true; or, if k is not there,
// the slot where it would go (the first deleted one of its probe, else the empty one
// that ends it) and false, or -1 for a table without slots.
func (t *table[K, V]) lookup(k K, x uint64) (int, bool) {
	n := len(t.ctrl)
	if n == 0 {
		return -1, false
	}
	c2 := h2(x)
	free := -1
	for i := t.home(x); ; {
		switch c := t.ctrl[i]; {
		case c == ctrlEmpty:
			if free >= 0 {
				return free, false
			}
			return i, false
		case c == c2 && t.slots[i].k == k:
			return i, true
		case c == ctrlDeleted && free < 0:
			free = i
		}
		if i++; i == n {
			i = 0
		}
	}
}

// find returns the slot of k, or -1.
func (t *table[K, V]) find(k K) int {
	if t.live == 0 {
		return -1
	}
	if i, ok := t.lookup(k, t.hash(k)); ok {
		return i
	}
	return -1
}

// get returns k's value.
func (t *table[K, V]) get(k K) (v V, ok bool) {
	if i := t.find(k); i >= 0 {
		return t.slots[i].v, true
	}
	return v, false
}

// insertAt adds k, of hash x, which is not in the table, with a zero value, and
// returns its slot; at is where lookup(k, x) said it would go, valid if the table
// has not changed since. The table is rebuilt first if taking an empty slot would
// leave more than 4/5 of it in use (entries and deleted slots).
func (t *table[K, V]) insertAt(k K, x uint64, at int) int {
	if at < 0 || t.ctrl[at] == ctrlEmpty && (t.used+1)*5 > len(t.ctrl)*4 {
		t.rebuild(t.live + 1)
		x = t.hash(k) // the rebuilt table's seed is new
		at = t.emptyFor(x)
	}
	if t.strKeys {
		// A string key is often a piece of a larger string (a word of a line):
		// the table keeps a copy of its bytes, not the line, and its keys' bytes
		// lie together in the heap rather than all over the batches they came
		// from (a lookup compares them: fewer cache misses). Strings inside keys
		// of other types are kept as they are.
		p := (*string)(unsafe.Pointer(&k))
		*p = strings.Clone(*p)
	}
	if t.ctrl[at] == ctrlEmpty {
		t.used++
	}
	t.ctrl[at] = h2(x)
	t.slots[at].k = k
	t.live++
	return at
}

// emptyFor returns the first empty slot of the probe of hash x.
func (t *table[K, V]) emptyFor(x uint64) int {
	n := len(t.ctrl)
	i := t.home(x)
	for t.ctrl[i] != ctrlEmpty {
		if i++; i == n {
			i = 0
		}
	}
	return i
}

// slot returns the slot of k, adding k with a zero value if it is not there.
func (t *table[K, V]) slot(k K) int {
	x := t.hash(k)
	i, ok := t.lookup(k, x)
	if !ok {
		i = t.insertAt(k, x, i)
	}
	return i
}

// put sets k's value.
func (t *table[K, V]) put(k K, v V) { t.slots[t.slot(k)].v = v }

// removeAt removes the entry of slot i. The slot becomes empty if the next one is
// (no probe goes past an empty slot, so none needs it), with the deleted slots
// before it; else deleted.
func (t *table[K, V]) removeAt(i int) {
	t.slots[i] = slot[K, V]{} // no references kept
	t.live--
	n := len(t.ctrl)
	if t.ctrl[(i+1)%n] != ctrlEmpty {
		t.ctrl[i] = ctrlDeleted
		return
	}
	for {
		t.ctrl[i] = ctrlEmpty
		t.used--
		if i--; i < 0 {
			i = n - 1
		}
		if t.ctrl[i] != ctrlDeleted {
			return
		}
	}
}

// remove removes k, if it is there.
func (t *table[K, V]) remove(k K) {
	if i := t.find(k); i >= 0 {
		t.removeAt(i)
	}
}

// slotsFor returns the size of a table rebuilt for n entries: 3/5 full (so that a
// table grows by 4/3 at a time, and its load stays between 3/5 and 4/5 as it
// grows), none for no entry.
func slotsFor(n int) int {
	if n == 0 {
		return 0
	}
	return max(minSlots, (5*n+2)/3)
}

// rebuild makes a table for n entries (at least the table's), with a new seed, and
// moves every entry to it; refs of before go stale.
func (t *table[K, V]) rebuild(n int) {
	size := slotsFor(max(n, t.live))
	ctrl, slots := t.ctrl, t.slots
	t.ctrl, t.slots = make([]uint8, size), make([]slot[K, V], size)
	for i := range t.ctrl {
		t.ctrl[i] = ctrlEmpty
	}
	t.used = t.live
	t.gen++
	t.h = keyhash.New[K](maphash.MakeSeed()) // see newTable
	for i, c := range ctrl {
		if c < ctrlEmpty {
			e := &slots[i]
			x := t.hash(e.k)
			j := t.emptyFor(x)
			t.ctrl[j] = h2(x)
			t.slots[j] = *e
		}
	}
}

// shrink rebuilds the table smaller when at most a fifth of it holds entries (after
// removals), so that the memory of the slots goes, and reports whether it did.
func (t *table[K, V]) shrink() bool {
	if len(t.ctrl) > slotsFor(t.live) && t.live*5 <= len(t.ctrl) {
		t.rebuild(t.live)
		return true
	}
	return false
}

// ref returns the Ref of slot i.
func (t *table[K, V]) ref(i int) Ref { return Ref{i: uint32(i), gen: t.gen} }

// at returns the slot r refers to if it holds k: the table has not been rebuilt
// since r was taken, and k is still there.
func (t *table[K, V]) at(r Ref, k K) (int, bool) {
	if r.gen != t.gen || int(r.i) >= len(t.ctrl) || t.ctrl[r.i] >= ctrlEmpty || t.slots[r.i].k != k {
		return -1, false
	}
	return int(r.i), true
}

// all yields every entry. Values may be changed and entries removed meanwhile; an
// entry added may or may not be yielded, and if adding one rebuilds the table, the
// entries after it are yielded with their values of the table now.
func (t *table[K, V]) all(yield func(K, V) bool) {
	ctrl, slots, gen := t.ctrl, t.slots, t.gen
	for i, c := range ctrl {
		if c >= ctrlEmpty {
			continue
		}
		if t.gen == gen {
			if t.ctrl[i] >= ctrlEmpty {
				continue // removed meanwhile
			}
			if !yield(slots[i].k, slots[i].v) {
				return
			}
			continue
		}
		k := slots[i].k
		v, ok := t.get(k)
		if ok && !yield(k, v) {
			return
		}
	}
}

// slotBytes is the memory of one slot: its key, its value and its control byte.
func (t *table[K, V]) slotBytes() int64 { return int64(unsafe.Sizeof(slot[K, V]{})) + 1 }

// bytes returns the memory of the table's arrays.
func (t *table[K, V]) bytes() int64 { return int64(len(t.ctrl)) * t.slotBytes() }

// Refs is a list of Refs into one store, kept in 4 bytes each (a Ref takes 8): the
// Refs a caller keeps for many keys until it comes back to them (a window keeps one
// list per batch and partition). The Refs of a list share their table generation:
// appending a Ref of a newer one (the table was rebuilt meanwhile) makes those
// before it stale, which they are. The zero Refs is an empty list.
type Refs struct {
	gen  uint32   // the table generation of the Refs from index from on
	from int      // the Refs before it are of an older generation
	i    []uint32 // their slots; noSlot for the zero Ref
}

const noSlot = ^uint32(0)

// Append adds r to the list.
func (l *Refs) Append(r Ref) {
	if r == (Ref{}) {
		l.i = append(l.i, noSlot)
		return
	}
	if r.gen != l.gen {
		l.gen, l.from = r.gen, len(l.i)
	}
	l.i = append(l.i, r.i)
}

// Len returns the number of Refs in the list.
func (l *Refs) Len() int { return len(l.i) }

// At returns the j-th Ref of the list: the zero Ref if j is out of range, and a
// stale Ref if the Ref appended there is.
func (l *Refs) At(j int) Ref {
	if j < l.from || j >= len(l.i) || l.i[j] == noSlot {
		return Ref{}
	}
	return Ref{i: l.i[j], gen: l.gen}
}
