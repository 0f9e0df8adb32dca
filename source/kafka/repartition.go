package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"weak"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
)

// Repartition re-keys a stream through Kafka, the cross-process shuffle of a job
// scaled out over a consumer group: every batch, it writes the pairs of s to an
// internal topic, keyed by their key and placed by Kafka's default partitioner
// (murmur2), and it returns the keyed stream (see Keyed) of a direct stream of the
// same Context and group that reads the topic back. Stateful operators over the
// result keep each key's state in the task of the topic's partition that carries
// the key, whichever process reads it.
//
// The topic is <GroupID>-<name>-repartition, created when Run starts if it is
// missing, with RepartitionPartitions partitions (default: the most partitions of
// the topics the Context's other Subscribe streams read); once created, its
// partition count never changes. name must be unique in the group and stay the same
// across runs. keys and values write and read the pairs.
//
// Ordering: the pairs of one key are read back in the order written, which is the
// batch order and, within a batch, the order of each RDD partition; a pair written
// by batch t is read by batch t+1 or later. Delivery: the writes go into the
// Context's transaction of each batch, with the source offsets, and the topic is
// read read_committed, so each pair is read back once, even across failures and
// rebalances. opts take Brokers and GroupID (both required), RepartitionPartitions,
// and the options of the direct stream that reads the topic back, but for Isolation
// and OffsetReset (it reads read_committed from the earliest offset); the writes,
// transactional, are acknowledged by every in-sync replica.
func Repartition[K comparable, V any](s *dstream.DStream[ops.KV[K, V]], name string, keys Serde[K], values Serde[V], opts ...RepartitionOpt) *dstream.DStream[ops.KV[K, V]] {
	op := fmt.Sprintf("kafka.Repartition %q", name)
	cfg := newConfig(opts, RepartitionOpt.applyRepartition)
	err := sinkArgs(s, false, false)
	switch {
	case err != nil:
	case cfg.groupID == "":
		err = errors.New("no GroupID: the topic is named after the group, and read in it")
	case name == "" || keys.Serializer == nil || keys.Deserializer == nil || values.Serializer == nil || values.Deserializer == nil:
		err = errors.New("an empty name or a nil serializer or deserializer")
	}
	if err != nil {
		s.Context().ReportInvalid(op, err)
		return nil
	}
	c := s.Context()
	if reportInvalid(c, op, cfg.check()) {
		return nil
	}
	topic := topicChars.ReplaceAllString(cfg.groupID+"-"+name+"-repartition", "_")
	records := dstream.Map(s, func(kv ops.KV[K, V]) ProducerRecord[K, V] {
		return ProducerRecord[K, V]{Topic: topic, Key: kv.Key, Value: kv.Value}
	})
	wcfg := cfg
	wcfg.transactional = true
	sink("kafka.NewSink", records, keys.Serializer, values.Serializer, wcfg)
	rcfg := cfg
	rcfg.reset, rcfg.isolation = Earliest, ReadCommitted
	reader := newDirectStream(c, Subscribe(topic), keys.Deserializer, values.Deserializer, rcfg)
	reader.mu.Lock()
	reader.onStart = append(reader.onStart, func(_ ConsumerStrategy, all map[string]int, cl *Client) error {
		if _, ok := all[topic]; ok {
			return nil
		}
		n := cfg.repartitions
		if n == 0 {
			n = sourcePartitions(c)
		}
		if n < 1 {
			return fmt.Errorf("kafka.Repartition %q: no partition count for %s: set RepartitionPartitions (no other Subscribe stream of the Context gives one)", name, topic)
		}
		if err := cl.createTopics(context.Background(), []kafkago.TopicConfig{{Topic: topic, NumPartitions: n, ReplicationFactor: -1}}); err != nil {
			return fmt.Errorf("kafka.Repartition %q: %w", name, err)
		}
		all[topic] = n
		cl.refresh() // its metadata, cached, does not have the topic yet
		cfg.logger.Info("kafka: created a repartition topic", "topic", topic, "partitions", n)
		return nil
	})
	reader.mu.Unlock()
	return Keyed(reader, keys.Serializer)
}

// contexts holds, per Context, the most partitions of the topics its Subscribe
// streams read, as they start: Repartition's default partition count.
var contexts sync.Map // weak.Pointer[dstream.Context] → *contextInfo

type contextInfo struct {
	mu         sync.Mutex
	partitions int
}

// noteSourcePartitions records the partition counts of a Subscribe stream's topics.
func noteSourcePartitions(c *dstream.Context, topics []string, all map[string]int) {
	key := weak.Make(c)
	v, loaded := contexts.LoadOrStore(key, &contextInfo{})
	if !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[dstream.Context]) { contexts.Delete(k) }, key)
	}
	info := v.(*contextInfo)
	info.mu.Lock()
	defer info.mu.Unlock()
	for _, t := range topics {
		info.partitions = max(info.partitions, all[t])
	}
}

// sourcePartitions returns the most partitions noted for c (0: none).
func sourcePartitions(c *dstream.Context) int {
	v, ok := contexts.Load(weak.Make(c))
	if !ok {
		return 0
	}
	info := v.(*contextInfo)
	info.mu.Lock()
	defer info.mu.Unlock()
	return info.partitions
}
