package main

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// exactlyOnceBench measures a Kafka-to-Kafka job that reads 200k records of 100
// bytes from 4 partitions under Subscribe and writes each, upper-cased, to another
// topic with NewSink, in one batch: once at least once (CommitAsync after the
// output) and once exactly once (Transactional: the records and the offsets in one
// transaction). It prints
//
//	exactlyonce: records=<n> tx=<Mrec/s transactional> plain=<Mrec/s at least once> ratio=<tx/plain>
//
// Each rate is the median over the rounds of records / (the batch's start to its
// completion, commit included), every round a new consumer group on the same data.
func exactlyOnceBench(scale float64, rounds int) (string, error) {
	n := max(int(200_000*scale), 1000)
	b, err := kafkatest.Start(kafkatest.Topic("in", 4), kafkatest.Topic("out", 4))
	if err != nil {
		return "", err
	}
	defer b.Close()
	msgs := make([]kafkatest.Message, 0, 50_000)
	value := make([]byte, 100)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	for i := range n {
		msgs = append(msgs, kafkatest.Message{Partition: i % 4, Key: []byte(strconv.Itoa(i)), Value: value})
		if len(msgs) == cap(msgs) || i == n-1 {
			if err := b.Produce(context.Background(), "in", msgs...); err != nil {
				return "", err
			}
			msgs = msgs[:0]
		}
	}
	run := func(group string, transactional bool) (time.Duration, error) {
		clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		timer := &batchTimer{done: make(chan struct{}, 4)}
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithListener(timer))
		brokers := kafka.Brokers(b.Addrs()...)
		s := kafka.NewDirectStream(c, kafka.Subscribe("in"), kafka.StringDeserializer(), kafka.BytesDeserializer(),
			brokers, kafka.GroupID(group), kafka.OffsetReset(kafka.Earliest))
		out := dstream.Map(s.Stream(), func(r kafka.Record[string, []byte]) kafka.ProducerRecord[string, []byte] {
			return kafka.ProducerRecord[string, []byte]{Topic: "out", Key: r.Key, Value: r.Value}
		})
		sinkOpts := []kafka.SinkOpt{brokers}
		if transactional {
			sinkOpts = append(sinkOpts, kafka.Transactional())
		}
		kafka.NewSink(out, kafka.StringSerializer(), kafka.BytesSerializer(), sinkOpts...)
		var read atomic.Int64
		var commitErr error
		s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, []byte]) error {
			for _, r := range batch.Ranges {
				read.Add(r.Count())
			}
			if !transactional {
				done := make(chan struct{})
				s.CommitAsync(batch.Ranges, func(_ map[kafka.TopicPartition]int64, err error) { commitErr = err; close(done) })
				<-done
			}
			return nil
		})
		if err := runOneBatch(context.Background(), c, clock, nil); err != nil {
			return 0, err
		}
		if commitErr != nil {
			return 0, commitErr
		}
		if read.Load() != int64(n) {
			return 0, fmt.Errorf("exactlyonce: the batch read %d records, want %d", read.Load(), n)
		}
		timer.mu.Lock()
		defer timer.mu.Unlock()
		if len(timer.times) != 1 {
			return 0, fmt.Errorf("exactlyonce: %d batches, want 1", len(timer.times))
		}
		return timer.times[0], nil
	}
	var tx, plain []time.Duration
	for round := range rounds + 1 {
		p, err := run(fmt.Sprintf("plain-%d", round), false)
		if err != nil {
			return "", err
		}
		x, err := run(fmt.Sprintf("tx-%d", round), true)
		if err != nil {
			return "", err
		}
		if round > 0 { // the first is a warm-up
			plain, tx = append(plain, p), append(tx, x)
		}
	}
	txRate, plainRate := rate(n, median(tx)), rate(n, median(plain))
	return fmt.Sprintf("exactlyonce: records=%d tx=%.2f plain=%.2f ratio=%.2f", n, txRate, plainRate, txRate/plainRate), nil
}

// restoreBench measures how fast a keyed stream's state is restored from its
// changelog: a first job counts 1M distinct keys (records produced by key to 4
// partitions) with UpdateStateByKey, which writes 1M changelog records; a second
// job of the same group restores the 4 tasks before its first batch. It prints
//
//	restore: keys=<n> records=<changelog records read> mrec_s=<million records restored per second> ms=<restore time>
//
// with the restore time the sum of the tasks' (they are restored one after the
// other), the median over the rounds (each a new job restoring the same changelog).
func restoreBench(scale float64, rounds int) (string, error) {
	n := max(int(1_000_000*scale), 1000)
	b, err := kafkatest.Start(kafkatest.Topic("keys", 4))
	if err != nil {
		return "", err
	}
	defer b.Close()
	parts := []int{0, 1, 2, 3}
	placer := kafkago.Murmur2Balancer{Consistent: true}
	msgs := make([]kafkatest.Message, 0, 50_000)
	for i := range n {
		k := []byte(strconv.Itoa(i))
		msgs = append(msgs, kafkatest.Message{Partition: placer.Balance(kafkago.Message{Key: k}, parts...), Key: k, Value: []byte("1")})
		if len(msgs) == cap(msgs) || i == n-1 {
			if err := b.Produce(context.Background(), "keys", msgs...); err != nil {
				return "", err
			}
			msgs = msgs[:0]
		}
	}
	job := func(onRestore func(kafka.RestoreInfo)) (int64, error) {
		clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock),
			dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
		s := kafka.NewDirectStream(c, kafka.Subscribe("keys"), kafka.StringDeserializer(), kafka.StringDeserializer(),
			kafka.Brokers(b.Addrs()...), kafka.GroupID("restore"), kafka.OffsetReset(kafka.Earliest), kafka.OnRestore(onRestore))
		counts := dstream.UpdateStateByKeyWith(kafka.Keyed(s, kafka.StringSerializer()), dstream.NewUpdateSpec(func(_ time.Time, _ string, vs []string, st ops.Maybe[int]) ops.Maybe[int] {
			return ops.Some(st.Value + len(vs))
		}).OnlyValues())
		counts = dstream.Named(counts, "counts")
		var held int64
		dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
			k, err := rdd.Count(ctx, r)
			held = k
			return err
		})
		err := runOneBatch(context.Background(), c, clock, nil)
		return held, err
	}
	if held, err := job(func(kafka.RestoreInfo) {}); err != nil || held != int64(n) {
		return "", fmt.Errorf("restore: the first job holds %d keys (%v), want %d", held, err, n)
	}
	var took []time.Duration
	var records int64
	for range max(rounds, 1) {
		var d time.Duration
		var recs int64
		held, err := job(func(i kafka.RestoreInfo) { d += i.Took; recs += i.Records })
		if err != nil || held != int64(n) {
			return "", fmt.Errorf("restore: the job holds %d keys after its restore (%v), want %d", held, err, n)
		}
		took, records = append(took, d), recs
	}
	d := median(took)
	return fmt.Sprintf("restore: keys=%d records=%d mrec_s=%.2f ms=%.0f", n, records, float64(records)/d.Seconds()/1e6, ms(d)), nil
}
