package kafka_test

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestDirectStreamReadsEveryRecordOnceInContiguousRanges produces records between
// batches and checks that every record is read exactly once, that each partition's
// ranges follow each other with no gap or overlap, and that RDD partition i holds
// exactly the records of range i.
func TestDirectStreamReadsEveryRecordOnceInContiguousRanges(t *testing.T) {
	const parts = 4
	b := kafkatest.New(t, kafkatest.Topic("events", parts))
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
	var col collector
	s.ForeachBatch(col.foreach)
	produce(t, b, "events", parts, 0, 100, "v")
	r.start()
	produced := 100
	for i := range 12 {
		if err := r.batch(); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			produce(t, b, "events", parts, produced, 37, "v")
			produced += 37
		}
	}
	// Drain: batches until every record is read.
	for range 20 {
		if len(col.values()) >= produced {
			break
		}
		if err := r.batch(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	seen := map[string]int{}
	for _, v := range col.values() {
		seen[v]++
	}
	for i := range produced {
		if n := seen["v"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("record v%d read %d times, want 1", i, n)
		}
	}
	if len(seen) != produced {
		t.Errorf("read %d distinct records, want %d", len(seen), produced)
	}
	next := map[kafka.TopicPartition]int64{}
	for k, batch := range col.batches {
		if len(batch.Ranges) != parts || batch.RDD.NumPartitions() != parts {
			t.Fatalf("batch %d: %d ranges and %d RDD partitions, want %d", k, len(batch.Ranges), batch.RDD.NumPartitions(), parts)
		}
		for i, rg := range batch.Ranges {
			tp := rg.TopicPartition()
			if tp != (kafka.TopicPartition{Topic: "events", Partition: i}) {
				t.Errorf("batch %d: range %d is %v, want events/%d", k, i, rg, i)
			}
			if rg.From != next[tp] {
				t.Errorf("batch %d: %v does not start where the last range ended (%d)", k, rg, next[tp])
			}
			next[tp] = rg.Until
			var offsets []int64
			for _, rec := range col.parts[k][i] {
				if rec.Topic != rg.Topic || rec.Partition != rg.Partition {
					t.Errorf("batch %d: RDD partition %d holds a record of %s/%d", k, i, rec.Topic, rec.Partition)
				}
				offsets = append(offsets, rec.Offset)
			}
			want := make([]int64, 0, rg.Count())
			for o := rg.From; o < rg.Until; o++ {
				want = append(want, o)
			}
			if !slices.Equal(offsets, want) {
				t.Errorf("batch %d: RDD partition %d holds offsets %v, want those of %v", k, i, offsets, rg)
			}
		}
	}
}

// TestNarrowOperatorsKeepThePartitionMapping checks that after a narrow operator (Map)
// RDD partition i still holds exactly the records of offset range i, as seen by
// ForeachPartition with the task's partition index.
func TestNarrowOperatorsKeepThePartitionMapping(t *testing.T) {
	const parts = 3
	b := kafkatest.New(t, kafkatest.Topic("events", parts))
	produce(t, b, "events", parts, 0, 90, "v")
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Assign([]kafka.TopicPartition{{Topic: "events", Partition: 0}, {Topic: "events", Partition: 1}, {Topic: "events", Partition: 2}}, nil),
		kafka.StringDeserializer(), kafka.StringDeserializer(), kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest),
		kafka.MaxRatePerPartition(12))
	type seen struct {
		partition int
		offset    int64
	}
	var mu sync.Mutex
	var got []seen
	var checked int
	s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		mapped := rdd.Map(batch.RDD, func(rec kafka.Record[string, string]) seen {
			return seen{partition: rec.Partition, offset: rec.Offset}
		})
		return rdd.ForeachPartition(ctx, mapped, func(_ context.Context, p int, in iter.Seq[seen]) error {
			rg := batch.Ranges[p]
			n := int64(0)
			for x := range in {
				if x.partition != rg.Partition || x.offset != rg.From+n {
					return fmt.Errorf("task %d (range %v) got partition %d offset %d, want offset %d", p, rg, x.partition, x.offset, rg.From+n)
				}
				n++
				mu.Lock()
				got = append(got, x)
				mu.Unlock()
			}
			if n != rg.Count() {
				return fmt.Errorf("task %d got %d records of %v", p, n, rg)
			}
			mu.Lock()
			checked++
			mu.Unlock()
			return nil
		})
	})
	r.start()
	r.batches(4)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 90 || checked != 4*parts {
		t.Errorf("checked %d records in %d tasks, want 90 in %d", len(got), checked, 4*parts)
	}
}

