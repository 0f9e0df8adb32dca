package kafkatest

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// API names a kind of Kafka request, for fault injection.
type API int16

// The requests the faults can target.
const (
	Produce      API = API(kmsg.Produce)
	Fetch        API = API(kmsg.Fetch)
	ListOffsets  API = API(kmsg.ListOffsets)
	Metadata     API = API(kmsg.Metadata)
	OffsetCommit API = API(kmsg.OffsetCommit)
	OffsetFetch  API = API(kmsg.OffsetFetch)
	// The consumer group requests, which carry no topic: fail them with topic "".
	FindCoordinator API = API(kmsg.FindCoordinator)
	JoinGroup       API = API(kmsg.JoinGroup)
	SyncGroup       API = API(kmsg.SyncGroup)
	Heartbeat       API = API(kmsg.Heartbeat)
	LeaveGroup      API = API(kmsg.LeaveGroup)
)

// ErrorCode is the Kafka error a faulted request gets.
type ErrorCode int16

// Error codes for faults.
const (
	// NotLeader is NOT_LEADER_OR_FOLLOWER, which clients retry after refreshing
	// their metadata.
	NotLeader ErrorCode = 6
	// UnknownServerError is UNKNOWN_SERVER_ERROR, which clients do not retry.
	UnknownServerError ErrorCode = -1
	// OffsetOutOfRange is OFFSET_OUT_OF_RANGE.
	OffsetOutOfRange ErrorCode = 1
	// CoordinatorNotAvailable is COORDINATOR_NOT_AVAILABLE: the group's coordinator
	// is loading or moving.
	CoordinatorNotAvailable ErrorCode = 15
	// RebalanceInProgress is REBALANCE_IN_PROGRESS: on JoinGroup or SyncGroup, a
	// consumer group that does not settle.
	RebalanceInProgress ErrorCode = 27
)

// Fault is an injected failure: requests of one API for one topic answer with an
// error code instead of their result.
type Fault struct {
	h interface {
		Hits() int
		Remove()
	}
}

// Hits returns how many requests the fault has answered so far.
func (f *Fault) Hits() int { return f.h.Hits() }

// Remove ends the fault.
func (f *Fault) Remove() { f.h.Remove() }

// Fail makes the next n requests of api for topic (n < 0: every one until Remove) fail
// with code; topic "" matches every request of api, including those that carry no
// topic (the consumer group requests).
func (b *Broker) Fail(api API, topic string, code ErrorCode, n int) (*Fault, error) {
	e := kerr.ErrorForCode(int16(code))
	ke, ok := e.(*kerr.Error)
	if !ok || e == nil {
		return nil, fmt.Errorf("kafkatest: unknown error code %d", code)
	}
	if n == 0 {
		return nil, fmt.Errorf("kafkatest: a fault for 0 requests")
	}
	h := b.cluster().Fault(kfakeFault(api, topic, ke, n))
	return &Fault{h}, nil
}

// Hung is the requests a Hang leaves unanswered.
type Hung struct {
	mu      sync.Mutex
	hits    int
	changed chan struct{} // closed and replaced on every hit
	release func()
}

// Hits returns how many requests have been left unanswered so far.
func (h *Hung) Hits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}

// Wait blocks until at least n requests have been left unanswered, or ctx ends
// (then it returns ctx's error).
func (h *Hung) Wait(ctx context.Context, n int) error {
	for {
		h.mu.Lock()
		hits, changed := h.hits, h.changed
		h.mu.Unlock()
		if hits >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("kafkatest: %d requests hung, waiting for %d: %w", hits, n, ctx.Err())
		}
	}
}

// Release ends the hang: requests from now on are answered (those already hanging
// stay unanswered). Calling it again does nothing.
func (h *Hung) Release() { h.release() }

// Hang makes every request of api go unanswered (the client times out) until Release.
func (b *Broker) Hang(api API) *Hung {
	c := b.cluster()
	done := make(chan struct{})
	h := &Hung{changed: make(chan struct{})}
	c.ControlKey(int16(api), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-done:
			c.DropControl()
			return nil, nil, false
		default:
			c.KeepControl()
			h.mu.Lock()
			h.hits++
			close(h.changed)
			h.changed = make(chan struct{})
			h.mu.Unlock()
			return nil, nil, true // handled, no answer
		}
	})
	var once sync.Once
	h.release = func() { once.Do(func() { close(done) }) }
	return h
}

// DeleteRecords deletes a partition's records before offset, as retention would: its
// log then starts at offset.
func (b *Broker) DeleteRecords(topic string, partition int, offset int64) error {
	if err := b.cluster().DeleteRecords(topic, int32(partition), offset); err != nil {
		return fmt.Errorf("kafkatest: deleting records of %s/%d before %d: %w", topic, partition, offset, err)
	}
	return nil
}

// MoveLeader makes broker node (0, 1, … in start order) the leader of a partition;
// clients with stale metadata get NOT_LEADER errors until they refresh it.
func (b *Broker) MoveLeader(topic string, partition, node int) error {
	if err := b.cluster().MoveTopicPartition(topic, int32(partition), int32(node)); err != nil {
		return fmt.Errorf("kafkatest: moving the leader of %s/%d to %d: %w", topic, partition, node, err)
	}
	return nil
}

func kfakeFault(api API, topic string, err *kerr.Error, n int) kfake.Fault {
	return kfake.Fault{Keys: []kmsg.Key{kmsg.Key(api)}, Topic: topic, Err: err, Count: n}
}
