// Package keyhash hashes comparable keys fast: strings and the common integer types
// take a fast path, any other comparable key goes through maphash.Comparable. The
// shuffle's hash partitioner and the state store's tables share it, each with a seed of
// its own (a table indexed by the partitioner's hash would find every key of its
// partition in the same residue class).
package keyhash

import (
	"hash/maphash"
	"unsafe"
)

type kind uint8

const (
	anyKind kind = iota
	stringKind
	intKind
	int64Kind
	int32Kind
	uintKind
	uint64Kind
	uint32Kind
)

// Hasher hashes keys of type K with a seed.
type Hasher[K comparable] struct {
	seed maphash.Seed
	bits uint64 // the seed's bits, mixed into integer keys
	kind kind
}

// New returns a hasher of K keys with seed.
func New[K comparable](seed maphash.Seed) Hasher[K] {
	h := Hasher[K]{seed: seed, bits: maphash.String(seed, "keyhash")}
	var zero K
	switch any(zero).(type) {
	case string:
		h.kind = stringKind
	case int:
		h.kind = intKind
	case int64:
		h.kind = int64Kind
	case int32:
		h.kind = int32Kind
	case uint:
		h.kind = uintKind
	case uint64:
		h.kind = uint64Kind
	case uint32:
		h.kind = uint32Kind
	}
	return h
}

// Sum64 returns key's hash. The unsafe conversions are guarded by kind, which New
// derived from K itself.
func (h Hasher[K]) Sum64(key K) uint64 {
	p := unsafe.Pointer(&key)
	switch h.kind {
	case stringKind:
		return maphash.String(h.seed, *(*string)(p))
	case intKind:
		return Mix64(uint64(*(*int)(p)) ^ h.bits)
	case uintKind:
		return Mix64(uint64(*(*uint)(p)) ^ h.bits)
	case int64Kind, uint64Kind:
		return Mix64(*(*uint64)(p) ^ h.bits)
	case int32Kind, uint32Kind:
		return Mix64(uint64(*(*uint32)(p)) ^ h.bits)
	default:
		return maphash.Comparable(h.seed, key)
	}
}

// Mix64 is the splitmix64 finalizer: consecutive integers get well-spread hashes.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
