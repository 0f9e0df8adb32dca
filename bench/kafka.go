package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// kafkaFixture is a broker holding 1M 200-byte text records on 4 partitions
// (production is not timed), shared by the kafka benchmarks of one run.
type kafkaFixture struct {
	b       *kafkatest.Broker
	ranges  []kafka.OffsetRange
	records int
}

const kafkaTopic = "bench"

var (
	fixtureMu sync.Mutex
	fixtures  = map[float64]*kafkaFixture{}
)

// kafkaData returns the fixture for scale, producing it the first time.
func kafkaData(scale float64) (*kafkaFixture, error) {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if f, ok := fixtures[scale]; ok {
		return f, nil
	}
	const parts = 4
	n := max(int(1_000_000*scale), 1000)
	b, err := kafkatest.Start(kafkatest.Topic(kafkaTopic, parts))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	vocab := vocabulary(rng, 10_000)
	z := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	msgs := make([]kafkatest.Message, 0, 50_000)
	var line strings.Builder
	flush := func() error {
		err := b.Produce(context.Background(), kafkaTopic, msgs...)
		msgs = msgs[:0]
		return err
	}
	for i := range n {
		line.Reset()
		for line.Len() < 200 {
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(vocab[z.Uint64()])
		}
		msgs = append(msgs, kafkatest.Message{Partition: i % parts, Value: []byte(line.String()[:200])})
		if len(msgs) == cap(msgs) {
			if err := flush(); err != nil {
				b.Close()
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		b.Close()
		return nil, err
	}
	f := &kafkaFixture{b: b, records: n}
	for p := range parts {
		_, end, err := b.Offsets(kafkaTopic, p)
		if err != nil {
			b.Close()
			return nil, err
		}
		f.ranges = append(f.ranges, kafka.OffsetRange{Topic: kafkaTopic, Partition: p, From: 0, Until: end})
	}
	fixtures[scale] = f
	return f, nil
}

// closeFixtures stops the brokers of the kafka benchmarks.
func closeFixtures() {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	for s, f := range fixtures {
		f.b.Close()
		delete(fixtures, s)
	}
}

// oneBatch runs a Context with a direct stream over the fixture's partitions, from
// the start, for one batch on a manual clock, with out as the batch's output; it
// returns the time from the batch's start to the end of its output.
func oneBatch[V any](ctx context.Context, f *kafkaFixture, values kafka.Deserializer[V], out func(s *kafka.DirectStream[[]byte, V])) (time.Duration, error) {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	var parts []kafka.TopicPartition
	for _, r := range f.ranges {
		parts = append(parts, r.TopicPartition())
	}
	s := kafka.NewDirectStream(c, kafka.Assign(parts, nil), kafka.BytesDeserializer(), values,
		kafka.Brokers(f.b.Addrs()...), kafka.OffsetReset(kafka.Earliest))
	out(s)
	var end time.Time
	dstream.ForeachRDD(s.Stream(), func(context.Context, *rdd.RDD[kafka.Record[[]byte, V]], time.Time) error {
		end = time.Now()
		return nil
	})
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	if err := clock.AwaitWaiters(ctx, 1); err != nil {
		return 0, err
	}
	start := time.Now()
	clock.Advance(time.Second)
	c.Stop()
	if err := <-errc; err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// rawFetch reads the fixture's ranges with kafka-go's Client.Fetch, one goroutine per
// partition, reading every value, and returns the number of records read.
func rawFetch(ctx context.Context, f *kafkaFixture) (int, error) {
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(f.b.Addrs()...), Transport: tr}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	errs := make([]error, len(f.ranges))
	for i, r := range f.ranges {
		wg.Go(func() {
			n, buf := 0, make([]byte, 0, 256)
			for off := r.From; off < r.Until; {
				resp, err := client.Fetch(ctx, &kafkago.FetchRequest{Topic: r.Topic, Partition: r.Partition, Offset: off, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
				if err == nil {
					err = resp.Error
				}
				if err != nil {
					errs[i] = err
					return
				}
				for {
					rec, err := resp.Records.ReadRecord()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						errs[i] = err
						return
					}
					if rec.Offset < off || rec.Offset >= r.Until {
						continue
					}
					if rec.Value != nil {
						buf = buf[:rec.Value.Len()]
						if _, err := io.ReadFull(rec.Value, buf); err != nil {
							errs[i] = err
							return
						}
					}
					off, n = rec.Offset+1, n+1
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// kafkaDirect compares one direct-stream batch that counts the fixture's records
// with raw kafka-go fetches of the same ranges. It prints
//
//	kafkadirect: spate=<Mrec/s> raw=<Mrec/s> ratio=<spate/raw>
func kafkaDirect(scale float64, rounds int) (string, error) {
	ctx := context.Background()
	f, err := kafkaData(scale)
	if err != nil {
		return "", err
	}
	var spates, raws []time.Duration
	for round := range rounds + 1 { // the first round warms up
		var count int64
		d, err := oneBatch(ctx, f, kafka.BytesDeserializer(), func(s *kafka.DirectStream[[]byte, []byte]) {
			s.ForeachBatch(func(ctx context.Context, b kafka.Batch[[]byte, []byte]) error {
				n, err := rdd.Count(ctx, b.RDD)
				count = n
				return err
			})
		})
		if err != nil {
			return "", err
		}
		if count != int64(f.records) {
			return "", fmt.Errorf("the direct stream counted %d records, want %d", count, f.records)
		}
		start := time.Now()
		n, err := rawFetch(ctx, f)
		if err != nil {
			return "", err
		}
		if n != f.records {
			return "", fmt.Errorf("raw fetches read %d records, want %d", n, f.records)
		}
		if round > 0 {
			spates, raws = append(spates, d), append(raws, time.Since(start))
		}
	}
	rs, rr := rate(f.records, median(spates)), rate(f.records, median(raws))
	return fmt.Sprintf("kafkadirect: spate=%.2f raw=%.2f ratio=%.2f", rs, rr, rs/rr), nil
}

// kafkaWordCount counts the words of the fixture's records (text lines) end to end:
// one direct-stream batch, FlatMap → Map → ReduceByKey → Count. It prints
//
//	kafkawordcount: spate=<Mrec/s>
func kafkaWordCount(scale float64, rounds int) (string, error) {
	ctx := context.Background()
	f, err := kafkaData(scale)
	if err != nil {
		return "", err
	}
	var ds []time.Duration
	for round := range rounds + 1 {
		var distinct int64
		d, err := oneBatch(ctx, f, kafka.StringDeserializer(), func(s *kafka.DirectStream[[]byte, string]) {
			words := dstream.Transform(s.Stream(), func(r *rdd.RDD[kafka.Record[[]byte, string]], _ time.Time) *rdd.RDD[string] {
				return rdd.FlatMapSeq(r, func(rec kafka.Record[[]byte, string]) iter.Seq[string] { return strings.FieldsSeq(rec.Value) })
			})
			counts := dstream.ReduceByKey(dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), ops.Sum[int])
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
				n, err := rdd.Count(ctx, r)
				distinct = n
				return err
			})
		})
		if err != nil {
			return "", err
		}
		if distinct == 0 {
			return "", fmt.Errorf("the word count found no words")
		}
		if round > 0 {
			ds = append(ds, d)
		}
	}
	return fmt.Sprintf("kafkawordcount: spate=%.2f", rate(f.records, median(ds))), nil
}
