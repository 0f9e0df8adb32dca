package state

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"unsafe"

	"github.com/spatedev/spate/internal/argerr"
)

// ErrVersion is wrapped by the error of Commit when the version does not move
// forward.
var ErrVersion = errors.New("state: versions must increase")

// Store is one partition's key-value state: a hash table updated in place by the
// task that owns the partition, with the changes of the current version kept aside so
// that they can be committed as a new version or rolled back, and the keys changed
// since the last save tracked for delta checkpoints. A Store is not safe for
// concurrent use: one task at a time owns it.
//
// Its memory is the table's (an entry costs its key, its value and a byte, over the
// table's load: at most 4/5, 3/5 after the table grows; see the package doc), plus,
// for the current version only, the old value of each change (for Rollback), plus,
// with TrackDirty, one map entry per key changed since the last save.
type Store[K comparable, V any] struct {
	t       table[K, V]
	version int64
	// undo holds, for every change since the last commit, the key's value before
	// it (had false: none), in order: Rollback restores them from the last. A
	// key changed twice is in it twice; appending is cheaper than finding it.
	undo []undoEntry[K, V]
	// dirty holds the keys changed since the last MarkSaved (nil: not tracked).
	dirty map[K]struct{}

	// The file tier (Spill): the entries Evict moved out of memory.
	spillDir string
	sp       *spill[K, V]
	recent   []K   // keys changed in the last committed version (with Spill): evicted last
	err      error // the first error of the file tier
	varies   bool  // keys or values hold memory beyond their size (MemBytes)
	plain    bool  // values hold no references but strings (same)
}

// An Opt configures a Store (see New). Opts are made only by this package's
// functions: TrackDirty and Spill. A nil Opt is no option.
type Opt interface{ applyStore(*config) error }

// storeOpt is an Opt: it sets its value, or returns what is wrong with it.
type storeOpt func(*config) error

func (o storeOpt) applyStore(c *config) error { return o(c) }

type config struct {
	dirty    bool
	spillDir string
}

// TrackDirty makes the store track the keys changed since the last save, for Delta:
// one more map entry per key changed between two saves. Default: off (Delta yields
// nothing, and Dirty is 0).
func TrackDirty() Opt { return storeOpt(func(c *config) error { c.dirty = true; return nil }) }

type undoEntry[K comparable, V any] struct {
	k   K
	v   V
	had bool
}

// New returns an empty store at version 0, configured by opts. An invalid
// option is the store's construction error, wrapping the module's ErrInvalid
// (rdd.ErrInvalid): Err returns it from the start, and Evict fails with it;
// the store is otherwise as if the option were not given.
func New[K comparable, V any](opts ...Opt) *Store[K, V] {
	var c config
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyStore(&c); err != nil {
			errs = append(errs, err)
		}
	}
	s := &Store[K, V]{t: newTable[K, V](), spillDir: c.spillDir,
		varies: varies(reflect.TypeFor[K]()) || varies(reflect.TypeFor[V]()),
		plain:  plain(reflect.TypeFor[V]())}
	if len(errs) > 0 {
		s.err = argerr.Errorf("state.New", "%w", errors.Join(errs...))
	}
	if c.dirty {
		s.dirty = map[K]struct{}{}
	}
	return s
}

// Len returns the number of keys, in memory and spilled.
func (s *Store[K, V]) Len() int { return s.t.live + s.Spilled() }

// Get returns the value of k and whether it has one. A spilled entry comes back to
// memory.
func (s *Store[K, V]) Get(k K) (v V, ok bool) {
	if i := s.slotOf(k); i >= 0 {
		return s.t.slots[i].v, true
	}
	return v, false
}

// slotOf returns the slot of k's entry, bringing a spilled entry back to memory, or
// -1 if k has no value.
func (s *Store[K, V]) slotOf(k K) int {
	i := s.t.find(k)
	if i < 0 && s.onDisk() {
		i = s.promote(k)
	}
	return i
}

// peek is Get without bringing a spilled entry back to memory.
func (s *Store[K, V]) peek(k K) (V, bool) {
	if v, ok := s.t.get(k); ok {
		return v, true
	}
	return s.fromDisk(k)
}

