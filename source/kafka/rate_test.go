package kafka

import (
	"maps"
	"math"
	"testing"
	"time"
)

func TestPIDEstimatorFollowsSpark(t *testing.T) {
	e := newPIDEstimator(time.Second, DefaultPID())
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The first batch only measures: 1000 records in 2s is 500/s.
	if _, ok := e.compute(t0.Add(time.Second), 1000, 2*time.Second, 0); ok {
		t.Fatal("the first batch gave a rate")
	}
	// Same processing rate, 1s of scheduling delay: the backlog of 1s at 500/s is
	// 500 records over a 1s batch, weighed by the integral gain 0.2: 500 - 100 = 400.
	rate, ok := e.compute(t0.Add(2*time.Second), 1000, 2*time.Second, time.Second)
	if !ok || math.Abs(rate-400) > 1e-9 {
		t.Fatalf("rate = %v, %v; want 400", rate, ok)
	}
	// Processing twice as fast as the rate (800/s) with no delay: the error is
	// 400 - 800 = -400, so the rate rises to 800.
	rate, ok = e.compute(t0.Add(3*time.Second), 400, 500*time.Millisecond, 0)
	if !ok || math.Abs(rate-800) > 1e-9 {
		t.Fatalf("rate = %v, %v; want 800", rate, ok)
	}
	// A very slow batch drives the rate down to the minimum, 100.
	rate, _ = e.compute(t0.Add(4*time.Second), 10, 10*time.Second, 30*time.Second)
	if rate != 100 {
		t.Errorf("rate = %v, want the minimum 100", rate)
	}
	// Batches with no records, no processing time or an old time tell nothing.
	for _, c := range []struct {
		at      time.Time
		records int64
		proc    time.Duration
	}{{t0.Add(5 * time.Second), 0, time.Second}, {t0.Add(5 * time.Second), 10, 0}, {t0, 10, time.Second}} {
		if _, ok := e.compute(c.at, c.records, c.proc, 0); ok {
			t.Errorf("compute(%v, %d, %v) gave a rate", c.at, c.records, c.proc)
		}
	}
}

func TestLimitsSplitTheRateByLag(t *testing.T) {
	a, b, c := TopicPartition{"t", 0}, TopicPartition{"t", 1}, TopicPartition{"t", 2}
	lag := map[TopicPartition]int64{a: 3000, b: 1000, c: 0}
	all := func(r float64) map[TopicPartition]float64 { return map[TopicPartition]float64{a: r, b: r, c: r} }
	tests := []struct {
		name     string
		rate     float64
		maxRate  map[TopicPartition]float64
		minRate  float64
		interval time.Duration
		want     map[TopicPartition]int64
	}{
		{"no limit", 0, all(0), 1, time.Second, nil},
		{"max rate only", 0, all(100), 1, 2 * time.Second, map[TopicPartition]int64{a: 200, b: 200, c: 200}},
		{"rate split by lag", 400, all(0), 1, time.Second, map[TopicPartition]int64{a: 300, b: 100, c: 1}},
		{"rate split by lag, capped by max", 400, all(150), 1, time.Second, map[TopicPartition]int64{a: 150, b: 100, c: 1}},
		{"min rate floor", 40, all(0), 20, time.Second, map[TopicPartition]int64{a: 30, b: 20, c: 20}},
		{"min rate is a rate: 20/s over 2s batches", 40, all(0), 20, 2 * time.Second, map[TopicPartition]int64{a: 60, b: 40, c: 40}},
		// Per partition (MaxRatePerPartitionFunc): b has no cap.
		{"max rate per partition", 0, map[TopicPartition]float64{a: 10, b: 0, c: 50}, 1, 2 * time.Second, map[TopicPartition]int64{a: 20, c: 100}},
		{"rate split by lag, capped per partition", 400, map[TopicPartition]float64{a: 50, b: 0, c: 5}, 1, time.Second, map[TopicPartition]int64{a: 50, b: 100, c: 1}},
	}
	for _, tc := range tests {
		got := limits(lag, tc.rate, tc.maxRate, tc.minRate, tc.interval)
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: limits = %v; want %v", tc.name, got, tc.want)
		}
	}
}
