package kafka_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

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
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	kc := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...), Transport: tr}
	lso, err := kc.ListOffsets(ctx, &kafkago.ListOffsetsRequest{IsolationLevel: kafkago.ReadCommitted,
		Topics: map[string][]kafkago.OffsetRequest{topic: {kafkago.LastOffsetOf(0)}}})
	if err != nil {
		t.Fatal(err)
	}
	end := lso.Topics[topic][0].LastOffset
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
	b := kafkatest.New(t, kafkatest.Topic("in", 1), kafkatest.Topic("out", 1))
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

// A member whose batch outlives its session is a zombie once the group has moved
// on: its transaction is refused (ErrFenced) and aborted, and the member that took
// its partitions writes their records: each once, for read_committed consumers.
func TestAZombieIsFenced(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("in", 2), kafkatest.Topic("out", 1), kafkatest.MinSessionTimeout(500*time.Millisecond))
	job := func(block func()) *run {
		r := newRun(t)
		s := kafka.NewDirectStream(r.c, kafka.Subscribe("in"), kafka.StringDeserializer(), kafka.StringDeserializer(),
			kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest),
			kafka.SessionTimeout(time.Second), kafka.UnavailableTimeout(time.Hour))
		out := dstream.Map(s.Stream(), func(rec kafka.Record[string, string]) kafka.ProducerRecord[string, string] {
			return kafka.ProducerRecord[string, string]{Topic: "out", Value: rec.Value}
		})
		kafka.NewSink(out, kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...), kafka.Transactional())
		dstream.ForeachRDD(out, func(ctx context.Context, r *rdd.RDD[kafka.ProducerRecord[string, string]], _ time.Time) error {
			if n, err := rdd.Count(ctx, r); err != nil || n == 0 {
				return err
			}
			block()
			return nil
		})
		r.start()
		return r
	}
	produce(t, b, "in", 2, 0, 4, "v")
	blocked, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	zombie := job(func() {
		if once.CompareAndSwap(false, true) {
			close(blocked)
			<-release
		}
	})
	zombieErr := make(chan error, 1)
	go func() { zombieErr <- zombie.batch() }()
	select {
	case <-blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the first member's batch did not start within 30s")
	}
	// The batch has written v0…v3 in its transaction, and hangs. A second member
	// joins; the group waits for the first's batch for its rebalance timeout, then
	// goes on without it: the second reads the records again and commits them (a
	// read_committed consumer sees its records once the zombie's transaction ends).
	taker := job(func() {})
	deadline := time.Now().Add(30 * time.Second)
	for {
		committed, err := b.Committed(context.Background(), "g", "in")
		if err != nil {
			t.Fatal(err)
		}
		if committed[0] == 2 && committed[1] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second member did not commit the records within 30s: committed %v", committed)
		}
		if err := taker.batch(); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-zombieErr; !errors.Is(err, kafka.ErrFenced) || !errors.Is(err, dstream.ErrBatchAborted) {
		t.Errorf("the zombie's batch: %v, want ErrFenced, aborted", err)
	}
	// The zombie goes on: it joins the group again, and the two share what comes.
	produce(t, b, "in", 2, 4, 4, "v")
	deadline = time.Now().Add(30 * time.Second)
	for strings.Join(readCommitted(t, b, "out"), " ") != "v0 v1 v2 v3 v4 v5 v6 v7" {
		if time.Now().After(deadline) {
			t.Fatalf("after the fence, read_committed sees %q", readCommitted(t, b, "out"))
		}
		for _, r := range []*run{zombie, taker} {
			if _, err := r.batchInfo(); err != nil && !errors.Is(err, dstream.ErrBatchAborted) {
				t.Fatal(err)
			}
		}
	}
	for _, r := range []*run{zombie, taker} {
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(readCommitted(t, b, "out"), " "); got != "v0 v1 v2 v3 v4 v5 v6 v7" {
		t.Errorf("read_committed sees %q, want each record once", got)
	}
}

// A batch whose transaction holds offsets and no record (its sink wrote nothing)
// commits them all the same.
func TestATransactionOfOffsetsOnlyCommits(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("in", 1), kafkatest.Topic("out", 1))
	produce(t, b, "in", 1, 0, 3, "v")
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("in"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
	none := dstream.Filter(s.Stream(), func(kafka.Record[string, string]) bool { return false })
	kafka.NewSink(dstream.Map(none, func(rec kafka.Record[string, string]) kafka.ProducerRecord[string, string] {
		return kafka.ProducerRecord[string, string]{Topic: "out", Value: rec.Value}
	}), kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...), kafka.Transactional())
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	committed, err := b.Committed(context.Background(), "g", "in")
	if err != nil {
		t.Fatal(err)
	}
	if committed[0] != 3 {
		t.Errorf("committed offset %d, want 3", committed[0])
	}
}
