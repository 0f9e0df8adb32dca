package kafkatest

import (
	"fmt"

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
	LeaveGroup   API = API(kmsg.LeaveGroup)
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
// with code.
func (b *Broker) Fail(api API, topic string, code ErrorCode, n int) (*Fault, error) {
	e := kerr.ErrorForCode(int16(code))
	ke, ok := e.(*kerr.Error)
	if !ok || e == nil {
		return nil, fmt.Errorf("kafkatest: unknown error code %d", code)
	}
	if n == 0 {
		return nil, fmt.Errorf("kafkatest: a fault for 0 requests")
	}
	h := b.c.Fault(kfakeFault(api, topic, ke, n))
	return &Fault{h}, nil
}

// Hang makes every request of api go unanswered (the client times out) until the
// returned function is called; requests already hanging stay unanswered.
func (b *Broker) Hang(api API) (release func()) {
	done := make(chan struct{})
	b.c.ControlKey(int16(api), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-done:
			b.c.DropControl()
			return nil, nil, false
		default:
			b.c.KeepControl()
			return nil, nil, true // handled, no answer
		}
	})
	var closed bool
	return func() {
		if !closed {
			closed = true
			close(done)
		}
	}
}

// DeleteRecords deletes a partition's records before offset, as retention would: its
// log then starts at offset.
func (b *Broker) DeleteRecords(topic string, partition int, offset int64) error {
	if err := b.c.DeleteRecords(topic, int32(partition), offset); err != nil {
		return fmt.Errorf("kafkatest: deleting records of %s/%d before %d: %w", topic, partition, offset, err)
	}
	return nil
}

// MoveLeader makes broker node (0, 1, … in start order) the leader of a partition;
// clients with stale metadata get NOT_LEADER errors until they refresh it.
func (b *Broker) MoveLeader(topic string, partition, node int) error {
	if err := b.c.MoveTopicPartition(topic, int32(partition), int32(node)); err != nil {
		return fmt.Errorf("kafkatest: moving the leader of %s/%d to %d: %w", topic, partition, node, err)
	}
	return nil
}

func kfakeFault(api API, topic string, err *kerr.Error, n int) kfake.Fault {
	return kfake.Fault{Keys: []kmsg.Key{kmsg.Key(api)}, Topic: topic, Err: err, Count: n}
}
