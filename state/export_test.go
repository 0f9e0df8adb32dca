package state

// RefValid reports whether r still reaches k's entry without a lookup.
func (s *Store[K, V]) RefValid(r Ref, k K) bool {
	_, ok := s.t.at(r, k)
	return ok
}
