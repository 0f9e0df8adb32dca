package state

import (
	"errors"
	"fmt"
	"iter"
	"unsafe"
)

// ErrVersion is wrapped by the error of Commit when the version does not move
// forward.
var ErrVersion = errors.New("state: versions must increase")

// Store is one partition's key-value state: a Go map updated in place by the task
// that owns the partition, with the changes of the current version kept aside so that
// they can be committed as a new version or rolled back, and the keys changed since
// the last save tracked for delta checkpoints. A Store is not safe for concurrent use:
// one task at a time owns it.
//
// Its memory is the map's, plus, for the current version only, the old value of each
// change (for Rollback), plus, with TrackDirty, one entry per key changed since the
// last save.
type Store[K comparable, V any] struct {
	m       map[K]V
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
	recent   map[K]struct{} // keys changed in the last committed version: evicted last
	err      error          // the first error of the file tier
}

// Opt configures a Store.
type Opt func(*config)

type config struct {
	dirty    bool
	spillDir string
}

// TrackDirty makes the store track the keys changed since the last save, for Delta:
// one more map entry per key changed between two saves. Default: off (Delta yields
// nothing, and Dirty is 0).
func TrackDirty() Opt { return func(c *config) { c.dirty = true } }

type undoEntry[K comparable, V any] struct {
	k   K
	v   V
	had bool
}

// New returns an empty store at version 0, configured by opts.
func New[K comparable, V any](opts ...Opt) *Store[K, V] {
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &Store[K, V]{m: map[K]V{}, spillDir: c.spillDir}
	if c.dirty {
		s.dirty = map[K]struct{}{}
	}
	return s
}

// Len returns the number of keys, in memory and spilled.
func (s *Store[K, V]) Len() int { return len(s.m) + s.Spilled() }

// Get returns the value of k and whether it has one. A spilled entry comes back to
// memory.
func (s *Store[K, V]) Get(k K) (V, bool) {
	v, ok := s.m[k]
	if !ok && s.onDisk() {
		s.promote(k)
		v, ok = s.m[k]
	}
	return v, ok
}

// peek is Get without bringing a spilled entry back to memory.
func (s *Store[K, V]) peek(k K) (V, bool) {
	if v, ok := s.m[k]; ok {
		return v, true
	}
	return s.fromDisk(k)
}

// Put sets the value of k.
func (s *Store[K, V]) Put(k K, v V) {
	s.remember(k)
	s.m[k] = v
}

// Load sets the value of k, or removes it (deleted), as part of the committed state:
// Rollback does not undo it and Delta does not hold it. It is how a saved state is
// read back into a store, before the store's next version.
func (s *Store[K, V]) Load(k K, v V, deleted bool) {
	if deleted {
		delete(s.m, k)
		return
	}
	s.m[k] = v
}

// Delete removes k, if it has a value.
func (s *Store[K, V]) Delete(k K) {
	if _, ok := s.Get(k); !ok {
		return
	}
	s.remember(k)
	delete(s.m, k)
}

// Replace sets the value of k, whose value now is old (as All or Get gave it), to v;
// if v is old, bit for bit, nothing happens: no change is recorded, no lookup made.
// It is how a pass over every key (UpdateStateByKey) leaves the keys whose value did
// not change as they are. (A v equal to old but not bit for bit — another string
// with the same bytes — is a change, which costs only its recording.)
func (s *Store[K, V]) Replace(k K, old, v V) {
	if sameBits(&old, &v) {
		return
	}
	s.record(k, old, true)
	s.m[k] = v
}

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
// lookup of k fewer.
func (s *Store[K, V]) Update(k K, f func(v V, ok bool) (next V, keep bool)) {
	v, ok := s.Get(k)
	next, keep := f(v, ok)
	switch {
	case keep:
		s.record(k, v, ok)
		s.m[k] = next
	case ok:
		s.record(k, v, ok)
		delete(s.m, k)
	}
}

// remember keeps k's value before a change (bringing a spilled entry back to memory
// first, so that memory holds what the version changes).
func (s *Store[K, V]) remember(k K) {
	v, had := s.m[k]
	if !had && s.onDisk() {
		s.promote(k)
		v, had = s.m[k]
	}
	s.record(k, v, had)
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
		for k, v := range s.m {
			if !yield(k, v) {
				return
			}
		}
		s.diskAll(yield)
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
			v, ok := s.m[u.k] // changed this version: in memory
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
		s.recent = make(map[K]struct{}, len(s.undo))
		for _, u := range s.undo {
			s.recent[u.k] = struct{}{}
		}
	}
	s.forgetUndo()
	return nil
}

// Rollback undoes the changes since the last commit: the store is again as at
// Version(). It costs the keys changed.
func (s *Store[K, V]) Rollback() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		u := &s.undo[i]
		if u.had {
			s.m[u.k] = u.v
		} else {
			delete(s.m, u.k)
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
