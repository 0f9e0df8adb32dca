package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/spatedev/spate/checkpoint"
)

// A store's cold entries can move to a file (Spill, Evict), so that a state larger
// than its memory budget does not grow the heap until the process dies. The file is a
// B+tree (bbolt: one file, no background goroutines, reads through the page cache),
// opened when the store first evicts, written without fsync (it is a cache of the
// store, which checkpoints make durable) and deleted by Close. An entry is in memory
// or in the file, never in both: reading or changing an entry of the file brings it
// back to memory (the file's copy is deleted at its next write).

var bucketName = []byte("state")

// spill is a store's file tier.
type spill[K comparable, V any] struct {
	path string
	db   *bolt.DB
	n    int            // entries in the file, stale ones included
	gone map[K]struct{} // keys whose copy in the file is stale (back in memory): deleted at the next write
}

// Spill lets the store move cold entries to a file in dir (created when first
// needed) with Evict. dir must not be empty. Default: none, every entry stays
// in memory.
func Spill(dir string) Opt {
	return storeOpt(func(c *config) error {
		if dir == "" {
			return errors.New(`Spill(""), want a directory`)
		}
		c.spillDir = dir
		return nil
	})
}

// Err returns the store's construction error (an invalid option of New), or the
// first error of its file tier (reading, writing or decoding an entry); once it is
// set, the store's contents are not to be trusted, and the batch that uses it must
// fail.
func (s *Store[K, V]) Err() error { return s.err }

// fail records the first error of the file tier.
func (s *Store[K, V]) fail(err error) {
	if s.err == nil {
		s.err = fmt.Errorf("state: spill file %s: %w", s.sp.path, err)
	}
}

// onDisk reports whether the file may hold entries.
func (s *Store[K, V]) onDisk() bool { return s.sp != nil && s.sp.n > len(s.sp.gone) }

// fromDisk returns k's entry from the file, if it is there and not stale.
func (s *Store[K, V]) fromDisk(k K) (v V, ok bool) {
	if !s.onDisk() {
		return v, false
	}
	if _, stale := s.sp.gone[k]; stale {
		return v, false
	}
	kb, err := encodeKey(k)
	if err != nil {
		s.fail(err)
		return v, false
	}
	var data []byte
	err = s.sp.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketName).Get(kb); b != nil {
			data = append([]byte(nil), b...) // valid only inside the transaction
		}
		return nil
	})
	if err == nil && data != nil {
		err = checkpoint.Decode(data, &v)
		ok = err == nil
	}
	if err != nil {
		s.fail(err)
	}
	return v, ok
}

// Warm brings back to memory, in one read of the file, the spilled entries of keys
// (those not in memory): a batch that is about to touch many keys warms them first
// rather than reading the file once per key.
func (s *Store[K, V]) Warm(keys []K) {
	if !s.onDisk() {
		return
	}
	type want struct {
		k  K
		kb []byte
	}
	var wanted []want
	for _, k := range keys {
		if s.t.find(k) >= 0 {
			continue
		}
		if _, stale := s.sp.gone[k]; stale {
			continue
		}
		kb, err := encodeKey(k)
		if err != nil {
			s.fail(err)
			return
		}
		wanted = append(wanted, want{k, kb})
	}
	if len(wanted) == 0 {
		return
	}
	slices.SortFunc(wanted, func(a, b want) int { return bytes.Compare(a.kb, b.kb) })
	err := s.sp.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for i, w := range wanted {
			if i > 0 && bytes.Equal(w.kb, wanted[i-1].kb) {
				continue // a key given twice
			}
			data := b.Get(w.kb)
			if data == nil {
				continue
			}
			var v V
			if err := checkpoint.Decode(data, &v); err != nil {
				return err
			}
			s.t.put(w.k, v)
			s.sp.gone[w.k] = struct{}{}
		}
		return nil
	})
	if err != nil {
		s.fail(err)
	}
}

// promote brings k back to memory from the file, if it is there, and returns its
// slot (-1: it is not).
func (s *Store[K, V]) promote(k K) int {
	v, ok := s.fromDisk(k)
	if !ok {
		return -1
	}
	i := s.t.slot(k)
	s.t.slots[i].v = v
	s.sp.gone[k] = struct{}{}
	return i
}