// Put sets the value of k.
func (s *Store[K, V]) Put(k K, v V) {
	s.Update(k, func(V, bool) (V, bool) { return v, true })
}

// Load sets the value of k as part of the committed state: Rollback does not
// undo it and Delta does not hold it. It is how a saved state is read back into
// a store, before the store's next version.
func (s *Store[K, V]) Load(k K, v V) { s.t.put(k, v) }

// LoadDeleted removes k, if it has a value, as part of the committed state, as
// Load sets one: a key a saved delta records as deleted.
func (s *Store[K, V]) LoadDeleted(k K) { s.t.remove(k) }

// Delete removes k, if it has a value.
func (s *Store[K, V]) Delete(k K) {
	if i := s.slotOf(k); i >= 0 {
		var zero V
		s.setAt(i, zero, false)
	}
}

// DeleteFunc removes k if it has a value for which del returns true: Get and Delete
// with one lookup of k, and no change when del returns false. del must not use the
// store.
func (s *Store[K, V]) DeleteFunc(k K, del func(v V) bool) {
	if i := s.slotOf(k); i >= 0 && del(s.t.slots[i].v) {
		var zero V
		s.setAt(i, zero, false)
	}
}

// same reports whether a and b are the same value, known without looking further
// than their bytes: they hold the same bytes, and V holds no reference through which
// a value could have changed without changing its bytes (a pointer, map, slice…;
// strings are immutable).
func (s *Store[K, V]) same(a, b *V) bool { return s.plain && sameBits(a, b) }

// sameBits reports whether a and b hold the same bytes.
func sameBits[V any](a, b *V) bool {
	n := unsafe.Sizeof(*a)
	if n == 0 {
		return true
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(a)), n)) == string(unsafe.Slice((*byte)(unsafe.Pointer(b)), n))
}

// Update sets k's value to what f returns from its value now (ok false: it has
// none), or removes it if f returns keep false: Get and Put (or Delete) with one
// lookup of k. A value f returns unchanged is no change (Changes, Delta and
// Rollback have nothing to do for it) if V holds no references but strings: the
// same pointer, map or slice may hold what f changed through it, which is a change.
// f must not use the store.
func (s *Store[K, V]) Update(k K, f func(v V, ok bool) (next V, keep bool)) {
	s.update(k, f)
}

// UpdateRef is Update of k, reaching k's entry through r, without a lookup, if r
// still holds it (see Ref), else looking k up; it returns the Ref of k's entry after
// the update (the zero Ref if k has no value). r is a Ref from an earlier UpdateRef
// of k, or the zero Ref (a Ref of another key costs a lookup). It is how a caller
// that comes back to the keys it updated (a window's batch, when it leaves the
// window) reaches them without hashing them again.
func (s *Store[K, V]) UpdateRef(r Ref, k K, f func(v V, ok bool) (next V, keep bool)) Ref {
	if i, ok := s.t.at(r, k); ok {
		return s.updateAt(i, f)
	}
	return s.update(k, f)
}

// update is Update, returning the Ref of k's entry after it.
func (s *Store[K, V]) update(k K, f func(v V, ok bool) (next V, keep bool)) Ref {
	x := s.t.hash(k)
	i, ok := s.t.lookup(k, x)
	if !ok && s.onDisk() {
		if j := s.promote(k); j >= 0 { // else the table is as it was: i stands
			i, ok = j, true
		}
	}
	if ok {
		return s.updateAt(i, f)
	}
	var zero V
	next, keep := f(zero, false)
	if !keep {
		return Ref{}
	}
	i = s.t.insertAt(k, x, i)
	s.t.slots[i].v = next
	s.record(s.t.slots[i].k, zero, false)
	return s.t.ref(i)
}

// updateAt updates the entry of slot i with f.
func (s *Store[K, V]) updateAt(i int, f func(v V, ok bool) (next V, keep bool)) Ref {
	next, keep := f(s.t.slots[i].v, true)
	return s.setAt(i, next, keep)
}

