package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// runInvalid builds a graph with build on a new Context and runs it: an invalid
// option must make Run fail before it starts anything (the brokers are not even
// looked up), with an error wrapping ErrInvalid that says each of want.
func runInvalid(t *testing.T, name string, build func(c *dstream.Context), want ...string) {
	t.Helper()
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(epoch)))
	build(c)
	// On the manual clock, a Run that started would go on until the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Run(ctx)
	if !errors.Is(err, dstream.ErrInvalid) {
		t.Errorf("%s: Run = %v, want an error wrapping ErrInvalid", name, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: Run = %v, want it to say %q", name, err, w)
		}
	}
}

// nowhere is a broker address nothing is asked of: an invalid option fails Run
// before the stream or sink connects.
const nowhere = "127.0.0.1:1"

func pairsOf(c *dstream.Context) *dstream.DStream[ops.KV[string, string]] {
	s, _ := dstream.QueueStream(c, dstream.OneAtATime, []ops.KV[string, string]{{Key: "k", Value: "v"}})
	return s
}

// Each invalid value of a stream's options is a construction error of
// NewDirectStream: Run fails at start with an error naming the option and the value
// and what it accepts, before connecting to anything.
func TestInvalidStreamOptionsFailRunAtStart(t *testing.T) {
	noCap := func(kafka.TopicPartition) float64 { return 0 }
	for _, tc := range []struct {
		opts []kafka.StreamOpt
		want string
	}{
		{[]kafka.StreamOpt{}, "no brokers (set Brokers)"},
		{[]kafka.StreamOpt{kafka.Brokers()}, "Brokers(), want at least one address"},
		{[]kafka.StreamOpt{kafka.Brokers(nowhere, "")}, `Brokers("127.0.0.1:1", ""), want`},
		{[]kafka.StreamOpt{kafka.GroupID("")}, `GroupID(""), want a group id`},
		{[]kafka.StreamOpt{kafka.ClientID("")}, `ClientID(""), want a client id`},
		{[]kafka.StreamOpt{kafka.OffsetReset(kafka.Reset(7))}, "OffsetReset(Reset(7)), want Latest, Earliest or None"},
		{[]kafka.StreamOpt{kafka.MaxRatePerPartition(-1)}, "MaxRatePerPartition(-1), want a finite rate >= 0"},
		{[]kafka.StreamOpt{kafka.MaxRatePerPartition(math.NaN())}, "MaxRatePerPartition(NaN)"},
		{[]kafka.StreamOpt{kafka.MaxRatePerPartition(math.Inf(1))}, "MaxRatePerPartition(+Inf)"},
		{[]kafka.StreamOpt{kafka.MaxRatePerPartitionFunc(nil)}, "MaxRatePerPartitionFunc(nil), want a function"},
		{[]kafka.StreamOpt{kafka.MaxRatePerPartition(5), kafka.MaxRatePerPartitionFunc(noCap)}, "both MaxRatePerPartition and MaxRatePerPartitionFunc"},
		{[]kafka.StreamOpt{kafka.MinRatePerPartition(-1)}, "MinRatePerPartition(-1)"},
		{[]kafka.StreamOpt{kafka.InitialRate(-0.5)}, "InitialRate(-0.5)"},
		{[]kafka.StreamOpt{kafka.BackpressurePID(kafka.PID{Proportional: 1})}, "BackpressurePID({Proportional:1 Integral:0 Derivative:0 MinRate:0}), want finite gains >= 0 and a finite MinRate > 0"},
		{[]kafka.StreamOpt{kafka.BackpressurePID(kafka.PID{Proportional: -1, MinRate: 100})}, "BackpressurePID({Proportional:-1"},
		{[]kafka.StreamOpt{kafka.FetchMaxBytes(0)}, "FetchMaxBytes(0), want 1 to 2147483647"},
		{[]kafka.StreamOpt{kafka.FetchMaxBytes(math.MaxInt32 + 1)}, "FetchMaxBytes(2147483648)"},
		{[]kafka.StreamOpt{kafka.PollTimeout(0)}, "PollTimeout(0s), want > 0"},
		{[]kafka.StreamOpt{kafka.Isolation(kafka.IsolationLevel(2))}, "Isolation(IsolationLevel(2)), want ReadUncommitted or ReadCommitted"},
		{[]kafka.StreamOpt{kafka.OnRestore(nil)}, "OnRestore(nil)"},
		{[]kafka.StreamOpt{kafka.StateDir("")}, `StateDir(""), want a directory`},
		{[]kafka.StreamOpt{kafka.OnRebalance(nil)}, "OnRebalance(nil)"},
		{[]kafka.StreamOpt{kafka.OnCommit(nil)}, "OnCommit(nil)"},
		{[]kafka.StreamOpt{kafka.TLS(nil)}, "TLS(nil)"},
		{[]kafka.StreamOpt{kafka.SASL(nil)}, "SASL(nil)"},
		{[]kafka.StreamOpt{kafka.MetadataRefresh(0)}, "MetadataRefresh(0s), want > 0"},
		{[]kafka.StreamOpt{kafka.SessionTimeout(-time.Second)}, "SessionTimeout(-1s), want > 0"},
		{[]kafka.StreamOpt{kafka.UnavailableTimeout(0)}, "UnavailableTimeout(0s), want > 0"},
		{[]kafka.StreamOpt{kafka.UnavailableTimeout(-time.Second)}, "UnavailableTimeout(-1s)"},
		{[]kafka.StreamOpt{kafka.MissingTopicTimeout(0)}, "MissingTopicTimeout(0s), want > 0"},
		{[]kafka.StreamOpt{kafka.DeserializeErrorHandler(nil)}, "DeserializeErrorHandler(nil)"},
	} {
		opts := tc.opts
		if len(opts) > 0 { // the first case checks that Brokers is required
			opts = append([]kafka.StreamOpt{kafka.Brokers(nowhere), kafka.GroupID("g")}, opts...)
		}
		runInvalid(t, tc.want, func(c *dstream.Context) {
			kafka.NewDirectStream(c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(), opts...).
				ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
		}, "kafka.NewDirectStream", tc.want)
	}
}