// Evict moves entries from memory to the file until the memory the store's entries
// take (MemBytes) is at most target, leaving the keys changed in the last committed
// version (hot) in memory as long as others can go, then rebuilds the table for the
// entries left, so that the memory of the others goes. It needs Spill, and no
// uncommitted change. It returns how many entries moved.
func (s *Store[K, V]) Evict(target int64) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.spillDir == "" {
		return 0, errors.New("state: Evict without Spill")
	}
	if len(s.undo) > 0 {
		return 0, errors.New("state: Evict with uncommitted changes")
	}
	keep := s.fits(target)
	if keep >= s.t.live {
		if s.MemBytes() > target { // the entries fit, in a smaller table
			s.t.rebuild(s.t.live)
		}
		return 0, nil
	}
	excess := s.t.live - keep
	if err := s.openSpill(); err != nil {
		s.fail(err)
		return 0, s.err
	}
	// The hot entries' slots, in order, so that a walk of the table in slot order
	// tells them without hashing its keys.
	hot := make([]int, 0, len(s.recent))
	for _, k := range s.recent {
		if i := s.t.find(k); i >= 0 {
			hot = append(hot, i)
		}
	}
	slices.Sort(hot)
	// The entries go in key order, in transactions of a bounded size: bbolt
	// splits its nodes at commit, so a large transaction of keys in random
	// order would insert into ever larger nodes.
	type entry struct {
		slot   int
		kb, vb []byte
	}
	var victims []entry
	for pass := 0; pass < 2 && len(victims) < excess; pass++ {
		h := 0
		for i, c := range s.t.ctrl {
			if len(victims) == excess {
				break
			}
			if c >= ctrlEmpty {
				continue
			}
			for h < len(hot) && hot[h] < i {
				h++
			}
			if isHot := h < len(hot) && hot[h] == i; isHot != (pass == 1) {
				continue // cold keys first, then hot ones if need be
			}
			e := &s.t.slots[i]
			kb, err := encodeKey(e.k)
			if err == nil {
				var vb []byte
				if vb, err = checkpoint.Encode(e.v); err == nil {
					victims = append(victims, entry{i, kb, vb})
					continue
				}
			}
			s.fail(err)
			return 0, s.err
		}
	}
	slices.SortFunc(victims, func(a, b entry) int { return bytes.Compare(a.kb, b.kb) })
	err := s.sp.db.Update(func(tx *bolt.Tx) error { return s.dropStale(tx.Bucket(bucketName)) })
	for i := 0; err == nil && i < len(victims); i += evictTx {
		chunk := victims[i:min(i+evictTx, len(victims))]
		err = s.sp.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketName)
			for _, e := range chunk {
				if err := b.Put(e.kb, e.vb); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, e := range chunk {
				s.t.removeAt(e.slot)
			}
			s.sp.n += len(chunk)
		}
	}
	if err != nil {
		s.fail(err)
		return 0, s.err
	}
	s.t.rebuild(s.t.live)
	return len(victims), nil
}

// fits returns how many entries a table rebuilt for them holds within target bytes
// (MemBytes), at most the store's.
func (s *Store[K, V]) fits(target int64) int {
	slot, vb := s.t.slotBytes(), s.varBytes()
	bytesFor := func(n int) int64 { return int64(slotsFor(n))*slot + int64(n)*vb }
	// slotsFor(n) is about 5n/3; the loop corrects the rounding, and a small
	// table's minSlots.
	n := int(min(int64(s.t.live), max(0, target)*3/(5*slot+3*vb)))
	for n > 0 && bytesFor(n) > target {
		n--
	}
	return n
}

// evictTx is how many entries one spill transaction writes at most.
const evictTx = 20_000

// dropStale deletes from the file the copies of the entries back in memory.
func (s *Store[K, V]) dropStale(b *bolt.Bucket) error {
	for k := range s.sp.gone {
		kb, err := encodeKey(k)
		if err != nil {
			return err
		}
		if err := b.Delete(kb); err != nil {
			return err
		}
		s.sp.n--
	}
	clear(s.sp.gone)
	return nil
}

// openSpill opens the store's file, the first time.
func (s *Store[K, V]) openSpill() error {
	if s.sp != nil {
		return nil
	}
	if err := os.MkdirAll(s.spillDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.spillDir, "state-*.spill")
	if err != nil {
		return err
	}
	path := f.Name()
	f.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, NoGrowSync: true})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketName)
			return err
		})
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		os.Remove(path)
		return err
	}
	s.sp = &spill[K, V]{path: path, db: db, gone: map[K]struct{}{}}
	return nil
}

// Spilled returns how many entries are in the file.
func (s *Store[K, V]) Spilled() int {
	if s.sp == nil {
		return 0
	}
	return s.sp.n - len(s.sp.gone)
}

