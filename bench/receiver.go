package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
)

// receiverBench reads the kafka fixture's records (1M, 4 partitions) end to end in a
// running Context, 200ms batches, until every one has been seen: with a receiver stream (4
// receivers) and its write-ahead log, without the log, and with the direct stream. It
// prints
//
//	receiver: wal=<Mrec/s> nowal=<Mrec/s> direct=<Mrec/s>
//
// so that users see what the log costs and what the direct approach gives instead.
func receiverBench(scale float64, rounds int) (string, error) {
	f, err := kafkaData(scale)
	if err != nil {
		return "", err
	}
	var parts []kafka.TopicPartition
	for _, r := range f.ranges {
		parts = append(parts, r.TopicPartition())
	}
	group := 0
	// readAll runs a Context until stream's batches have counted every record and
	// returns the time it took.
	// The receivers are at least once: a rebalance while the group forms gives the
	// records fetched since the last block to another receiver again. Distinct
	// records are counted, by partition and offset.
	readAll := func(dir string, stream func(c *dstream.Context) *dstream.DStream[kafka.Record[[]byte, []byte]]) (time.Duration, error) {
		seen := make([][]atomic.Bool, len(f.ranges))
		for i, r := range f.ranges {
			seen[i] = make([]atomic.Bool, r.Until)
		}
		var counted atomic.Int64
		var c *dstream.Context
		build := func(ssc *dstream.Context) error {
			dstream.ForeachRDD(stream(ssc), func(ctx context.Context, r *rdd.RDD[kafka.Record[[]byte, []byte]], _ time.Time) error {
				err := rdd.Foreach(ctx, r, func(_ context.Context, rec kafka.Record[[]byte, []byte]) error {
					if seen[rec.Partition][rec.Offset].CompareAndSwap(false, true) {
						counted.Add(1)
					}
					return nil
				})
				if counted.Load() >= int64(f.records) {
					ssc.Stop()
				}
				return err
			})
			return nil
		}
		opts := []dstream.Opt{dstream.BatchInterval(200 * time.Millisecond)}
		if dir != "" {
			var err error
			if c, err = dstream.GetOrCreate(dir, build, opts...); err != nil {
				return 0, err
			}
		} else {
			c = dstream.NewContext(opts...)
			if err := build(c); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := c.Run(ctx); err != nil {
			return 0, err
		}
		if n := counted.Load(); n != int64(f.records) {
			return 0, fmt.Errorf("counted %d records, want %d", n, f.records)
		}
		return time.Since(start), nil
	}
	receiver := func(c *dstream.Context) *dstream.DStream[kafka.Record[[]byte, []byte]] {
		group++
		return kafka.NewReceiverStream(c, map[string]int{kafkaTopic: len(parts)}, kafka.BytesDeserializer(), kafka.BytesDeserializer(),
			kafka.Brokers(f.addrs...), kafka.GroupID(fmt.Sprintf("bench-%d", group)), kafka.OffsetReset(kafka.Earliest)).Stream()
	}
	direct := func(c *dstream.Context) *dstream.DStream[kafka.Record[[]byte, []byte]] {
		return kafka.NewDirectStream(c, kafka.Assign(parts, nil), kafka.BytesDeserializer(), kafka.BytesDeserializer(),
			kafka.Brokers(f.addrs...), kafka.OffsetReset(kafka.Earliest)).Stream()
	}
	var wals, nowals, directs []time.Duration
	for range max(min(rounds, 3), 1) {
		dir, err := os.MkdirTemp("", "spate-bench-wal")
		if err != nil {
			return "", err
		}
		d, err := readAll(dir, receiver)
		os.RemoveAll(dir)
		if err != nil {
			return "", fmt.Errorf("receiver with the log: %w", err)
		}
		wals = append(wals, d)
		if d, err = readAll("", receiver); err != nil {
			return "", fmt.Errorf("receiver: %w", err)
		}
		nowals = append(nowals, d)
		if d, err = readAll("", direct); err != nil {
			return "", fmt.Errorf("direct: %w", err)
		}
		directs = append(directs, d)
	}
	return fmt.Sprintf("receiver: wal=%.2f nowal=%.2f direct=%.2f", rate(f.records, median(wals)), rate(f.records, median(nowals)), rate(f.records, median(directs))), nil
}
