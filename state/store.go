package state

import (
	"errors"
	"fmt"
	"iter"
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
// Its memory is the map's, plus, for the current version only, the old value of every
// key it changed (for Rollback), plus one entry per key changed since the last save.
type Store[K comparable, V any] struct {
	m       map[K]V
	version int64
	// undo holds, for every key changed since the last commit, its value before
	// (ok false: it had none), for Rollback, in the order first changed.
	undo  map[K]old[V]
	order []K
	// dirty holds the keys changed since the last MarkSaved.
	dirty map[K]struct{}
}

type old[V any] struct {
	v  V
	ok bool
}

// New returns an empty store at version 0.
func New[K comparable, V any]() *Store[K, V] {
	return &Store[K, V]{m: map[K]V{}, undo: map[K]old[V]{}, dirty: map[K]struct{}{}}
}

// Len returns the number of keys.
func (s *Store[K, V]) Len() int { return len(s.m) }

// Get returns the value of k and whether it has one.
func (s *Store[K, V]) Get(k K) (V, bool) {
	v, ok := s.m[k]
	return v, ok
}

// Put sets the value of k.
func (s *Store[K, V]) Put(k K, v V) {
	s.remember(k)
	s.m[k] = v
}

// Delete removes k, if it has a value.
func (s *Store[K, V]) Delete(k K) {
	if _, ok := s.m[k]; !ok {
		return
	}
	s.remember(k)
	delete(s.m, k)
}

// remember keeps k's value before its first change of the version.
func (s *Store[K, V]) remember(k K) {
	if _, ok := s.undo[k]; !ok {
		v, had := s.m[k]
		s.undo[k] = old[V]{v, had}
		s.order = append(s.order, k)
	}
	s.dirty[k] = struct{}{}
}

// All yields every key and value, in no particular order. The values may be changed
// with Put and keys removed with Delete during the iteration (as in a range over a
// map); keys added during it may or may not be yielded.
func (s *Store[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range s.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Version returns the last committed version (0 before the first commit).
func (s *Store[K, V]) Version() int64 { return s.version }

// Changed reports whether there are changes since the last commit.
func (s *Store[K, V]) Changed() bool { return len(s.order) > 0 }

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
		for _, k := range s.order {
			v, ok := s.m[k]
			if !yield(Change[K, V]{Key: k, Value: v, Deleted: !ok}) {
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
	s.forgetUndo()
	return nil
}

// Rollback undoes the changes since the last commit: the store is again as at
// Version(). It costs the keys changed.
func (s *Store[K, V]) Rollback() {
	for _, k := range s.order {
		o := s.undo[k]
		if o.ok {
			s.m[k] = o.v
		} else {
			delete(s.m, k)
		}
	}
	// A key changed and rolled back is no longer dirty unless it was before this
	// version; that is not known, so it stays dirty: a delta may hold a key whose
	// value did not change, never miss one that did.
	s.forgetUndo()
}

func (s *Store[K, V]) forgetUndo() {
	if len(s.order) == 0 {
		return
	}
	clear(s.undo)
	clear(s.order)
	s.order = s.order[:0]
	if cap(s.order) > 1024 && cap(s.order) > 4*len(s.m) {
		s.order = nil // do not keep a large batch's capacity for ever
	}
}

// Dirty returns the number of keys changed since the last MarkSaved.
func (s *Store[K, V]) Dirty() int { return len(s.dirty) }

// Delta yields the keys changed since the last MarkSaved with their values now (or
// Deleted): what a delta checkpoint of the store saves. With uncommitted changes,
// they are included: save after Commit.
func (s *Store[K, V]) Delta() iter.Seq[Change[K, V]] {
	return func(yield func(Change[K, V]) bool) {
		for k := range s.dirty {
			v, ok := s.m[k]
			if !yield(Change[K, V]{Key: k, Value: v, Deleted: !ok}) {
				return
			}
		}
	}
}

// MarkSaved forgets which keys changed: the store's state is saved, and the next
// Delta starts from here.
func (s *Store[K, V]) MarkSaved() { clear(s.dirty) }

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
