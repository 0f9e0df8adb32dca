package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// inputOf returns what the stream's input read in a batch.
func inputOf(info dstream.BatchInfo, s *kafka.DirectStream[string, string]) dstream.InputInfo {
	return info.Inputs[s.Stream().String()]
}

// TestBrokerOutage runs a stream through a broker outage, under Assign and under
// Subscribe alike: while the broker is down, batches read nothing and say why
// (naming the broker) in their InputInfo; once it is back (with its data, on the same
// address) the stream reads on from where it stopped, skipping nothing; a second
// outage that lasts UnavailableTimeout (on the manual clock) fails the batch with an
// error naming the brokers and the partitions. Warnings are bounded in rate, not
// one per attempt.
func TestBrokerOutage(t *testing.T) {
	for _, tc := range strategies {
		t.Run(tc.name, func(t *testing.T) {
			var member []kafka.StreamOpt
			if tc.name == "Subscribe" {
				member = append(member, kafka.SessionTimeout(time.Second)) // a group member's: Assign refuses it
			}
			testBrokerOutage(t, tc.strategy, member...)
		})
	}
}

func testBrokerOutage(t *testing.T, strategy kafka.ConsumerStrategy, member ...kafka.StreamOpt) {
	const timeout = 40 * interval
	b := kafkatest.New(t, kafkatest.Topic("events", 2), kafkatest.DataDir(t.TempDir()), kafkatest.MinSessionTimeout(time.Second))
	addr := b.Addrs()[0]
	produce(t, b, "events", 2, 0, 20, "v")
	logs := newLogRecorder()
	r := newRun(t)
	opts := []kafka.StreamOpt{kafka.Brokers(b.Addrs()...), kafka.GroupID("outage"), kafka.OffsetReset(kafka.Earliest),
		kafka.PollTimeout(200 * time.Millisecond), kafka.MetadataRefresh(100 * time.Millisecond),
		kafka.UnavailableTimeout(timeout), kafka.WithLogger(logs.logger())}
	s := kafka.NewDirectStream(r.c, strategy, kafka.StringDeserializer(), kafka.StringDeserializer(), append(opts, member...)...)
	var col collector
	s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		if err := col.foreach(ctx, batch); err != nil {
			return err
		}
		s.CommitAsync(batch.Ranges, nil)
		return nil
	})
	r.start()
	info, err := r.batchInfo()
	if err != nil {
		t.Fatal(err)
	}
	if in := inputOf(info, s); in.Records != 20 || in.Unavailable != nil {
		t.Fatalf("the first batch: %+v, want 20 records", in)
	}

	// A short outage: batches read nothing and say why.
	b.Stop()
	for range 3 {
		info, err := r.batchInfo()
		if err != nil {
			t.Fatalf("a batch during the outage failed: %v", err)
		}
		in := inputOf(info, s)
		if in.Records != 0 || in.Unavailable == nil || !strings.Contains(in.Unavailable.Error(), addr) {
			t.Errorf("a batch during the outage: %+v, want no records and Unavailable naming the broker %s", in, addr)
		}
	}
	mark := logs.mark()
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	produce(t, b, "events", 2, 20, 20, "v")
	if strings.HasPrefix(strategy.String(), "Subscribe") {
		// The group forms again (in real time) before batches go on.
		logs.await(t, mark, anyLevel, "kafka: partitions assigned")
	}
	for i := 0; len(col.values()) < 40; i++ {
		if i == 20 {
			t.Fatalf("read %d records in 20 batches after the restart, want 40", len(col.values()))
		}
		if err := r.batch(); err != nil {
			t.Fatalf("a batch after the restart failed: %v", err)
		}
	}
	got := col.values()
	slices.Sort(got)
	if got = slices.Compact(got); len(got) != 40 {
		t.Errorf("read %d distinct records, want 40", len(got))
	}
	for i := range 40 {
		if _, ok := slices.BinarySearch(got, "v"+strconv.Itoa(i)); !ok {
			t.Errorf("v%d was never read", i)
		}
	}

	// An outage that lasts UnavailableTimeout fails the batch.
	warns := len(logs.matching(0, slog.LevelWarn, ""))
	b.Stop()
	var batches int
	for batches = 1; batches <= int(timeout/interval)+1; batches++ {
		if _, err = r.batchInfo(); err != nil {
			break
		}
	}
	var be *dstream.BatchError
	if !errors.As(err, &be) || !errors.Is(err, kafka.ErrUnavailable) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "events/0") {
		t.Fatalf("after %d batches of outage: %v, want a *dstream.BatchError wrapping ErrUnavailable naming the broker %s and the partition events/0", batches, err, addr)
	}
	// The outage starts at the first batch that cannot read, and lasts
	// UnavailableTimeout at the batch timeout/interval later.
	if want := int(timeout/interval) + 1; batches != want {
		t.Errorf("the batch failed at the %dth batch of the outage, want the %dth (UnavailableTimeout)", batches, want)
	}
	// A warning when the outage starts, then one every 30s of the clock: not one a
	// batch. (The client's and the group's warnings, in real time, add at most two.)
	if n := len(logs.matching(0, slog.LevelWarn, "")) - warns; n > 5 {
		t.Errorf("%d warnings over %d batches of outage: %q", n, batches, logs.matching(0, slog.LevelWarn, ""))
	}
	if err := r.stop(); err == nil {
		t.Error("Run returned nil after the batch failed")
	}
}

