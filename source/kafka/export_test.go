package kafka

import (
	"context"
	"fmt"

	"github.com/spatedev/spate/dstream"
)

// ReceiverSource is what the tests call of a receiver stream's source.
type ReceiverSource[K, V any] interface {
	dstream.Source[Record[K, V]]
	dstream.CheckpointedSource
	dstream.CheckpointCleaner
}

// SourceOf returns s's source, for tests that drive it without a Context's Run.
func SourceOf[K, V any](s *ReceiverStream[K, V]) ReceiverSource[K, V] { return receiverSource[K, V]{s} }

// ReceiverState is what a receiver stream holds.
type ReceiverState struct {
	Received    int // records not yet in a block
	Stored      int // records in blocks no batch has taken
	Uncommitted int // partitions with stored records whose offsets are not committed yet
}

// AwaitReceiver waits until cond holds of what s holds, looking again at every change,
// or until ctx ends.
func AwaitReceiver[K, V any](ctx context.Context, s *ReceiverStream[K, V], cond func(ReceiverState) bool) error {
	for {
		s.mu.Lock()
		st := ReceiverState{Received: len(s.current), Uncommitted: len(s.pending)}
		for _, b := range s.stored {
			st.Stored += b.n
		}
		changed := s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: the receiver stream holds %+v", ctx.Err(), st)
		}
	}
}

// LoggedBlocks returns the sequence numbers of the blocks in s's write-ahead log.
func LoggedBlocks[K, V any](s *ReceiverStream[K, V]) ([]uint64, error) {
	var seqs []uint64
	err := s.wal.Replay(func(seq uint64, _ []byte) error {
		seqs = append(seqs, seq)
		return nil
	})
	return seqs, err
}

// Murmur2Partition is the partition of n that Kafka's default partitioner places
// key in, as a keyed stream's TaskPartitioner computes it.
func Murmur2Partition(key []byte, n int) int {
	return newTaskPartitioner[string](n, "", StringSerializer()).partitionOf(key)
}