// Close deletes the store's file, if it has one; the store is then empty of its
// spilled entries.
func (s *Store[K, V]) Close() error {
	if s.sp == nil {
		return nil
	}
	sp := s.sp
	s.sp = nil
	err := sp.db.Close()
	if rerr := os.Remove(sp.path); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

// diskAll yields the entries of the file that are not stale, decoded.
func (s *Store[K, V]) diskAll(yield func(K, V) bool) {
	if !s.onDisk() {
		return
	}
	// The entries are read in pages, outside the read transaction, so that the
	// caller may change the store (which reads the file) while it iterates.
	var after []byte
	for {
		type kv struct {
			k K
			v V
		}
		var page []kv
		err := s.sp.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketName).Cursor()
			var kb, vb []byte
			if after == nil {
				kb, vb = c.First()
			} else if kb, vb = c.Seek(after); kb != nil && string(kb) == string(after) {
				kb, vb = c.Next()
			}
			for ; kb != nil && len(page) < 1024; kb, vb = c.Next() {
				k, err := decodeKey[K](kb)
				if err != nil {
					return err
				}
				var v V
				if err := checkpoint.Decode(vb, &v); err != nil {
					return err
				}
				page = append(page, kv{k, v})
				after = append(after[:0], kb...)
			}
			return nil
		})
		if err != nil {
			s.fail(err)
			return
		}
		for _, e := range page {
			if _, stale := s.sp.gone[e.k]; stale {
				continue
			}
			if s.t.find(e.k) >= 0 {
				continue // back in memory
			}
			if !yield(e.k, e.v) {
				return
			}
		}
		if len(page) < 1024 {
			return
		}
	}
}

// encodeKey returns the bytes a key is stored under in the file: the string's bytes,
// an integer's 8 bytes big endian, else its msgpack encoding (deterministic for the
// comparable types a state key has: scalars, strings, arrays and structs of them).
func encodeKey[K comparable](k K) ([]byte, error) {
	switch x := any(k).(type) {
	case string:
		return []byte(x), nil
	case int:
		return binary.BigEndian.AppendUint64(nil, uint64(x)), nil
	case int64:
		return binary.BigEndian.AppendUint64(nil, uint64(x)), nil
	case int32:
		return binary.BigEndian.AppendUint64(nil, uint64(x)), nil
	case uint64:
		return binary.BigEndian.AppendUint64(nil, x), nil
	}
	if !plain(reflect.TypeFor[K]()) {
		return nil, fmt.Errorf("keys of type %v cannot be spilled to a file (they hold pointers, interfaces or channels)", reflect.TypeFor[K]())
	}
	return checkpoint.Encode(k)
}

// decodeKey is encodeKey's inverse.
func decodeKey[K comparable](b []byte) (K, error) {
	var k K
	switch p := any(&k).(type) {
	case *string:
		*p = string(b)
		return k, nil
	case *int:
		*p = int(binary.BigEndian.Uint64(b))
		return k, nil
	case *int64:
		*p = int64(binary.BigEndian.Uint64(b))
		return k, nil
	case *int32:
		*p = int32(binary.BigEndian.Uint64(b))
		return k, nil
	case *uint64:
		*p = binary.BigEndian.Uint64(b)
		return k, nil
	}
	err := checkpoint.Decode(b, &k)
	return k, err
}

// plain reports whether values of t are plain data: no references but strings (no
// pointers, interfaces, channels, functions, maps or slices). Two of them with the
// same bytes are the same value, and the encoding of one decodes back to an equal
// value.
func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Map, reflect.Slice:
		return false
	case reflect.Array:
		return plain(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !plain(t.Field(i).Type) {
				return false
			}
		}
	}
	return true
}

// MemBytes returns the memory the entries in memory take: the table's (its slots,
// used or not: an entry takes its key, its value and a control byte, over the
// table's load), plus, for keys and values whose size varies (strings, slices,
// maps), the encoded size of their contents, sampled from a few entries.
func (s *Store[K, V]) MemBytes() int64 { return s.t.bytes() + int64(s.t.live)*s.varBytes() }

// varBytes estimates what an entry holds beyond its slot: 0 for keys and values of a
// fixed size, else the mean encoded size of a few entries.
func (s *Store[K, V]) varBytes() int64 {
	if !s.varies {
		return 0
	}
	var sum, n int64
	for i, c := range s.t.ctrl {
		if c >= ctrlEmpty {
			continue
		}
		kb, _ := checkpoint.Encode(s.t.slots[i].k)
		vb, _ := checkpoint.Encode(s.t.slots[i].v)
		sum += int64(len(kb) + len(vb))
		if n++; n == 32 {
			break
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// varies reports whether values of t hold memory beyond their size.
func varies(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
		return true
	case reflect.Array:
		return varies(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if varies(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