// TestGroupThatNeverSettles has every JoinGroup answered REBALANCE_IN_PROGRESS: the
// batches read nothing and say the group has no assignment, until
// UnavailableTimeout fails the batch naming the group and the brokers.
func TestGroupThatNeverSettles(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v")
	if _, err := b.Fail(kafkatest.JoinGroup, "", kafkatest.RebalanceInProgress, -1); err != nil {
		t.Fatal(err)
	}
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("unsettled"), kafka.OffsetReset(kafka.Earliest),
		kafka.PollTimeout(100*time.Millisecond), kafka.UnavailableTimeout(5*interval), kafka.WithLogger(newLogRecorder().logger()))
	s.ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	var err error
	for i := 1; i <= 10; i++ {
		var info dstream.BatchInfo
		if info, err = r.batchInfo(); err != nil {
			break
		}
		if in := inputOf(info, s); in.Records != 0 || in.Unavailable == nil || !strings.Contains(in.Unavailable.Error(), `consumer group "unsettled" has no partitions assigned`) {
			t.Errorf("batch %d: %+v, want no records and Unavailable saying the group has no assignment", i, in)
		}
	}
	if !errors.Is(err, kafka.ErrUnavailable) || !strings.Contains(err.Error(), "unsettled") || !strings.Contains(err.Error(), b.Addrs()[0]) {
		t.Errorf("batches = %v, want an error wrapping ErrUnavailable naming the group and the broker", err)
	}
	r.stop()
}

// TestGroupErrorThatRetryingCannotFix has the broker reject the session timeout
// (below its minimum of 6s): Run fails at start naming the error, rather than
// giving empty batches.
func TestGroupErrorThatRetryingCannotFix(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	r := newRun(t)
	kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.SessionTimeout(time.Second), kafka.WithLogger(newLogRecorder().logger())).
		ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
	r.start()
	if err := r.wait(); err == nil || !strings.Contains(err.Error(), "Invalid Session Timeout") || !strings.Contains(err.Error(), `"g"`) {
		t.Errorf("Run = %v, want an error naming the group and the invalid session timeout", err)
	}
}

// TestSubscribeToAMissingTopic subscribes to a topic that exists and one that does
// not: the stream reads the first without churning the group, warns naming the
// missing one, says so in the batches' InputInfo, and fails the batch once it has
// been missing for MissingTopicTimeout.
func TestSubscribeToAMissingTopic(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v")
	logs := newLogRecorder()
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events", "nosuchtopic"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest), kafka.MetadataRefresh(50*time.Millisecond),
		kafka.MissingTopicTimeout(5*interval), kafka.WithLogger(logs.logger()))
	var col collector
	s.ForeachBatch(col.foreach)
	r.start()
	var err error
	var batches int
	for batches = 1; batches <= 10; batches++ {
		var info dstream.BatchInfo
		if info, err = r.batchInfo(); err != nil {
			break
		}
		if in := inputOf(info, s); !errors.Is(in.Unavailable, kafka.ErrMissingTopic) || !strings.Contains(in.Unavailable.Error(), "nosuchtopic") {
			t.Errorf("batch %d: %+v, want Unavailable naming the missing topic", batches, in)
		}
	}
	if !errors.Is(err, kafka.ErrMissingTopic) || !strings.Contains(err.Error(), "nosuchtopic") || !strings.Contains(err.Error(), "WaitForTopics") {
		t.Fatalf("after %d batches: %v, want an error wrapping ErrMissingTopic naming nosuchtopic", batches, err)
	}
	if batches != 5 {
		t.Errorf("failed at batch %d, want 5 (5 seconds after the start)", batches)
	}
	r.stop()
	if n := len(col.values()); n != 20 {
		t.Errorf("read %d records of the topic that exists, want 20", n)
	}
	// One generation: the group did not churn.
	if gens := logs.matching(0, anyLevel, "kafka: partitions assigned"); len(gens) != 1 {
		t.Errorf("%d generations, want 1: %q", len(gens), gens)
	}
	if len(logs.matching(0, slog.LevelWarn, "kafka: subscribed topics do not exist")) == 0 {
		t.Error("no warning named the missing topic")
	}
}

// TestWaitForTopics subscribes to a topic created later, with WaitForTopics: the
// stream goes on past MissingTopicTimeout, then reads the topic once it exists.
func TestWaitForTopics(t *testing.T) {
	b := kafkatest.New(t)
	logs := newLogRecorder()
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("later"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest), kafka.MetadataRefresh(50*time.Millisecond),
		kafka.MissingTopicTimeout(2*interval), kafka.WaitForTopics(true), kafka.WithLogger(logs.logger()))
	var col collector
	s.ForeachBatch(col.foreach)
	r.start()
	r.batches(5)
	mark := logs.mark()
	if err := b.CreateTopic("later", 2); err != nil {
		t.Fatal(err)
	}
	produce(t, b, "later", 2, 0, 10, "v")
	logs.await(t, mark, anyLevel, "kafka: partitions assigned")
	for i := 0; len(col.values()) < 10; i++ {
		if i == 10 {
			t.Fatalf("read %d records in 10 batches, want 10", len(col.values()))
		}
		if err := r.batch(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
