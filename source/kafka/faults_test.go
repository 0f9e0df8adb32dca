package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

var allEvents = []kafka.TopicPartition{{Topic: "events", Partition: 0}, {Topic: "events", Partition: 1}}

// newStream returns a string stream of events/0 and events/1 from the start.
func newStream(r *run, b *kafkatest.Broker, opts ...kafka.StreamOpt) *kafka.DirectStream[string, string] {
	return kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		append([]kafka.StreamOpt{kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest), kafka.PollTimeout(time.Second)}, opts...)...)
}

// TestUnreachableBrokersFailRunAtStartNamingThem checks that brokers no one answers
// at make Run fail at start, before any batch, after retrying (within a poll
// timeout), with an error naming them.
func TestUnreachableBrokersFailRunAtStartNamingThem(t *testing.T) {
	addr, err := kafkatest.Unreachable()
	if err != nil {
		t.Fatal(err)
	}
	completed := &batchCounter{}
	r := newRun(t, dstream.WithListener(completed))
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(addr), kafka.GroupID("g"), kafka.PollTimeout(500*time.Millisecond))
	s.ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	err = r.wait()
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "dstream: starting kafka.DirectStream") {
		t.Fatalf("Run = %v, want an error from the stream's start naming the broker %s", err, addr)
	}
	var attempts int
	if i := strings.Index(err.Error(), " attempts: "); i < 0 {
		t.Errorf("Run = %v, want it to say how many attempts were made", err)
	} else if _, err := fmt.Sscan(err.Error()[strings.LastIndex(err.Error()[:i], " ")+1:i], &attempts); err != nil || attempts < 2 {
		t.Errorf("Run = %v: %d attempts (%v), want retries", err, attempts, err)
	}
	if n := completed.n.Load(); n != 0 {
		t.Errorf("%d batches completed, want none", n)
	}
}

// batchCounter counts the batches that complete.
type batchCounter struct {
	dstream.BaseListener
	n atomic.Int64
}

func (l *batchCounter) OnBatchCompleted(dstream.BatchInfo) { l.n.Add(1) }

// TestRetriableErrorsAndLeaderMovesAreRetried answers fetches and offset lookups with
// an error a retry can get past, then moves the partitions' leaders: every record is
// read. UNKNOWN_SERVER_ERROR (-1) is one: kafka-go also gives it to every partition
// of a request whose part failed in transit, as right after a broker restart.
func TestRetriableErrorsAndLeaderMovesAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		code kafkatest.ErrorCode
	}{{"NotLeader", kafkatest.NotLeader}, {"UnknownServerError", kafkatest.UnknownServerError}} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.NumBrokers(2), kafkatest.Topic("events", 2))
			produce(t, b, "events", 2, 0, 20, "v")
			fault, err := b.Fail(kafkatest.Fetch, "events", tc.code, 3)
			if err != nil {
				t.Fatal(err)
			}
			listFault, err := b.Fail(kafkatest.ListOffsets, "events", tc.code, 2)
			if err != nil {
				t.Fatal(err)
			}
			r := newRun(t)
			var col collector
			newStream(r, b).ForeachBatch(col.foreach)
			r.start()
			r.batches(1)
			// Move both leaders to the other broker: clients with stale metadata are
			// told they asked the wrong broker, and must find the new leader.
			for p := range 2 {
				if err := b.MoveLeader("events", p, 1); err != nil {
					t.Fatal(err)
				}
			}
			produce(t, b, "events", 2, 20, 20, "v")
			r.batches(2)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if n := len(col.values()); n != 40 {
				t.Errorf("read %d records, want 40", n)
			}
			if fault.Hits() != 3 || listFault.Hits() != 2 {
				t.Errorf("faults answered %d fetches and %d offset lookups, want 3 and 2", fault.Hits(), listFault.Hits())
			}
		})
	}
}

func TestFetchFailingRepeatedlyFailsTheBatchAndCommitsNothing(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v")
	if _, err := b.Fail(kafkatest.Fetch, "events", kafkatest.NotLeader, -1); err != nil {
		t.Fatal(err)
	}
	r := newRun(t)
	// A fetch is retried through an outage for up to UnavailableTimeout (wall clock).
	s := newStream(r, b, kafka.GroupID("g"), kafka.UnavailableTimeout(time.Second))
	s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		var col collector
		if err := col.foreach(ctx, batch); err != nil {
			return err
		}
		s.CommitAsync(batch.Ranges, nil)
		return nil
	})
	r.start()
	err := r.batch()
	var be *dstream.BatchError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "events/") || !strings.Contains(err.Error(), "[0, 10)") {
		t.Fatalf("batch error = %v, want a *dstream.BatchError naming the partition and range [0, 10)", err)
	}
	if err := r.stop(); err == nil {
		t.Error("Run returned nil after a failed batch")
	}
	// Nothing was committed: a new stream in the group with no reset finds no offset.
	r2 := newRun(t)
	s2 := kafka.NewDirectStream(r2.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.None))
	s2.ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r2.start()
	if err := r2.batch(); err == nil || !strings.Contains(err.Error(), "no committed offset") {
		t.Errorf("after the failure: %v, want no committed offset", err)
	}
	r2.stop()
}

