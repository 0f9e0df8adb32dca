package dstreamtest

import (
	"time"

	"github.com/spatedev/spate/dstream"
)

// ManualClock is [dstream.ManualClock], a clock that moves only when told
// to, re-exported so that tests need one import.
type ManualClock = dstream.ManualClock

// NewManualClock returns a ManualClock that reads start; it is
// [dstream.NewManualClock].
func NewManualClock(start time.Time) *ManualClock { return dstream.NewManualClock(start) }

// Queue is [dstream.Queue], an in-memory source of batches, re-exported so
// that tests need one import.
type Queue[T any] = dstream.Queue[T]

// QueueStream returns an input stream of c reading from a new Queue, and
// the queue, initially holding batches; it is [dstream.QueueStream].
func QueueStream[T any](c *dstream.Context, mode dstream.QueueMode, batches ...[]T) (*dstream.DStream[T], *Queue[T]) {
	return dstream.QueueStream(c, mode, batches...)
}