// The options only a group's member uses did nothing with Assign, silently: each
// is a construction error there, naming it, and fine with Subscribe.
func TestGroupOnlyOptionsWithAssignFailRunAtStart(t *testing.T) {
	tp := kafka.TopicPartition{Topic: "events", Partition: 0}
	cases := []struct {
		opt  kafka.StreamOpt
		name string
	}{
		{kafka.SessionTimeout(time.Second), "SessionTimeout"},
		{kafka.MissingTopicTimeout(time.Second), "MissingTopicTimeout"},
		{kafka.WaitForTopics(true), "WaitForTopics"},
		{kafka.OnRebalance(func(kafka.RebalanceInfo) {}), "OnRebalance"},
		{kafka.OnRestore(func(kafka.RestoreInfo) {}), "OnRestore"},
		{kafka.StateDir(t.TempDir()), "StateDir"},
	}
	subscribed := []kafka.StreamOpt{kafka.Brokers(nowhere), kafka.GroupID("g")}
	for _, tc := range cases {
		subscribed = append(subscribed, tc.opt)
		runInvalid(t, tc.name, func(c *dstream.Context) {
			kafka.NewDirectStream(c, kafka.Assign([]kafka.TopicPartition{tp}, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(nowhere), kafka.GroupID("g"), tc.opt).
				ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
		}, "kafka.NewDirectStream", tc.name+" with Assign")
	}
	// With Subscribe, all of them are valid: Run gets past its checks and tries
	// the broker, which is not there.
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(epoch)))
	kafka.NewDirectStream(c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(), subscribed...).
		ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Run(ctx); errors.Is(err, dstream.ErrInvalid) {
		t.Errorf("with Subscribe: Run = %v, want no invalid option", err)
	}
}

