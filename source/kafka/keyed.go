package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// ErrMisplacedKey is wrapped by the error of a keyed stream's batch that read a
// record whose key is not in the partition Kafka's default partitioner places it in
// (or that has no key).
var ErrMisplacedKey = errors.New("kafka: record key not in its partition")

// ErrNotCoPartitioned is wrapped by the error of a keyed stream whose topics do not
// have the same partition count.
var ErrNotCoPartitioned = errors.New("kafka: topics not co-partitioned")

// TaskPartitioner places keys the way Kafka's default partitioner does (the Java
// client's, and kafka-go's Murmur2Balancer): murmur2 of the serialized key, its sign
// bit cleared, modulo the partition count. Partition q of a keyed stream's RDD is
// task q: partition q of each of the stream's topics. A key its serializer fails on
// is placed at -1, which the operator using the partitioner reports as an error
// naming the key.
//
// Two TaskPartitioners are equal only when they are the same value: serializers are
// functions, which Go cannot compare, so two keyed streams that were built with two
// partitioners are shuffled when joined.
type TaskPartitioner[K comparable] struct {
	n     int
	topic string // given to the serializer
	keys  Serializer[K]
	parts []int // 0 … n-1, for the balancer
}

// newTaskPartitioner returns the partitioner over n partitions whose keys are
// serialized by keys for topic.
func newTaskPartitioner[K comparable](n int, topic string, keys Serializer[K]) *TaskPartitioner[K] {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return &TaskPartitioner[K]{n: n, topic: topic, keys: keys, parts: parts}
}

// NumPartitions returns the partition count of the stream's topics: its task count.
func (p *TaskPartitioner[K]) NumPartitions() int { return p.n }

// Tasks returns the task count, the partition count: it marks the partitioner as a
// dstream.TaskPartitioner, whose stateful streams keep their state per task.
func (p *TaskPartitioner[K]) Tasks() int { return p.n }

// Equal reports whether other is p itself (see the type's doc).
func (p *TaskPartitioner[K]) Equal(other shuffle.Partitioner[K]) bool {
	o, ok := other.(*TaskPartitioner[K])
	return ok && o == p
}

// Partition returns the partition Kafka's default partitioner places key in, or -1
// if the serializer fails on it.
func (p *TaskPartitioner[K]) Partition(key K) int {
	b, err := p.keys(p.topic, key)
	if err != nil {
		return -1
	}
	return p.partitionOf(b)
}

// partitionOf places serialized key bytes: a nil key as an empty one (kafka-go's
// consistent mode; Kafka's producer spreads records without a key instead, which is
// why a keyed stream refuses them).
func (p *TaskPartitioner[K]) partitionOf(key []byte) int {
	return kafkago.Murmur2Balancer{Consistent: true}.Balance(kafkago.Message{Key: key}, p.parts...)
}

// A KeyedOpt configures Keyed.
type KeyedOpt interface{ applyKeyed(*keyedConfig) }

type keyedConfig struct{ trust bool }

// keyedOpt is a KeyedOpt.
type keyedOpt func(*keyedConfig)

func (o keyedOpt) applyKeyed(c *keyedConfig) { o(c) }

// TrustPartitioning turns off Keyed's check that each record is in the partition its
// key hashes to. Use it when the producers place keys with another partitioner that
// is still consistent (every record of a key in one partition, the same for every
// producer): the stateful operators then keep each key's state in the task of the
// partition its records are in, which is right as long as that holds. Default: off,
// every record is checked.
func TrustPartitioning() KeyedOpt { return keyedOpt(func(c *keyedConfig) { c.trust = true }) }

// keyed is what Keyed adds to its direct stream: the task partitioner, fixed when
// Run starts.
type keyed[K comparable] struct {
	keys  Serializer[K]
	trust bool
	part  *TaskPartitioner[K] // set by start
}

// start fixes the task count: the partition count of the stream's topics, which
// must be the same for all of them.
func (k *keyed[K]) start(strategy ConsumerStrategy, all map[string]int, _ *Client) error {
	topics := strategy.topicsIn(all)
	if len(topics) == 0 {
		return errors.New("kafka.Keyed: none of the stream's topics exists: a keyed stream's task count is the partition count of its topics, fixed when Run starts")
	}
	var counts []string
	n := all[topics[0]]
	for _, t := range topics {
		counts = append(counts, fmt.Sprintf("%s: %d", t, all[t]))
		if all[t] != n {
			n = -1
		}
	}
	if n < 1 {
		return fmt.Errorf("kafka.Keyed: %w: a keyed stream's topics must have the same partition count, partition q of each being task q (%s)",
			ErrNotCoPartitioned, strings.Join(counts, ", "))
	}
	k.part = newTaskPartitioner(n, topics[0], k.keys)
	return nil
}

