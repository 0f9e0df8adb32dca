package dstream

import (
	"slices"
	"time"
)

// GeneratedTimes returns the batch times s holds RDDs for, in the order
// forget drops them, and whether that list is in time order and names
// exactly the RDDs s holds.
func GeneratedTimes[T any](s *DStream[T]) (times []time.Time, consistent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	consistent = len(s.times) == len(s.generated) && slices.IsSortedFunc(s.times, time.Time.Compare)
	for _, t := range s.times {
		if _, ok := s.generated[t]; !ok {
			consistent = false
		}
	}
	return slices.Clone(s.times), consistent
}
