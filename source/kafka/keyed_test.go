package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// The values Kafka's own test of its murmur2 (UtilsTest) lists, as partitions of a
// large prime count and of 2³¹-1: a keyed stream must place keys as the Java
// producer does.
func TestTaskPartitionerIsKafkasDefaultPartitioner(t *testing.T) {
	for key, hash := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		for _, n := range []int{7, 1009} {
			want := int(uint32(hash)&0x7fffffff) % n
			if got := kafka.Murmur2Partition([]byte(key), n); got != want {
				t.Errorf("key %q over %d partitions: %d, want %d (murmur2 %d)", key, n, got, want, hash)
			}
		}
	}
}

// produceByKey writes one record per key, value "<key>:<i>", to the partition
// Kafka's default partitioner places the key in.
func produceByKey(t *testing.T, b *kafkatest.Broker, topic string, partitions int, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []kafkatest.Message
	for i, k := range keys {
		msgs = append(msgs, kafkatest.Message{Partition: kafka.Murmur2Partition([]byte(k), partitions),
			Key: []byte(k), Value: []byte(fmt.Sprintf("%s:%d", k, i))})
	}
	if err := b.Produce(ctx, topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

// A keyed stream's RDD has one partition per task, partitioned by Kafka's default
// partitioner: UpdateStateByKey over it keeps each key's state in the partition of
// the Kafka partition that carries the key, without a shuffle.
func TestKeyedStreamKeepsStatePerTaskWithoutAShuffle(t *testing.T) {
	const parts = 3
	b := kafkatest.New(t, kafkatest.Topic("events", parts))
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
	keyed := kafka.Keyed(s, kafka.StringSerializer())
	counts := dstream.UpdateStateByKey(keyed, func(vs []string, st ops.Maybe[int]) ops.Maybe[int] {
		return ops.Some(st.Value + len(vs))
	})
	var (
		mu      sync.Mutex
		last    [][]ops.KV[string, int]
		lineage string
		part    shuffle.Partitioner[string]
	)
	dstream.ForeachRDD(counts, func(ctx context.Context, c *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		ps, err := rdd.CollectPartitions(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		last, lineage = ps, c.DebugString()
		part, _ = rdd.PartitionerOf(c)
		return err
	})
	keys := []string{"ann", "bob", "cid", "dan", "eve", "fay", "gus", "hal"}
	produceByKey(t, b, "events", parts, keys...)
	produceByKey(t, b, "events", parts, keys[:4]...)
	r.start()
	r.batches(1)
	produceByKey(t, b, "events", parts, keys[:2]...)
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if _, ok := part.(*kafka.TaskPartitioner[string]); !ok {
		t.Errorf("the state is partitioned by %T, want *kafka.TaskPartitioner[string]", part)
	}
	if strings.Contains(lineage, "+-") {
		t.Errorf("the state's batch was shuffled:\n%s", lineage)
	}
	if len(last) != parts {
		t.Fatalf("the state has %d partitions, want one per task (%d)", len(last), parts)
	}
	want := map[string]int{"ann": 3, "bob": 3, "cid": 2, "dan": 2, "eve": 1, "fay": 1, "gus": 1, "hal": 1}
	got := map[string]int{}
	for q, kvs := range last {
		for _, kv := range kvs {
			got[kv.Key] = kv.Value
			if p := kafka.Murmur2Partition([]byte(kv.Key), parts); p != q {
				t.Errorf("key %q's state is in partition %d, want its task %d", kv.Key, q, p)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// A record in a partition its key does not hash to, or with no key, fails the batch
// naming it; TrustPartitioning reads it.
func TestKeyedStreamRefusesAMisplacedKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		msg   kafkatest.Message
		trust bool
		want  string // in the error; "" for none
	}{
		{name: "misplaced", msg: kafkatest.Message{Key: []byte("ann")}, want: `events/%d offset 0 has key "ann", which Kafka's default partitioner (murmur2) places in partition %d of 2`},
		{name: "no key", msg: kafkatest.Message{Partition: 1}, want: "events/1 offset 0 has no key"},
		{name: "trusted", msg: kafkatest.Message{Key: []byte("ann")}, trust: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.Topic("events", 2))
			home := kafka.Murmur2Partition([]byte("ann"), 2)
			if tc.msg.Key != nil {
				tc.msg.Partition = 1 - home
				if tc.want != "" {
					tc.want = fmt.Sprintf(tc.want, 1-home, home)
				}
			}
			tc.msg.Value = []byte("v")
			if err := b.Produce(context.Background(), "events", tc.msg); err != nil {
				t.Fatal(err)
			}
			r := newRun(t)
			s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
			var opts []kafka.KeyedOpt
			if tc.trust {
				opts = append(opts, kafka.TrustPartitioning())
			}
			var (
				mu   sync.Mutex
				read int64
			)
			dstream.ForeachRDD(kafka.Keyed(s, kafka.StringSerializer(), opts...), func(ctx context.Context, c *rdd.RDD[ops.KV[string, string]], _ time.Time) error {
				n, err := rdd.Count(ctx, c)
				mu.Lock()
				read += n
				mu.Unlock()
				return err
			})
			r.start()
			err := r.batch()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				if read != 1 {
					t.Errorf("read %d records, want 1", read)
				}
				return
			}
			if !errors.Is(err, kafka.ErrMisplacedKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("batch error %v, want ErrMisplacedKey with %q", err, tc.want)
			}
			r.stop()
		})
	}
}

// A keyed stream's topics must have the same partition count: Run fails at start,
// naming each topic's count.
func TestKeyedStreamNeedsCoPartitionedTopics(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("a", 2), kafkatest.Topic("b", 3))
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("a", "b"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"))
	dstream.Print(kafka.Keyed(s, kafka.StringSerializer()), 1)
	err := r.c.Run(context.Background())
	if !errors.Is(err, kafka.ErrNotCoPartitioned) || !strings.Contains(err.Error(), "a: 2, b: 3") {
		t.Fatalf("Run: %v, want ErrNotCoPartitioned naming a: 2, b: 3", err)
	}
}
