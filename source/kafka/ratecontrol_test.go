package kafka_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// rangeTotals runs a stream over a backlog and returns each batch's total range size.
func rangeTotals(t *testing.T, b *kafkatest.Broker, batches int, slow time.Duration, opts ...kafka.StreamOpt) []int64 {
	t.Helper()
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		append([]kafka.StreamOpt{kafka.Brokers(b.Addrs()...), kafka.GroupID(t.Name()), kafka.OffsetReset(kafka.Earliest)}, opts...)...)
	var totals []int64
	s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, string]) error {
		n := int64(0)
		for _, rg := range batch.Ranges {
			n += rg.Count()
		}
		totals = append(totals, n)
		// The first batches' processing "takes" slow: the manual clock moves on
		// meanwhile, so later batches are due at once and queue up.
		if len(totals) <= batches {
			r.clock.Advance(slow)
		}
		return nil
	})
	r.start()
	r.batches(batches)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	return totals
}

func TestMaxAndInitialRateCapTheRanges(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 1000, "v")
	// 1s batches: an initial rate of 100/s for the first batch, then 30/s per
	// partition.
	got := rangeTotals(t, b, 4, 0, kafka.InitialRate(100), kafka.MaxRatePerPartition(30))
	want := []int64{60, 60, 60, 60} // the initial rate split over 2 partitions is capped by the max rate too
	if len(got) < 4 || got[0] != want[0] || got[1] != want[1] || got[3] != want[3] {
		t.Errorf("batch totals %v, want %v", got, want)
	}
	got = rangeTotals(t, b, 3, 0, kafka.InitialRate(40))
	if len(got) < 3 || got[0] != 40 || got[1] != 960 {
		t.Errorf("with an initial rate of 40/s only: batch totals %v, want [40 960 0]", got)
	}
}

func TestBackpressureLowersTheRateWhenProcessingIsSlow(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20000, "v")
	// Every batch of up to 1000 records takes 2s to process: about 500 records/s.
	got := rangeTotals(t, b, 10, 2*time.Second, kafka.InitialRate(1000), kafka.Backpressure(true))
	if len(got) < 5 || got[0] != 1000 {
		t.Fatalf("batch totals %v: want the first at the initial rate, 1000", got)
	}
	t.Logf("batch totals with backpressure: %v", got)
	lowest := got[0]
	for _, n := range got[1:] {
		lowest = min(lowest, n)
	}
	if lowest >= 1000 || lowest < 100 {
		t.Errorf("batch totals %v: backpressure did not bring the rate below 1000 records per 1s batch (nor kept it at or above the minimum 100)", got)
	}
	// Without backpressure the same stream reads the whole backlog.
	if got := rangeTotals(t, b, 2, 2*time.Second); got[0] != 20000 {
		t.Errorf("without backpressure: batch totals %v, want the whole backlog first", got)
	}
}

// TestMaxRatePerPartitionFunc caps each partition with its own rate (Spark's
// PerPartitionConfig): 10/s for events/0, none for events/1, 30/s for events/2.
func TestMaxRatePerPartitionFunc(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 3))
	produce(t, b, "events", 3, 0, 300, "v") // 100 per partition
	rates := map[int]float64{0: 10, 1: 0, 2: 30}
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest),
		kafka.MaxRatePerPartitionFunc(func(tp kafka.TopicPartition) float64 { return rates[tp.Partition] }))
	var counts [][]int64
	s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, string]) error {
		var c []int64
		for _, rg := range batch.Ranges {
			c = append(c, rg.Count())
		}
		counts = append(counts, c)
		return nil
	})
	r.start()
	r.batches(2)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	want := [][]int64{{10, 100, 30}, {10, 0, 30}}
	if !slices.EqualFunc(counts, want, slices.Equal) {
		t.Errorf("records per partition per batch %v, want %v", counts, want)
	}
}

// TestMaxRatePerPartitionFuncMistakes checks that a negative or infinite rate from
// the function fails the batch naming the partition, and that setting both max rate options
// fails Run at start.
func TestMaxRatePerPartitionFuncMistakes(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 10, "v")
	r := newRun(t)
	kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest),
		kafka.MaxRatePerPartitionFunc(func(tp kafka.TopicPartition) float64 { return float64(-tp.Partition) })).
		ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	if err := r.batch(); err == nil || !strings.Contains(err.Error(), "events/1") || !strings.Contains(err.Error(), "-1") {
		t.Errorf("a negative rate: %v, want an error naming events/1 and -1", err)
	}
	r.stop()

	// An infinite rate is no rate: it would be converted to a record count.
	r = newRun(t)
	kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest),
		kafka.MaxRatePerPartitionFunc(func(kafka.TopicPartition) float64 { return math.Inf(1) })).
		ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	if err := r.batch(); err == nil || !strings.Contains(err.Error(), "events/0") || !strings.Contains(err.Error(), "+Inf") {
		t.Errorf("an infinite rate: %v, want an error naming events/0 and +Inf", err)
	}
	r.stop()

	r = newRun(t)
	kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.MaxRatePerPartition(5),
		kafka.MaxRatePerPartitionFunc(func(kafka.TopicPartition) float64 { return 1 })).
		ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // Run fails at start
	defer cancel()
	if err := r.c.Run(ctx); err == nil || !strings.Contains(err.Error(), "MaxRatePerPartitionFunc") {
		t.Errorf("both options: Run = %v, want an error naming them", err)
	}
}

// A batch's InputInfo says, per partition, the offsets it reads, where the log
// ended when it was planned (so its lag after the batch) and the rate limit that
// held it back.
func TestInputInfoHasEachPartitionsRangeLagAndLimit(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v") // 10 a partition
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest), kafka.MaxRatePerPartition(3))
	dstream.ForeachRDD(s.Stream(), func(context.Context, *rdd.RDD[kafka.Record[string, string]], time.Time) error { return nil })
	r.start()
	defer r.stop()
	for k, want := range []string{
		"[{events 0 0 3 10 3} {events 1 0 3 10 3}]",
		"[{events 0 3 6 10 3} {events 1 3 6 10 3}]",
		"[{events 0 6 9 10 3} {events 1 6 9 10 3}]",
		"[{events 0 9 10 10 0} {events 1 9 10 10 0}]", // what is left: not held back
	} {
		info, err := r.batchInfo()
		if err != nil {
			t.Fatal(err)
		}
		parts := info.Inputs[s.Stream().String()].Partitions
		if got := fmt.Sprint(parts); got != want {
			t.Errorf("batch %d: partitions %s, want %s", k+1, got, want)
		}
		if lag := parts[0].Lag(); lag != 10-parts[0].Until {
			t.Errorf("batch %d: lag %d, want %d", k+1, lag, 10-parts[0].Until)
		}
	}
}
