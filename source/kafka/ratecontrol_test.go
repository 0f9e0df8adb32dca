package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// rangeTotals runs a stream over a backlog and returns each batch's total range size.
func rangeTotals(t *testing.T, b *kafkatest.Broker, batches int, slow time.Duration, opts ...kafka.Opt) []int64 {
	t.Helper()
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		append([]kafka.Opt{kafka.Brokers(b.Addrs()...), kafka.GroupID(t.Name()), kafka.OffsetReset(kafka.Earliest)}, opts...)...)
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
	b := startBroker(t, kafkatest.Topic("events", 2))
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
	b := startBroker(t, kafkatest.Topic("events", 2))
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
