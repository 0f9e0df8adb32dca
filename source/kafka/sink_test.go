package kafka_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// readAll reads every record of topic's partitions with CreateRDD.
func readAll(t *testing.T, b *kafkatest.Broker, topic string, partitions int) []kafka.Record[string, string] {
	t.Helper()
	ctx := context.Background()
	cl, err := kafka.NewClient(kafka.Brokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ranges []kafka.OffsetRange
	for p := range partitions {
		_, end, err := b.Offsets(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, kafka.OffsetRange{Topic: topic, Partition: p, From: 0, Until: end})
	}
	r, err := kafka.CreateRDD(ctx, cl, rdd.NewEngine(), ranges, kafka.StringDeserializer(), kafka.StringDeserializer())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rdd.Collect(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestWriteToKafkaThenReadBack(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("out", 3))
	h := newRun(t)
	in, q := dstream.QueueStream[ops.KV[string, string]](h.c, dstream.OneAtATime)
	q.Push([]ops.KV[string, string]{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "a", Value: "3"}})
	q.Push([]ops.KV[string, string]{{Key: "c", Value: "4"}})
	kafka.WriteToKafka(in, "out", kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...))
	h.start()
	h.batches(2)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, b, "out", 3)
	got := map[string][]string{}
	partOf := map[string]int{}
	for _, r := range recs {
		got[r.Key] = append(got[r.Key], r.Value)
		if p, ok := partOf[r.Key]; ok && p != r.Partition {
			t.Errorf("key %s written to partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[r.Key] = r.Partition
	}
	for _, vs := range got {
		slices.Sort(vs) // tasks write their partitions concurrently
	}
	want := map[string][]string{"a": {"1", "3"}, "b": {"2"}, "c": {"4"}}
	if !maps.EqualFunc(got, want, func(x, y []string) bool { return strings.Join(x, ",") == strings.Join(y, ",") }) {
		t.Errorf("read back %v, want %v", got, want)
	}
}

func TestWriteToKafkaFailureFailsTheBatch(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("out", 1))
	if _, err := b.Fail(kafkatest.Produce, "out", kafkatest.UnknownServerError, -1); err != nil {
		t.Fatal(err)
	}
	h := newRun(t)
	in, q := dstream.QueueStream[ops.KV[string, string]](h.c, dstream.OneAtATime)
	q.Push([]ops.KV[string, string]{{Key: "a", Value: "1"}})
	kafka.WriteToKafka(in, "out", kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...), kafka.PollTimeout(time.Second))
	h.start()
	err := h.batch()
	var be *dstream.BatchError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "kafka.WriteToKafka: batch") || !strings.Contains(err.Error(), "writing to out/0") {
		t.Errorf("batch = %v, want a failed batch naming the write", err)
	}
	h.stop()
}

func TestCreateRDDChecksTheRanges(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v")
	if err := b.DeleteRecords("events", 1, 4); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl, err := kafka.NewClient(kafka.Brokers(b.Addrs()...), kafka.PollTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eng := rdd.NewEngine()
	r, err := kafka.CreateRDD(ctx, cl, eng, []kafka.OffsetRange{{Topic: "events", Partition: 0, From: 3, Until: 7}, {Topic: "events", Partition: 1, From: 5, Until: 5}},
		kafka.StringDeserializer(), kafka.StringDeserializer())
	if err != nil {
		t.Fatal(err)
	}
	parts, err := rdd.CollectPartitions(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || len(parts[0]) != 4 || parts[0][0].Offset != 3 || len(parts[1]) != 0 {
		t.Errorf("partitions %v, want offsets 3..6 of events/0 and nothing", parts)
	}
	for _, c := range []struct {
		rg   kafka.OffsetRange
		want string
	}{
		{kafka.OffsetRange{Topic: "events", Partition: 0, From: 5, Until: 11}, "past the end of the partition (10)"},
		{kafka.OffsetRange{Topic: "events", Partition: 1, From: 2, Until: 6}, "events/1 offsets [2, 4) are gone"},
		{kafka.OffsetRange{Topic: "events", Partition: 0, From: 6, Until: 5}, "invalid argument: range"},
		{kafka.OffsetRange{Topic: "nope", Partition: 0, From: 0, Until: 1}, "nope/0"},
	} {
		_, err := kafka.CreateRDD(ctx, cl, eng, []kafka.OffsetRange{c.rg}, kafka.StringDeserializer(), kafka.StringDeserializer())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CreateRDD(%v) = %v, want an error saying %q", c.rg, err, c.want)
		}
		var dl *kafka.DataLossError
		if c.rg.Partition == 1 && (!errors.As(err, &dl) || !errors.Is(err, kafka.ErrDataLoss) || dl.Topic != "events" || dl.Partition != 1 || dl.From != 2 || dl.Until != 4) {
			t.Errorf("CreateRDD(%v) = %v, want a *DataLossError of events/1 [2, 4)", c.rg, err)
		}
	}
}

func TestClientPartitions(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("a", 2), kafkatest.Topic("b", 1))
	cl, err := kafka.NewClient(kafka.Brokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, err := cl.Partitions(context.Background(), "b", "a")
	want := []kafka.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Partitions = %v, %v; want %v", got, err, want)
	}
	if _, err := cl.Partitions(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Partitions of a missing topic = %v", err)
	}
}