// A receiver stream's own options were clamped to their defaults (a block interval
// or memory budget <= 0) or not checked: each invalid value, and a missing GroupID,
// is a construction error of NewReceiverStream.
func TestInvalidReceiverOptionsFailRunAtStart(t *testing.T) {
	for _, tc := range []struct {
		opts []kafka.ReceiverOpt
		want string
	}{
		{[]kafka.ReceiverOpt{kafka.GroupID("g"), kafka.BlockInterval(0)}, "BlockInterval(0s), want > 0"},
		{[]kafka.ReceiverOpt{kafka.GroupID("g"), kafka.MemoryBudget(-1)}, "MemoryBudget(-1), want > 0 bytes"},
		{[]kafka.ReceiverOpt{kafka.GroupID("g"), kafka.BlockStorage(kafka.Storage(9))}, "BlockStorage(9), want StoreValues or StoreSerialized"},
		{[]kafka.ReceiverOpt{kafka.GroupID("g"), kafka.OffsetReset(kafka.Reset(-1))}, "OffsetReset(Reset(-1))"},
		{[]kafka.ReceiverOpt{kafka.GroupID("g"), kafka.FetchMaxBytes(-1)}, "FetchMaxBytes(-1)"},
		{[]kafka.ReceiverOpt{}, "no consumer group (set GroupID)"},
	} {
		runInvalid(t, tc.want, func(c *dstream.Context) {
			s := kafka.NewReceiverStream(c, map[string]int{"events": 1}, kafka.StringDeserializer(), kafka.StringDeserializer(),
				append([]kafka.ReceiverOpt{kafka.Brokers(nowhere)}, tc.opts...)...)
			dstream.Print(s.Stream(), 1)
		}, "kafka.NewReceiverStream", tc.want)
	}
}

// With a write-ahead log a receiver stream keeps its blocks serialized: an explicit
// BlockStorage(StoreValues), which it overrode, is a construction error.
func TestStoreValuesWithAWriteAheadLogIsInvalid(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(epoch)),
		dstream.CheckpointDir(t.TempDir()))
	s := kafka.NewReceiverStream(c, map[string]int{"events": 1}, kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(nowhere), kafka.GroupID("g"), kafka.BlockStorage(kafka.StoreValues))
	dstream.Print(s.Stream(), 1)
	err := c.Run(context.Background())
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "BlockStorage(0) with a write-ahead log") {
		t.Errorf("Run = %v, want an error naming BlockStorage and the write-ahead log", err)
	}
}

// A sink's invalid options, an unknown RequiredAcks that wrote with no
// acknowledgement among them, are construction errors of NewSink and WriteToKafka.
func TestInvalidSinkOptionsFailRunAtStart(t *testing.T) {
	for _, tc := range []struct {
		opts []kafka.SinkOpt
		want string
	}{
		{[]kafka.SinkOpt{kafka.Brokers(nowhere), kafka.RequiredAcks(kafka.Acks(3))}, "RequiredAcks(Acks(3)), want AcksAll, AcksLeader or AcksNone"},
		{[]kafka.SinkOpt{kafka.Brokers(nowhere), kafka.RequiredAcks(kafka.AcksLeader), kafka.Transactional()}, "RequiredAcks(leader) with Transactional, want AcksAll"},
		{[]kafka.SinkOpt{kafka.Brokers(nowhere), kafka.PollTimeout(-time.Second)}, "PollTimeout(-1s)"},
		{[]kafka.SinkOpt{kafka.Brokers(nowhere), kafka.UnavailableTimeout(0)}, "UnavailableTimeout(0s)"},
		{[]kafka.SinkOpt{kafka.RequiredAcks(kafka.AcksAll)}, "no brokers (set Brokers)"},
	} {
		runInvalid(t, "NewSink: "+tc.want, func(c *dstream.Context) {
			recs := dstream.Map(pairsOf(c), func(kv ops.KV[string, string]) kafka.ProducerRecord[string, string] {
				return kafka.ProducerRecord[string, string]{Topic: "out", Key: kv.Key, Value: kv.Value}
			})
			kafka.NewSink(recs, kafka.StringSerializer(), kafka.StringSerializer(), tc.opts...)
		}, "kafka.NewSink", tc.want)
		runInvalid(t, "WriteToKafka: "+tc.want, func(c *dstream.Context) {
			kafka.WriteToKafka(pairsOf(c), "out", kafka.StringSerializer(), kafka.StringSerializer(), tc.opts...)
		}, `kafka.WriteToKafka(topic "out")`, tc.want)
	}
}

