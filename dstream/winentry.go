package dstream

import "github.com/spatedev/spate/ops"

// winEntry is a key's entry in a window's store: its value over the window and,
// for a window that keeps them (one without an inverse, or over a task-partitioned
// stream), its reduced value of each batch in the window, oldest first. Parts is a
// pointer, so that the entries of a window that does not keep them stay small; it
// is never written through (a rollback restores the entry before): setParts sets
// another.
type winEntry[V any] struct {
	V     V
	Parts *[]winPart[V] `msgpack:",omitempty"`
}

// parts returns e's values per batch.
func (e winEntry[V]) parts() []winPart[V] {
	if e.Parts == nil {
		return nil
	}
	return *e.Parts
}

// setParts sets e's values per batch to ps (none if empty).
func (e *winEntry[V]) setParts(ps []winPart[V]) {
	if len(ps) == 0 {
		e.Parts = nil
		return
	}
	e.Parts = &ps
}

// winPart is a key's reduced value of the batch at T (Unix nanoseconds).
type winPart[V any] struct {
	T int64
	V V
}

// oldestPart is when the oldest batch of e's values entered the window: when e
// must next change as batches leave (noTouch for none).
func oldestPart[V any](e winEntry[V]) int64 {
	if e.Parts == nil {
		return noTouch
	}
	return (*e.Parts)[0].T
}

// fold returns the entry cur (ok: the key has one) after the value v of a batch
// entering the window is reduced into it, or, leave, after v of a batch leaving it
// is taken out with the inverse; and whether the key keeps an entry (a key keep has
// dropped has nothing left to take out).
func (w *incWindow[K, V]) fold(cur winEntry[V], ok bool, v V, leave bool) (winEntry[V], bool) {
	switch {
	case !ok && leave:
		return cur, false
	case !ok:
		cur.V = v
	case leave:
		cur.V = w.inverse(cur.V, v)
	default:
		cur.V = w.reduce(cur.V, v)
	}
	return cur, true
}

// addPart returns the entry cur (ok: the key has one) of a window that keeps its
// batches' values, after the value of the batch p enters it.
func (w *incWindow[K, V]) addPart(cur winEntry[V], ok bool, p winPart[V]) winEntry[V] {
	if ok {
		cur.V = w.reduce(cur.V, p.V)
	} else {
		cur.V = p.V
	}
	// Appending never writes over the values of the entry before (which a
	// rollback restores): only past their length.
	cur.setParts(append(cur.parts(), p))
	return cur
}

// dropParts returns the entry cur of a window that keeps its batches' values, after
// the values of the batches at or before until leave it: the inverse takes them out
// of its value or, without one, its value is reduced again from the values left.
// Without an inverse, a key with no value left keeps no entry (false).
func (w *incWindow[K, V]) dropParts(cur winEntry[V], until int64) (winEntry[V], bool) {
	ps := cur.parts()
	n := 0
	for n < len(ps) && ps[n].T <= until {
		n++
	}
	left, ps := ps[:n], ps[n:] // (the values are not written over)
	switch {
	case w.inverse != nil:
		for _, l := range left {
			cur.V = w.inverse(cur.V, l.V)
		}
	case len(ps) == 0:
		return cur, false
	default:
		cur.V = ps[0].V
		for _, r := range ps[1:] {
			cur.V = w.reduce(cur.V, r.V)
		}
	}
	cur.setParts(ps) // (none: let the values go)
	return cur, true
}

// drops reports whether keep drops the key k with the value v.
func (w *incWindow[K, V]) drops(k K, v V) bool {
	return w.keep != nil && !w.keep(ops.Pair(k, v))
}