// NewSink writes each record to its topic with its key (placed by Kafka's default
// partitioner), headers and timestamp, through one producer for the whole Run.
func TestNewSinkWritesKeysHeadersAndTimes(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("a", 3), kafkatest.Topic("b", 1))
	h := newRun(t)
	in, q := dstream.QueueStream[kafka.ProducerRecord[string, string]](h.c, dstream.OneAtATime)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	q.Push([]kafka.ProducerRecord[string, string]{
		{Topic: "a", Key: "ann", Value: "1", Time: at, Headers: []kafka.Header{{Key: "trace", Value: []byte("x1")}}},
		{Topic: "a", Key: "bob", Value: "2", Time: at.Add(time.Second)},
		{Topic: "b", Key: "ann", Value: "3", Time: at.Add(2 * time.Second)},
	})
	q.Push([]kafka.ProducerRecord[string, string]{{Topic: "a", Key: "ann", Value: "4", Time: at.Add(3 * time.Second)}})
	kafka.NewSink(in, kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...))
	h.start()
	h.batches(2)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	type rec struct {
		topic      string
		partition  int
		key, value string
		time       time.Time
		headers    string
	}
	var got []rec
	for topic, n := range map[string]int{"a": 3, "b": 1} {
		for _, r := range readAll(t, b, topic, n) {
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, h.Key+"="+string(h.Value))
			}
			got = append(got, rec{r.Topic, r.Partition, r.Key, r.Value, r.Timestamp.UTC(), strings.Join(hs, ",")})
		}
	}
	slices.SortFunc(got, func(x, y rec) int { return strings.Compare(x.value, y.value) })
	ann, bob := kafka.Murmur2Partition([]byte("ann"), 3), kafka.Murmur2Partition([]byte("bob"), 3)
	want := []rec{
		{"a", ann, "ann", "1", at, "trace=x1"},
		{"a", bob, "bob", "2", at.Add(time.Second), ""},
		{"b", 0, "ann", "3", at.Add(2 * time.Second), ""},
		{"a", ann, "ann", "4", at.Add(3 * time.Second), ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("read back\n%v\nwant\n%v", got, want)
	}
}

// A record NewSink cannot write fails the batch, naming the batch, the topic and
// why: a write the broker refuses, a record with no topic.
func TestNewSinkFailureFailsTheBatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topic string
		code  kafkatest.ErrorCode
		want  string
	}{
		{name: "refused", topic: "out", code: kafkatest.UnknownServerError, want: "writing to out/0"},
		{name: "retried until UnavailableTimeout", topic: "out", code: kafkatest.NotLeader, want: "not acknowledged within UnavailableTimeout (2s)"},
		{name: "no topic", code: kafkatest.UnknownServerError, want: "a record with key a has no topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.Topic("out", 1))
			if _, err := b.Fail(kafkatest.Produce, "out", tc.code, -1); err != nil {
				t.Fatal(err)
			}
			h := newRun(t)
			in, q := dstream.QueueStream[kafka.ProducerRecord[string, string]](h.c, dstream.OneAtATime)
			q.Push([]kafka.ProducerRecord[string, string]{{Topic: tc.topic, Key: "a", Value: "1"}})
			kafka.NewSink(in, kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...),
				kafka.PollTimeout(time.Second), kafka.UnavailableTimeout(2*time.Second))
			h.start()
			err := h.batch()
			var be *dstream.BatchError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), "kafka.NewSink: batch") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("batch = %v, want a failed batch naming %q", err, tc.want)
			}
			h.stop()
		})
	}
}