// setAt sets the value of the entry of slot i to next, or removes it (keep false),
// and returns its Ref (the zero Ref if removed). The change is recorded with the
// table's copy of the key, which holds no more memory than the key.
func (s *Store[K, V]) setAt(i int, next V, keep bool) Ref {
	e := &s.t.slots[i]
	switch {
	case !keep:
		s.record(e.k, e.v, true)
		s.t.removeAt(i)
		return Ref{}
	case !s.same(&e.v, &next):
		s.record(e.k, e.v, true)
		e.v = next
	}
	return s.t.ref(i)
}

// UpdateAll updates every key of the store, and each key of keys that it has no
// value for, with f: f gets the key, its index in keys (-1 for a key of the store
// that keys does not hold), its value and whether it has one, and returns the key's
// next value, or keep false to remove it. A value f returns unchanged is no change
// and costs no write (as for Update). It is a pass over every key that joins a batch's
// keys (UpdateStateByKey's) without hashing the store's: each key of keys is looked
// up once, and the entries in memory are updated where they are, in no particular
// order; the spilled ones are read from the file, and come back to memory if they
// change. A key given twice in keys is updated once for each. If f returns an
// error, UpdateAll stops and returns it: the keys updated before stay updated (until
// Rollback), the others are as they were. f must not use the store.
func (s *Store[K, V]) UpdateAll(keys []K, f func(k K, i int, v V, ok bool) (next V, keep bool, err error)) error {
	type at struct{ slot, i int }
	var found []at
	var rest []int // indexes in keys of the keys not in memory, and of repeated ones
	for i, k := range keys {
		if j := s.t.find(k); j >= 0 {
			found = append(found, at{j, i})
		} else {
			rest = append(rest, i)
		}
	}
	slices.SortFunc(found, func(a, b at) int { return cmp.Or(cmp.Compare(a.slot, b.slot), cmp.Compare(a.i, b.i)) })
	// The entries in memory, in slot order, which is the order of found: nothing is
	// added meanwhile, so no entry moves.
	next := 0
	for j, c := range s.t.ctrl {
		if c >= ctrlEmpty {
			continue
		}
		i := -1
		if next < len(found) && found[next].slot == j {
			i = found[next].i
			for next++; next < len(found) && found[next].slot == j; next++ {
				rest = append(rest, found[next].i) // given again: after the walk
			}
		}
		e := &s.t.slots[j]
		v, keep, err := f(e.k, i, e.v, true)
		if err != nil {
			return err
		}
		s.setAt(j, v, keep)
	}
	// The spilled entries, read from the file (and the keys of keys among them).
	if s.onDisk() {
		pending := make(map[K]int, len(rest))
		for r, i := range rest {
			pending[keys[i]] = r
		}
		var err error
		s.diskAll(func(k K, v V) bool {
			i := -1
			if r, ok := pending[k]; ok {
				i, rest[r] = rest[r], -1
				delete(pending, k)
			}
			var next V
			var keep bool
			if next, keep, err = f(k, i, v, true); err != nil {
				return false
			}
			switch {
			case !keep:
				s.Delete(k)
			case !s.same(&v, &next):
				s.Put(k, next)
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	// The keys of keys the store had no value for, and the repeated ones.
	for _, i := range rest {
		if i < 0 {
			continue
		}
		var err error
		s.update(keys[i], func(v V, ok bool) (V, bool) {
			var next V
			var keep bool
			if next, keep, err = f(keys[i], i, v, ok); err != nil {
				return v, ok // no change
			}
			return next, keep
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// record keeps k's value v before a change (had false: none).
func (s *Store[K, V]) record(k K, v V, had bool) {
	s.undo = append(s.undo, undoEntry[K, V]{k, v, had})
	if s.dirty != nil {
		s.dirty[k] = struct{}{}
	}
}

// All yields every key and value, in no particular order: those in memory, then
// those spilled. The values may be changed with Put and keys removed with Delete
// during the iteration (as in a range over a map); keys added during it may or may
// not be yielded.
func (s *Store[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		done := false
		s.t.all(func(k K, v V) bool {
			done = !yield(k, v)
			return !done
		})
		if !done {
			s.diskAll(yield)
		}
	}
}

// Version returns the last committed version (0 before the first commit).
func (s *Store[K, V]) Version() int64 { return s.version }

// Changed reports whether there are changes since the last commit.
func (s *Store[K, V]) Changed() bool { return len(s.undo) > 0 }

// Change is a key's change: its new value, or Deleted.
type Change[K comparable, V any] struct {
	Key     K
	Value   V
	Deleted bool
}

// Changes yields the changes made since the last commit, each changed key once with
// its value now, in the order first changed: what a changelog of the version
// records.
func (s *Store[K, V]) Changes() iter.Seq[Change[K, V]] {
	return func(yield func(Change[K, V]) bool) {
		seen := make(map[K]struct{}, len(s.undo))
		for _, u := range s.undo {
			if _, dup := seen[u.k]; dup {
				continue
			}
			seen[u.k] = struct{}{}
			v, ok := s.t.get(u.k) // changed this version: in memory
			if !yield(Change[K, V]{Key: u.k, Value: v, Deleted: !ok}) {
				return
			}
		}
	}
}

// Commit makes the changes since the last commit version v, which must be above the
// current version.
func (s *Store[K, V]) Commit(v int64) error {
	if v <= s.version {
		return fmt.Errorf("%w: commit of version %d after version %d", ErrVersion, v, s.version)
	}
	s.version = v
	if s.spillDir != "" { // what Evict keeps in memory
		s.recent = s.recent[:0]
		if cap(s.recent) > 4096 && cap(s.recent) > 2*len(s.undo) {
			s.recent = nil // see forgetUndo
		}
		for _, u := range s.undo {
			s.recent = append(s.recent, u.k)
		}
	}
	s.forgetUndo()
	s.t.shrink()
	return nil
}

// Rollback undoes the changes since the last commit: the store is again as at
// Version(). It costs the keys changed.
func (s *Store[K, V]) Rollback() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		u := &s.undo[i]
		if u.had {
			s.t.put(u.k, u.v)
		} else {
			s.t.remove(u.k)
		}
	}
	// A key changed and rolled back is no longer dirty unless it was before this
	// version; that is not known, so it stays dirty: a delta may hold a key whose
	// value did not change, never miss one that did.
	s.forgetUndo()
}

// forgetUndo empties the undo log, keeping its room for the next version if this
// version used most of it: a version of about the same size as the one before
// (windows, steady batches) reuses it, and the room a large version (a first load)
// took goes with the next smaller one.
func (s *Store[K, V]) forgetUndo() {
	if cap(s.undo) > 4096 && cap(s.undo) > 2*len(s.undo) {
		s.undo = nil
		return
	}
	clear(s.undo) // no references kept in the spare capacity
	s.undo = s.undo[:0]
}

// Dirty returns the number of keys changed since the last MarkSaved (with
// TrackDirty).
func (s *Store[K, V]) Dirty() int { return len(s.dirty) }

// Delta yields the keys changed since the last MarkSaved with their values now (or
// Deleted): what a delta checkpoint of the store saves (with TrackDirty; else
// nothing). With uncommitted changes, they are included: save after Commit.
func (s *Store[K, V]) Delta() iter.Seq[Change[K, V]] {
	return func(yield func(Change[K, V]) bool) {
		for k := range s.dirty {
			v, ok := s.peek(k) // may have been spilled since it changed
			if !yield(Change[K, V]{Key: k, Value: v, Deleted: !ok}) {
				return
			}
		}
	}
}

// MarkSaved forgets which keys changed: the store's state is saved, and the next
// Delta starts from here.
func (s *Store[K, V]) MarkSaved() {
	if len(s.dirty) > 1024 {
		s.dirty = map[K]struct{}{} // let a large set go (see forgetUndo)
		return
	}
	clear(s.dirty)
}

// Apply sets the changes of a delta or a changelog, as part of the current version
// (commit after): a restore reads a snapshot, then the deltas after it, in order.
func (s *Store[K, V]) Apply(changes iter.Seq[Change[K, V]]) {
	for c := range changes {
		if c.Deleted {
			s.Delete(c.Key)
		} else {
			s.Put(c.Key, c.Value)
		}
	}
}
