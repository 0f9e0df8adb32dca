package kafka

import (
	"context"
	"fmt"
	"iter"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// WriteToKafka registers an output operation that writes every batch's pairs to topic
// (a Kafka sink, which Spark's DStream API does not have): each key and value is
// serialized, records go to the partition Kafka's default partitioner picks for their
// key (murmur2, as the Java client), and each RDD partition is written by its own task.
// A write waits for RequiredAcks (default: every in-sync replica) and a failed write
// fails the batch, so delivery is at least once: a batch run again writes again. opts
// take Brokers (required), RequiredAcks, PollTimeout (per write), TLS, SASL and
// ClientID. Connections are opened per batch and closed when its writes are done.
func WriteToKafka[K comparable, V any](s *dstream.DStream[ops.KV[K, V]], topic string, keys Serializer[K], values Serializer[V], opts ...Opt) {
	cfg := newConfig(opts)
	if keys == nil || values == nil || topic == "" {
		dstream.ForeachRDD[ops.KV[K, V]](s, nil) // reports the invalid output
		return
	}
	dstream.ForeachRDD(s, func(ctx context.Context, r *rdd.RDD[ops.KV[K, V]], t time.Time) error {
		cl, err := newClient(cfg)
		if err != nil {
			return fmt.Errorf("kafka.WriteToKafka %s: %w", topic, err)
		}
		defer cl.Close()
		w := &kafkago.Writer{Addr: kafkago.TCP(cfg.brokers...), Topic: topic, Balancer: &kafkago.Murmur2Balancer{},
			RequiredAcks: kafkago.RequiredAcks(cfg.acks), Transport: cl.transport(), BatchSize: 10_000, BatchBytes: 16 << 20,
			BatchTimeout: time.Millisecond, WriteTimeout: cfg.pollTimeout, ReadTimeout: cfg.pollTimeout, MaxAttempts: 5}
		defer w.Close()
		return rdd.ForeachPartition(ctx, r, func(ctx context.Context, p int, in iter.Seq[ops.KV[K, V]]) error {
			const chunk = 5000
			msgs := make([]kafkago.Message, 0, chunk)
			flush := func() error {
				if len(msgs) == 0 {
					return nil
				}
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					return fmt.Errorf("kafka.WriteToKafka: writing %d records of batch %v to %s: %w", len(msgs), t, topic, err)
				}
				msgs = msgs[:0]
				return nil
			}
			for kv := range in {
				k, err := keys(topic, kv.Key)
				if err != nil {
					return fmt.Errorf("kafka.WriteToKafka: serializing the key %v for %s: %w", kv.Key, topic, err)
				}
				v, err := values(topic, kv.Value)
				if err != nil {
					return fmt.Errorf("kafka.WriteToKafka: serializing the value of key %v for %s: %w", kv.Key, topic, err)
				}
				msgs = append(msgs, kafkago.Message{Key: k, Value: v})
				if len(msgs) == chunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		})
	})
}