// TestCommitThenRestartResumesAtTheCommittedOffsets commits after each batch's
// output, stops, produces more, and starts a new Context in the same group: it reads
// exactly the records produced after the commit, from the committed offsets on.
func TestCommitThenRestartResumesAtTheCommittedOffsets(t *testing.T) {
	const parts = 2
	b := kafkatest.New(t, kafkatest.Topic("events", parts))
	produce(t, b, "events", parts, 0, 40, "v")
	opts := []kafka.StreamOpt{kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest)}

	first := func() (*collector, map[kafka.TopicPartition]int64) {
		r := newRun(t)
		s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(), opts...)
		var col collector
		var mu sync.Mutex
		committed := map[kafka.TopicPartition]int64{}
		s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
			if err := col.foreach(ctx, batch); err != nil {
				return err
			}
			s.CommitAsync(batch.Ranges, func(offsets map[kafka.TopicPartition]int64, err error) {
				if err != nil {
					t.Errorf("commit: %v", err)
				}
				mu.Lock()
				maps.Copy(committed, offsets)
				mu.Unlock()
			})
			return nil
		})
		r.start()
		r.batches(1)
		// Stop right after the batch that queued the commit: the graceful stop
		// commits it before Run returns (Spark lost it: SPARK-20050).
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return &col, maps.Clone(committed)
	}
	col1, committed := first()
	if n := len(col1.values()); n != 40 {
		t.Fatalf("first run read %d records, want 40", n)
	}
	want := map[kafka.TopicPartition]int64{{Topic: "events", Partition: 0}: 20, {Topic: "events", Partition: 1}: 20}
	if !maps.Equal(committed, want) {
		t.Errorf("committed %v, want %v", committed, want)
	}
	produce(t, b, "events", parts, 40, 10, "v")

	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(), opts...)
	var col2 collector
	s.ForeachBatch(col2.foreach)
	r.start()
	r.batches(2)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	got := col2.values()
	slices.Sort(got)
	var wantVals []string
	for i := 40; i < 50; i++ {
		wantVals = append(wantVals, "v"+strconv.Itoa(i))
	}
	slices.Sort(wantVals)
	if !slices.Equal(got, wantVals) {
		t.Errorf("after the restart read %v, want %v", got, wantVals)
	}
	if rg := col2.batches[0].Ranges; rg[0].From != 20 || rg[1].From != 20 {
		t.Errorf("the restart's first ranges are %v, want them to start at the committed 20", rg)
	}
}

// TestOffsetResetLatestReadsWhatIsProducedAfterStart checks that with OffsetReset
// Latest (the default) the positions are fixed when the stream starts, as Spark's
// start() does, not when the first batch is planned: a record produced once Run has
// started, before the first batch, is read by the first batch; one produced before
// Run is not.
func TestOffsetResetLatestReadsWhatIsProducedAfterStart(t *testing.T) {
	for _, tc := range strategies {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.Topic("events", 2))
			produce(t, b, "events", 2, 0, 10, "before")
			r := newRun(t)
			s := kafka.NewDirectStream(r.c, tc.strategy, kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(b.Addrs()...), kafka.GroupID("latest"))
			var col collector
			s.ForeachBatch(col.foreach)
			r.start()
			r.awaitStarted()
			produce(t, b, "events", 2, 0, 10, "after")
			r.batches(1)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			got := col.values()
			slices.Sort(got)
			var want []string
			for i := range 10 {
				want = append(want, "after"+strconv.Itoa(i))
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("the first batch read %v, want the 10 records produced after the start: %v", got, want)
			}
		})
	}
}
