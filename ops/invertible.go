package ops

// InvReducer is a reduce function together with its inverse, the pair an
// incremental window needs: when a window slides, the batches that enter are
// folded in with Reduce and the batches that leave are taken out with
// Inverse, so a slide costs what enters and leaves, not the whole window.
//
// For all a, b: Inverse(Reduce(a, b), b) == a. Reduce must be associative
// and commutative.
type InvReducer[V any] struct {
	Reduce  func(a, b V) V
	Inverse func(a, b V) V
}

// Valid reports whether both functions are set.
func (r InvReducer[V]) Valid() bool { return r.Reduce != nil && r.Inverse != nil }

// SumInv returns the invertible reducer of addition: Reduce is [Sum] and
// Inverse is [Subtract].
func SumInv[N Number]() InvReducer[N] {
	return InvReducer[N]{Reduce: Sum[N], Inverse: Subtract[N]}
}
