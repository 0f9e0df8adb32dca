package kafka_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// Repartition re-keys unkeyed sentences by word through an internal topic: the
// running counts over it are per task of that topic, each word's state in the
// partition the word hashes to, and every word is counted once.
func TestRepartitionRekeysThroughKafka(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("lines", 3))
	ctx := context.Background()
	if err := b.Produce(ctx, "lines", kafkatest.Message{Partition: 0, Value: []byte("to be or")},
		kafkatest.Message{Partition: 1, Value: []byte("not to be")}, kafkatest.Message{Partition: 2, Value: []byte("be")}); err != nil {
		t.Fatal(err)
	}
	r := newRun(t)
	brokers, group := kafka.Brokers(b.Addrs()...), kafka.GroupID("wc")
	lines := kafka.NewDirectStream(r.c, kafka.Subscribe("lines"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		brokers, group, kafka.OffsetReset(kafka.Earliest))
	words := dstream.FlatMap(lines.Stream(), func(rec kafka.Record[string, string]) []ops.KV[string, int] {
		var out []ops.KV[string, int]
		for _, w := range strings.Fields(rec.Value) {
			out = append(out, ops.Pair(w, 1))
		}
		return out
	})
	byWord := kafka.Repartition(words, "words", kafka.StringSerde(), kafka.JSONSerde[int](), brokers, group)
	totals := dstream.UpdateStateByKey(byWord, func(vs []int, st ops.Maybe[int]) ops.Maybe[int] {
		for _, v := range vs {
			st.Value += v
		}
		return ops.Some(st.Value)
	})
	var (
		mu    sync.Mutex
		parts [][]ops.KV[string, int]
	)
	dstream.ForeachRDD(totals, func(ctx context.Context, c *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		ps, err := rdd.CollectPartitions(ctx, c)
		mu.Lock()
		parts = ps
		mu.Unlock()
		return err
	})
	r.start()
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		m := map[string]int{}
		for q, kvs := range parts {
			for _, kv := range kvs {
				m[kv.Key] = kv.Value
				if p := kafka.Murmur2Partition([]byte(kv.Key), 3); p != q {
					t.Errorf("%q's state is in partition %d, want its task %d", kv.Key, q, p)
				}
			}
		}
		return fmt.Sprint(m)
	}
	const want = "map[be:3 not:1 or:1 to:2]"
	deadline := time.Now().Add(30 * time.Second)
	for got() != want {
		if time.Now().After(deadline) {
			t.Fatalf("totals %s, want %s", got(), want)
		}
		r.batches(1)
	}
	r.batches(2) // nothing counted twice
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if s := got(); s != want {
		t.Errorf("totals %s after more batches, want %s", s, want)
	}
	if _, end, err := b.Offsets("wc-words-repartition", 2); err != nil {
		t.Errorf("the repartition topic has no partition 2 (it has the source's 3): %v", err)
	} else if end == 0 {
		t.Log("no word went to partition 2")
	}
}

// A partition added to the source topic of a re-keyed job is read (the group
// rebalances), and the running counts, kept per task of the repartition topic
// whose partition count does not change, stay exact.
func TestAPartitionAddedToTheSourceIsCounted(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("lines", 2))
	ctx := context.Background()
	if err := b.Produce(ctx, "lines", kafkatest.Message{Partition: 0, Value: []byte("a b")}, kafkatest.Message{Partition: 1, Value: []byte("b c")}); err != nil {
		t.Fatal(err)
	}
	r := newRun(t)
	brokers, group := kafka.Brokers(b.Addrs()...), kafka.GroupID("wc")
	refresh, patient := kafka.MetadataRefresh(100*time.Millisecond), kafka.UnavailableTimeout(time.Hour)
	lines := kafka.NewDirectStream(r.c, kafka.Subscribe("lines"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		brokers, group, refresh, patient, kafka.OffsetReset(kafka.Earliest))
	words := dstream.FlatMap(lines.Stream(), func(rec kafka.Record[string, string]) []ops.KV[string, int] {
		var out []ops.KV[string, int]
		for _, w := range strings.Fields(rec.Value) {
			out = append(out, ops.Pair(w, 1))
		}
		return out
	})
	totals := dstream.UpdateStateByKey(kafka.Repartition(words, "words", kafka.StringSerde(), kafka.JSONSerde[int](), brokers, group, refresh, patient),
		func(vs []int, st ops.Maybe[int]) ops.Maybe[int] {
			for _, v := range vs {
				st.Value += v
			}
			return ops.Some(st.Value)
		})
	last := latest(totals)
	r.start()
	until := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := fmt.Sprint(last())
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("totals %s, want %s", got, want)
			}
			r.batches(1)
		}
	}
	until("map[a:1 b:2 c:1]")
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	kc := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...), Transport: tr}
	resp, err := kc.CreatePartitions(ctx, &kafkago.CreatePartitionsRequest{Topics: []kafkago.TopicPartitionsConfig{{Name: "lines", Count: 3}}})
	if err == nil {
		err = resp.Errors["lines"]
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Produce(ctx, "lines", kafkatest.Message{Partition: 2, Value: []byte("c d")}, kafkatest.Message{Partition: 0, Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	until("map[a:2 b:2 c:2 d:1]")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