// Repartition's own option and those of its reader and writer are checked when it
// is called.
func TestInvalidRepartitionOptionsFailRunAtStart(t *testing.T) {
	for _, tc := range []struct {
		opt  kafka.RepartitionOpt
		want string
	}{
		{kafka.RepartitionPartitions(0), "RepartitionPartitions(0), want 1 to 2147483647"},
		{kafka.RepartitionPartitions(-3), "RepartitionPartitions(-3)"},
		{kafka.MaxRatePerPartition(-1), "MaxRatePerPartition(-1)"},
		{kafka.SessionTimeout(0), "SessionTimeout(0s)"},
		{kafka.Brokers(), "Brokers()"},
	} {
		runInvalid(t, tc.want, func(c *dstream.Context) {
			dstream.Print(kafka.Repartition(pairsOf(c), "r", kafka.StringSerde(), kafka.StringSerde(),
				kafka.Brokers(nowhere), kafka.GroupID("g"), tc.opt), 1)
		}, `kafka.Repartition "r"`, tc.want)
	}
}

// NewClient returns every invalid option value as an error wrapping ErrInvalid
// that names it.
func TestNewClientRejectsInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []kafka.ClientOpt
		want []string
	}{
		{nil, []string{"no brokers (set Brokers)"}},
		{[]kafka.ClientOpt{kafka.Brokers()}, []string{"Brokers(), want at least one address"}},
		{[]kafka.ClientOpt{kafka.Brokers(nowhere), kafka.PollTimeout(-time.Second), kafka.FetchMaxBytes(0)},
			[]string{"PollTimeout(-1s), want > 0", "FetchMaxBytes(0), want 1 to 2147483647"}},
		{[]kafka.ClientOpt{kafka.Brokers(nowhere), kafka.MetadataRefresh(-time.Second)}, []string{"MetadataRefresh(-1s)"}},
		{[]kafka.ClientOpt{kafka.Brokers(nowhere), kafka.Isolation(kafka.IsolationLevel(-1))}, []string{"Isolation(IsolationLevel(-1))"}},
		{[]kafka.ClientOpt{kafka.Brokers(nowhere), kafka.DeserializeErrorHandler(nil)}, []string{"DeserializeErrorHandler(nil)"}},
		{[]kafka.ClientOpt{kafka.Brokers(nowhere), kafka.ClientID("")}, []string{`ClientID("")`}},
	} {
		cl, err := kafka.NewClient(tc.opts...)
		if cl != nil || !errors.Is(err, dstream.ErrInvalid) {
			t.Errorf("NewClient = %v, %v; want an error wrapping ErrInvalid", cl, err)
			continue
		}
		for _, w := range append(tc.want, "kafka.NewClient") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewClient: %v; want it to say %q", err, w)
			}
		}
	}
}

// A nil option, and the zero value of an option type, configure nothing (a nil
// KeyedOpt crashed Keyed).
func TestNilOptionsAreSkipped(t *testing.T) {
	cl, err := kafka.NewClient(nil, kafka.Brokers(nowhere), kafka.CommonOpt{}, kafka.ReadOpt{}, kafka.IsolationOpt{})
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c := dstream.NewContext(dstream.BatchInterval(time.Second))
	s := kafka.NewDirectStream(c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		nil, kafka.Brokers(nowhere), kafka.GroupID("g"), kafka.DirectOpt{}, kafka.GroupOpt{})
	if kafka.Keyed(s, kafka.StringSerializer(), nil) == nil {
		t.Error("Keyed with a nil option returned no stream")
	}
}

// TestWithLoggerNilMeansTheDefault runs a stream with WithLogger(nil), which crashed
// a library goroutine: it logs to slog.Default().
func TestWithLoggerNilMeansTheDefault(t *testing.T) {
	rec := newLogRecorder()
	old := slog.Default()
	slog.SetDefault(rec.logger())
	defer slog.SetDefault(old)

	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 10, "v")
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest), kafka.WithLogger(nil))
	var col collector
	s.ForeachBatch(col.foreach)
	r.start()
	r.batches(2)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(col.values()); n != 10 {
		t.Errorf("read %d records, want 10", n)
	}
	if len(rec.matching(0, anyLevel, "kafka: partitions assigned")) == 0 {
		t.Error("nothing was logged to slog.Default()")
	}
}
