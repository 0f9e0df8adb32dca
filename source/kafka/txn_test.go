package kafka_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// readCommitted returns the values of topic's partition 0 that a read_committed
// consumer sees.
func readCommitted(t *testing.T, b *kafkatest.Broker, topic string) []string {
	t.Helper()
	ctx := context.Background()
	cl, err := kafka.NewClient(kafka.Brokers(b.Addrs()...), kafka.Isolation(kafka.ReadCommitted))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, end, err := b.Offsets(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := kafka.CreateRDD(ctx, cl, rdd.NewEngine(), []kafka.OffsetRange{{Topic: topic, Partition: 0, Until: end}},
		kafka.StringDeserializer(), kafka.StringDeserializer())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rdd.Collect(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, rec := range recs {
		vs = append(vs, rec.Value)
	}
	slices.Sort(vs)
	return vs
}

// With Transactional, a batch's output records and its source offsets commit
// together: a batch that fails after its sink wrote leaves nothing a read_committed
// consumer sees, and nothing committed, so the run after it writes those records
// once.
func TestTransactionalSinkWritesEachRecordOnce(t *testing.T) {
	b := startBroker(t, kafkatest.Topic("in", 1), kafkatest.Topic("out", 1))
	job := func(failAt int64) (*run, *atomic.Int64) {
		r := newRun(t)
		s := kafka.NewDirectStream(r.c, kafka.Subscribe("in"), kafka.StringDeserializer(), kafka.StringDeserializer(),
			kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
		out := dstream.Map(s.Stream(), func(rec kafka.Record[string, string]) kafka.ProducerRecord[string, string] {
			return kafka.ProducerRecord[string, string]{Topic: "out", Key: rec.Key, Value: strings.ToUpper(rec.Value)}
		})
		kafka.NewSink(out, kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...), kafka.Transactional())
		var batches atomic.Int64
		dstream.ForeachRDD(out, func(context.Context, *rdd.RDD[kafka.ProducerRecord[string, string]], time.Time) error {
			if batches.Add(1) == failAt {
				return errors.New("the job broke after the sink wrote")
			}
			return nil
		})
		r.start()
		return r, &batches
	}
	produce(t, b, "in", 1, 0, 3, "a")
	first, _ := job(2)
	first.batches(1)
	produce(t, b, "in", 1, 3, 2, "b")
	if err := first.batch(); err == nil || !strings.Contains(err.Error(), "the job broke") {
		t.Fatalf("batch 2: %v, want the failure", err)
	}
	first.stop()
	if got := strings.Join(readCommitted(t, b, "out"), " "); got != "A0 A1 A2" {
		t.Errorf("after the failed batch, read_committed sees %q, want A0 A1 A2", got)
	}
	committed, err := b.Committed(context.Background(), "g", "in")
	if err != nil {
		t.Fatal(err)
	}
	if committed[0] != 3 {
		t.Errorf("committed offset %d, want 3 (the failed batch's offsets are not)", committed[0])
	}

	second, _ := job(-1)
	second.batches(1)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(readCommitted(t, b, "out"), " "); got != "A0 A1 A2 B3 B4" {
		t.Errorf("read_committed sees %q, want A0 A1 A2 B3 B4: each once", got)
	}
	// A read_uncommitted consumer sees the aborted batch's records too.
	if got := len(readAll(t, b, "out", 1)); got != 7 {
		t.Errorf("read_uncommitted sees %d records, want 7 (2 aborted)", got)
	}
}