func TestOffsetsLostToRetention(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 100, "v") // 50 per partition
	if err := b.DeleteRecords("events", 0, 30); err != nil {
		t.Fatal(err)
	}
	from := map[kafka.TopicPartition]int64{allEvents[0]: 0, allEvents[1]: 0}

	r := newRun(t)
	kafka.NewDirectStream(r.c, kafka.Assign(allEvents, from), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...)).ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	err := r.batch()
	var dl *kafka.DataLossError
	if !errors.Is(err, kafka.ErrDataLoss) || !strings.Contains(err.Error(), "events/0 offsets [0, 30)") ||
		!errors.As(err, &dl) || *dl != (kafka.DataLossError{Topic: "events", Partition: 0, From: 0, Until: 30, While: dl.While}) {
		t.Errorf("by default: %v, want a *DataLossError (ErrDataLoss) naming events/0 offsets [0, 30)", err)
	}
	r.stop()

	r = newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Assign(allEvents, from), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.FailOnDataLoss(false))
	var col collector
	s.ForeachBatch(col.foreach)
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n, lost := len(col.values()), s.LostRecords(); n != 70 || lost != 30 {
		t.Errorf("with FailOnDataLoss(false): read %d, lost %d; want 70 and 30", n, lost)
	}
}

// A position past the partition's end (a recreated or truncated topic) fails the
// batch with a *DataLossError naming the position and the end.
func TestPositionPastTheEndIsDataLoss(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v") // 10 per partition
	r := newRun(t)
	kafka.NewDirectStream(r.c, kafka.Assign(allEvents, map[kafka.TopicPartition]int64{allEvents[0]: 0, allEvents[1]: 15}),
		kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...)).ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	err := r.batch()
	var dl *kafka.DataLossError
	if !errors.Is(err, kafka.ErrDataLoss) || !errors.As(err, &dl) || dl.Topic != "events" || dl.Partition != 1 || dl.From != 15 || dl.Until != 10 ||
		!strings.Contains(err.Error(), "events/1 position 15 is past the partition's end 10") {
		t.Errorf("Run: %v; want a *DataLossError of events/1, position 15 past the end 10", err)
	}
	r.stop()
}

type event struct{ ID int }

func TestBadRecords(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	ctx := context.Background()
	if err := b.Produce(ctx, "events",
		kafkatest.Message{Partition: 1, Value: []byte(`{"ID": 1}`)},
		kafkatest.Message{Partition: 1, Value: []byte(`{"ID": 2}`)},
		kafkatest.Message{Partition: 1, Value: []byte(`not json`)},
		kafkatest.Message{Partition: 1, Value: []byte(`{"ID": 4}`)}); err != nil {
		t.Fatal(err)
	}
	stream := func(r *run, opts ...kafka.StreamOpt) *kafka.DirectStream[string, event] {
		return kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.JSONDeserializer[event](),
			append([]kafka.StreamOpt{kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest)}, opts...)...)
	}
	r := newRun(t)
	stream(r).ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, event]) error {
		_, err := rdd.Collect(ctx, batch.RDD)
		return err
	})
	r.start()
	if err := r.batch(); err == nil || !strings.Contains(err.Error(), "the value of events/1 offset 2") {
		t.Errorf("a bad record: %v, want an error naming the value of events/1 offset 2", err)
	}
	r.stop()

	r = newRun(t)
	var mu sync.Mutex
	var bad []int64
	var ids []int
	s := stream(r, kafka.DeserializeErrorHandler(func(raw kafka.Record[[]byte, []byte], err error) error {
		mu.Lock()
		defer mu.Unlock()
		if string(raw.Value) != "not json" {
			return errors.New("the handler got the wrong record")
		}
		bad = append(bad, raw.Offset)
		return nil
	}))
	s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, event]) error {
		evs, err := rdd.Collect(ctx, batch.RDD)
		for _, e := range evs {
			ids = append(ids, e.Value.ID)
		}
		return err
	})
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0] != 2 || len(ids) != 3 {
		t.Errorf("with a handler: bad offsets %v, ids %v; want [2] and three ids", bad, ids)
	}
}

// TestStopWhileAFetchHangs stops the Context while the batch's fetches go unanswered:
// Run returns the hanging fetch's error, and a stopping stream does not retry the
// fetches (one request per partition).
func TestStopWhileAFetchHangs(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 10, "v")
	r := newRun(t)
	newStream(r, b, kafka.PollTimeout(2*time.Second)).ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		_, err := rdd.Count(ctx, batch.RDD)
		return err
	})
	hung := b.Hang(kafkatest.Fetch)
	defer hung.Release()
	r.start()
	if _, err := r.d.Advance(); err != nil { // the batch is generated; its fetches hang
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hung.Wait(ctx, 2); err != nil { // a fetch per partition
		t.Fatal(err)
	}
	if err := r.stop(); err == nil || !strings.Contains(err.Error(), "fetching events/") {
		t.Errorf("Run = %v, want the hanging fetch's error", err)
	}
	if n := hung.Hits(); n != 2 {
		t.Errorf("%d fetches reached the broker, want 2: a stopping stream does not retry", n)
	}
}