// Keyed returns the records of s as pairs of their key and value, partitioned by
// task: the batch RDD has one partition per partition number q of s's topics (its
// tasks), holding the records of partition q of each topic, and empty when another
// member of the group reads them. Its Partitioner is a TaskPartitioner, so keyed
// operators over it — ReduceByKey, UpdateStateByKey, MapWithState, the windowed
// reduces — work task by task without a shuffle, and a stateful one keeps one state
// store per task: the state of a key lives with the Kafka partition that carries the
// key.
//
// What you guarantee: every record of a key is in the partition Kafka's default
// partitioner (murmur2 of the serialized key) places it in, which holds when the
// producers write by key with their default partitioner. What Keyed checks: each
// record's raw key bytes against its partition; a record with no key, or in another
// partition, fails the batch with an error wrapping ErrMisplacedKey that names the
// topic, partition and offset (TrustPartitioning turns the check off). keys
// serializes a key as the producers did; the partitioner uses it to place keys that
// do not come from a record (an UpdateStateByKey's initial state).
//
// The topics must exist when Run starts and have the same partition count, which
// then fixes the task count: a topic with another count (one added to a
// SubscribePattern later, or one that grew) has records the check refuses, since
// its keys moved to other partitions; Kafka Streams has the same rule. Re-key with a
// repartition topic instead.
//
// Keyed reads the ranges of s's batches itself: reading both s.Stream() and Keyed(s)
// reads each range twice. Offset ranges and commits stay on s.
func Keyed[K comparable, V any](s *DirectStream[K, V], keys Serializer[K], opts ...KeyedOpt) *dstream.DStream[ops.KV[K, V]] {
	if s == nil || keys == nil {
		var c *dstream.Context
		if s != nil {
			c = s.sctx
		}
		c.ReportInvalid("kafka.Keyed", errors.New("nil stream or key serializer"))
		return nil
	}
	var c keyedConfig
	for _, o := range opts {
		if o != nil {
			o.applyKeyed(&c)
		}
	}
	k := &keyed[K]{keys: keys, trust: c.trust}
	s.mu.Lock()
	s.onStart = append(s.onStart, k.start)
	s.joinTxn(func() dstream.TaskPartitioner { return k.part })
	s.mu.Unlock()
	eng := s.sctx.Engine()
	return dstream.Transform(s.stream, func(_ *rdd.RDD[Record[K, V]], t time.Time) *rdd.RDD[ops.KV[K, V]] {
		const name = "kafka.Keyed"
		part := k.part
		s.mu.Lock()
		ranges, cl, stop := s.ranges[t], s.cl, s.sctx.Stopping()
		s.mu.Unlock()
		byTask := make([][]OffsetRange, part.n)
		for _, r := range ranges {
			if r.Partition >= part.n {
				err := fmt.Errorf("%s: batch %v: %w: %v has partition %d, beyond the %d partitions the stream's topics had when Run started: its keys moved to other partitions, away from their state",
					name, errfmt.Time(t), ErrMisplacedKey, r.Topic, r.Partition, part.n)
				return rdd.Generate(eng, name, 1, func(context.Context, int, func(ops.KV[K, V]) bool) error { return err })
			}
			byTask[r.Partition] = append(byTask[r.Partition], r)
		}
		return rdd.GeneratePartitioned(eng, name, part, func(ctx context.Context, q int, yield func(ops.KV[K, V]) bool) error {
			for _, r := range byTask[q] {
				if err := readKeyed(ctx, cl, stop, k, r, t, s.keys, s.values, yield); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// readKeyed reads range r of the batch at t, checks each record's key placement
// (unless k trusts it) and yields its key and value.
func readKeyed[K comparable, V any](ctx context.Context, cl *Client, stop <-chan struct{}, k *keyed[K], r OffsetRange, t time.Time,
	keys Deserializer[K], values Deserializer[V], yield func(ops.KV[K, V]) bool) error {
	var check func(*raw) error
	if !k.trust {
		check = func(raw *raw) error {
			if want := k.part.partitionOf(raw.key); raw.key == nil || want != r.Partition {
				return misplaced(t, r, raw.offset, raw.key, want, k.part.n)
			}
			return nil
		}
	}
	return readRecords(ctx, cl, stop, r, keys, values, check, func(rec Record[K, V]) bool {
		return yield(ops.Pair(rec.Key, rec.Value))
	})
}

// misplaced returns the error of a record at offset off of r whose key (nil: none)
// the partitioner places in partition want instead.
func misplaced(t time.Time, r OffsetRange, off int64, key []byte, want, n int) error {
	if key == nil {
		return fmt.Errorf("kafka.Keyed: batch %v: %w: %s/%d offset %d has no key: a keyed stream needs records produced by key", errfmt.Time(t), ErrMisplacedKey, r.Topic, r.Partition, off)
	}
	shown := key
	if len(shown) > 64 {
		shown = slices.Clip(shown[:64])
	}
	return fmt.Errorf("kafka.Keyed: batch %v: %w: %s/%d offset %d has key %q, which Kafka's default partitioner (murmur2) places in partition %d of %d: every record of a key must be in the partition the key hashes to (produce by key, or re-key through a repartition topic; TrustPartitioning skips this check)",
		errfmt.Time(t), ErrMisplacedKey, r.Topic, r.Partition, off, shown, want, n)
}
