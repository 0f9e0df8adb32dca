package ops

import "cmp"

// Number is the set of types Sum works on.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64
}

// Sum returns a + b. Use it as the reduce function of ReduceByKey:
// rdd.ReduceByKey(pairs, ops.Sum[int]).
func Sum[N Number](a, b N) N { return a + b }

// Subtract returns a - b: the inverse of [Sum] for incremental windows.
func Subtract[N Number](a, b N) N { return a - b }

// Min returns the smaller of a and b (a when they are equal).
func Min[T cmp.Ordered](a, b T) T {
	if cmp.Less(b, a) {
		return b
	}
	return a
}

// Max returns the larger of a and b (a when they are equal).
func Max[T cmp.Ordered](a, b T) T {
	if cmp.Less(a, b) {
		return b
	}
	return a
}

// One returns 1 whatever its argument: the map function of a count,
// rdd.MapValues(pairs, ops.One[string]) followed by ReduceByKey(ops.Sum[int64]).
func One[T any](T) int64 { return 1 }

// Identity returns its argument.
func Identity[T any](v T) T { return v }
