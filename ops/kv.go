package ops

import "fmt"

// KV is a key-value pair: the element type of every keyed RDD and DStream.
// The key must be comparable so that it can be hashed and grouped.
type KV[K comparable, V any] struct {
	Key   K
	Value V
}

// Pair returns KV{Key: k, Value: v}. It is the short constructor used in
// Map functions: rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }).
func Pair[K comparable, V any](k K, v V) KV[K, V] {
	return KV[K, V]{Key: k, Value: v}
}

// String formats the pair as (key, value), as Spark prints tuples.
func (kv KV[K, V]) String() string {
	return fmt.Sprintf("(%v, %v)", kv.Key, kv.Value)
}

// Joined is the value of a joined pair: the left side's value and the right
// side's value for one key. Outer joins wrap the side that may be missing in
// [Maybe].
type Joined[V, W any] struct {
	Left  V
	Right W
}

// String formats the pair as (left, right).
func (j Joined[V, W]) String() string {
	return fmt.Sprintf("(%v, %v)", j.Left, j.Right)
}

// Maybe is an optional value, Spark's Option: Ok is false when there is no
// value (the missing side of an outer join), and Value is then the zero value.
type Maybe[T any] struct {
	Value T
	Ok    bool
}

// Some returns a present value.
func Some[T any](v T) Maybe[T] { return Maybe[T]{Value: v, Ok: true} }

// None returns an absent value.
func None[T any]() Maybe[T] { return Maybe[T]{} }

// Get returns the value and whether it is present.
func (m Maybe[T]) Get() (T, bool) { return m.Value, m.Ok }

// OrElse returns the value if present, else def.
func (m Maybe[T]) OrElse(def T) T {
	if m.Ok {
		return m.Value
	}
	return def
}

// String formats the value as Some(v) or None.
func (m Maybe[T]) String() string {
	if !m.Ok {
		return "None"
	}
	return fmt.Sprintf("Some(%v)", m.Value)
}

// CoGrouped holds, for one key, all values of the left input and all values
// of the right input (the result of CoGroup). Either slice may be empty, never
// both.
type CoGrouped[V, W any] struct {
	Left  []V
	Right []W
}
