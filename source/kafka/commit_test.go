package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// committedOffsets reads what group committed for allEvents, through a stream that
// fails when a partition has none.
func committedOffsets(t *testing.T, b *kafkatest.Broker, group string) []kafka.OffsetRange {
	t.Helper()
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID(group), kafka.OffsetReset(kafka.None), kafka.MaxRatePerPartition(1), kafka.MinRatePerPartition(0))
	var first []kafka.OffsetRange
	s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, string]) error {
		if first == nil {
			first = batch.Ranges
		}
		return nil
	})
	r.start()
	if err := r.batch(); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	return first
}

// Commits are retried, made in order, and reported to CommitAsync's done functions
// and to OnCommit (failed ones to done only).
func TestCommitsAreRetriedOrderedAndReported(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 40, "v")
	fault, err := b.Fail(kafkatest.OffsetCommit, "events", kafkatest.NotLeader, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(t)
	var heard commits
	s := newStream(r, b, kafka.GroupID("g"), kafka.OnCommit(heard.add))
	var mu sync.Mutex
	var results []error
	var last map[kafka.TopicPartition]int64
	s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, string]) error {
		// Two commits queued at once, the later one further: they are made in
		// order (merged), so the later offsets win.
		half := make([]kafka.OffsetRange, len(batch.Ranges))
		for i, rg := range batch.Ranges {
			half[i] = rg
			half[i].Until = rg.From + rg.Count()/2
		}
		done := func(offsets map[kafka.TopicPartition]int64, err error) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, err)
			last = maps.Clone(offsets)
		}
		s.CommitAsync(half, done)
		s.CommitAsync(batch.Ranges, done)
		return nil
	})
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0] != nil || results[1] != nil {
		t.Fatalf("commit results %v, want two successes after retries", results)
	}
	if fault.Hits() != 2 {
		t.Errorf("the commit fault answered %d requests, want 2 (retried)", fault.Hits())
	}
	for _, rg := range committedOffsets(t, b, "g") {
		if rg.From != 20 {
			t.Errorf("committed %v, want 20 for every partition (the later commit)", rg)
		}
	}
	if last[allEvents[0]] != 20 {
		t.Errorf("the callback got %v", last)
	}
	// OnCommit heard the commits made, the last one at 20.
	if got := heard.String(); !strings.HasSuffix(got, " map[events/0:20 events/1:20] false}]") {
		t.Errorf("OnCommit heard %s, want the commits made, the last of group g at 20", got)
	}

	// A commit that keeps failing is reported to the callback.
	if _, err := b.Fail(kafkatest.OffsetCommit, "events", kafkatest.UnknownServerError, -1); err != nil {
		t.Fatal(err)
	}
	r = newRun(t)
	var none commits
	s = newStream(r, b, kafka.GroupID("g2"), kafka.OnCommit(none.add))
	var failed error
	s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, string]) error {
		s.CommitAsync(batch.Ranges, func(_ map[kafka.TopicPartition]int64, err error) { failed = err })
		return nil
	})
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if failed == nil {
		t.Error("a failing commit reported no error")
	}
	if got := none.String(); got != "[]" {
		t.Errorf("OnCommit heard %s of a failing commit, want nothing", got)
	}
}

func TestRecordsCarryTheirMetadata(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	at := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	if err := b.Produce(context.Background(), "events", kafkatest.Message{Partition: 1, Key: []byte("k"), Value: []byte("v"),
		Headers: map[string][]byte{"h": []byte("x")}, Time: at}); err != nil {
		t.Fatal(err)
	}
	r := newRun(t)
	var col collector
	newStream(r, b).ForeachBatch(col.foreach)
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	recs := col.parts[0][1]
	if len(recs) != 1 {
		t.Fatalf("read %v", col.parts)
	}
	rec := recs[0]
	if rec.Topic != "events" || rec.Partition != 1 || rec.Offset != 0 || rec.Key != "k" || rec.Value != "v" ||
		!rec.Timestamp.Equal(at) || len(rec.Headers) != 1 || rec.Headers[0].Key != "h" || string(rec.Headers[0].Value) != "x" {
		t.Errorf("record %+v", rec)
	}
}

// commits records what OnCommit tells.
type commits struct {
	mu  sync.Mutex
	got []kafka.CommitInfo
}

func (c *commits) add(i kafka.CommitInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, i)
}

func (c *commits) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.got)
}

// OnCommit hears the offsets a keyed stream commits in each batch's transaction
// once the transaction committed, and not those of a transaction that failed to.
func TestOnCommitHearsTransactionalCommits(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	var heard commits
	r := newRun(t)
	keyedCounts(t, r, b, kafka.OnCommit(heard.add))
	produceByKey(t, b, "events", 2, "ann", "bob", "ann")
	r.start()
	r.batches(1)
	var ends []int64
	for p := range 2 {
		_, end, err := b.Offsets("events", p)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end)
	}
	want := fmt.Sprintf("[{g map[events/0:%d events/1:%d] true}]", ends[0], ends[1])
	if got := heard.String(); got != want {
		t.Errorf("after batch 1 OnCommit heard %s, want %s", got, want)
	}

	// The broker refuses to end the next transaction: the batch fails, and its
	// offsets, which were in the transaction, are not heard of.
	if _, err := b.Fail(kafkatest.API(kmsg.EndTxn), "", kafkatest.UnknownServerError, -1); err != nil {
		t.Fatal(err)
	}
	produceByKey(t, b, "events", 2, "cid")
	if err := r.batch(); err == nil {
		t.Error("batch 2 succeeded although its transaction could not commit")
	}
	r.stop()
	if got := heard.String(); got != want {
		t.Errorf("after the failed batch OnCommit heard %s, want %s still", got, want)
	}
}

// OnCommit hears the commits of a receiver stream: the last offsets it heard of
// each partition are those the group holds.
func TestOnCommitHearsAReceiverStream(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 40, "v")
	var heard commits
	r := newReceiverRun(t, b, "g", "", dstream.NewManualClock(epoch), kafka.OnCommit(heard.add))
	r.start()
	r.until(func() bool { return r.count() >= 40 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	committed, err := b.Committed(context.Background(), "g", "events")
	if err != nil {
		t.Fatal(err)
	}
	last := map[int]int64{}
	heard.mu.Lock()
	for _, c := range heard.got {
		if c.Group != "g" || c.Transactional {
			t.Errorf("OnCommit heard %v, want group g, not transactional", c)
		}
		for tp, off := range c.Offsets {
			last[tp.Partition] = off
		}
	}
	heard.mu.Unlock()
	if fmt.Sprint(last) != fmt.Sprint(committed) || len(committed) != 2 {
		t.Errorf("OnCommit heard %v last, the group committed %v", last, committed)
	}
}
