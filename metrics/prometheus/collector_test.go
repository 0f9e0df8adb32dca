package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spatedev/spate/dstream"
	spateprom "github.com/spatedev/spate/metrics/prometheus"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// events are the partitions of topic "events".
var events = []kafka.TopicPartition{{Topic: "events", Partition: 0}, {Topic: "events", Partition: 1}}

// listenerFunc hears the batches submitted and completed.
type listenerFunc struct {
	dstream.BaseListener
	submitted, completed func(dstream.BatchInfo)
}

func (l listenerFunc) OnBatchSubmitted(b dstream.BatchInfo) { l.submitted(b) }
func (l listenerFunc) OnBatchCompleted(b dstream.BatchInfo) { l.completed(b) }

// await returns what ch gives, failing the test after 30s.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30s", what)
		panic("unreachable")
	}
}

// A Kafka job on the manual clock, three known batches: the Collector's metrics
// after the first (scraped over HTTP), while the second runs with the third queued,
// and after the third failed.
func TestCollectorAfterKnownBatches(t *testing.T) {
	b, err := kafkatest.Start(kafkatest.Topic("events", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgs := make([]kafkatest.Message, 40) // 20 a partition, values v0 to v39
	for i := range msgs {
		msgs[i] = kafkatest.Message{Partition: i % 2, Value: []byte("v" + strconv.Itoa(i))}
	}
	if err := b.Produce(context.Background(), "events", msgs...); err != nil {
		t.Fatal(err)
	}

	clock := dstream.NewManualClock(epoch)
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
	col := spateprom.New(c)
	// Added after the Collector, these listeners hear a batch once it has.
	completed, thirdQueued := make(chan dstream.BatchInfo, 10), make(chan struct{})
	c.AddListener(listenerFunc{
		submitted: func(b dstream.BatchInfo) {
			if b.Time.Equal(epoch.Add(3 * time.Second)) {
				close(thirdQueued)
			}
		},
		completed: func(b dstream.BatchInfo) { completed <- b },
	})
	s := kafka.NewDirectStream(c, kafka.Assign(events, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest), kafka.MaxRatePerPartition(5),
		kafka.OnCommit(col.Committed))
	counts := dstream.UpdateStateByKey(dstream.Map(s.Stream(), func(r kafka.Record[string, string]) ops.KV[string, int] { return ops.Pair(r.Value, 1) }),
		func(vs []int, st ops.Maybe[int]) ops.Maybe[int] { return ops.Some(st.Value + len(vs)) })
	dstream.ForeachRDD(dstream.Named(counts, "counts"), func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		return err
	})
	commits := make(chan error, 10)
	inSecond, resume := make(chan struct{}), make(chan struct{})
	s.ForeachBatch(func(_ context.Context, batch kafka.Batch[string, string]) error {
		// Processing takes 250ms of the clock for batch 1 and 500ms for batch 2,
		// which waits for batch 3 to be queued behind it; batch 3 fails.
		switch batch.Time.Sub(epoch) {
		case time.Second:
			clock.Advance(250 * time.Millisecond)
		case 2 * time.Second:
			<-thirdQueued
			close(inSecond)
			<-resume
			clock.Advance(500 * time.Millisecond)
		default:
			return errors.New("the sink is down")
		}
		s.CommitAsync(batch.Ranges, func(_ map[kafka.TopicPartition]int64, err error) { commits <- err })
		return nil
	})
	input := s.Stream().String()

	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	awaitScheduler := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := clock.AwaitWaiters(ctx, 1); err != nil {
			t.Fatalf("the scheduler did not wait for the next batch: %v", err)
		}
	}

	// Batch 1 reads offsets [0, 5) of each partition: 10 records, 15 left to read.
	awaitScheduler()
	clock.Advance(time.Second)
	if b := await(t, completed, "batch 1"); b.Err != nil {
		t.Fatal(b.Err)
	}
	if err := await(t, commits, "batch 1's commit"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	err = testutil.ScrapeAndCompare(srv.URL, strings.NewReader(fmt.Sprintf(`
# HELP spate_batches_total Batches completed, by status: completed (without error) or failed.
# TYPE spate_batches_total counter
spate_batches_total{status="completed"} 1
spate_batches_total{status="failed"} 0
# HELP spate_input_records_total Records read by the batches completed without error, by input stream.
# TYPE spate_input_records_total counter
spate_input_records_total{input=%[1]q} 10
# HELP spate_kafka_lag_records Records of a Kafka partition left to read after the last batch: the log end when it was planned minus where it read up to.
# TYPE spate_kafka_lag_records gauge
spate_kafka_lag_records{input=%[1]q,partition="0",topic="events"} 15
spate_kafka_lag_records{input=%[1]q,partition="1",topic="events"} 15
# HELP spate_kafka_rate_limit_records_per_second Records per second rate control let the last batch read from a Kafka partition, when it held the batch back.
# TYPE spate_kafka_rate_limit_records_per_second gauge
spate_kafka_rate_limit_records_per_second{input=%[1]q,partition="0",topic="events"} 5
spate_kafka_rate_limit_records_per_second{input=%[1]q,partition="1",topic="events"} 5
# HELP spate_kafka_committed_offset Last offset committed for a Kafka partition by a consumer group: the next one to read.
# TYPE spate_kafka_committed_offset gauge
spate_kafka_committed_offset{group="g",partition="0",topic="events"} 5
spate_kafka_committed_offset{group="g",partition="1",topic="events"} 5
# HELP spate_state_keys Keys each named stateful stream holds in this process after the last batch.
# TYPE spate_state_keys gauge
spate_state_keys{state="counts"} 10
# HELP spate_last_batch_timestamp_seconds Batch time of the last batch completed without error, in seconds since the Unix epoch.
# TYPE spate_last_batch_timestamp_seconds gauge
spate_last_batch_timestamp_seconds %[2]d
`, input, epoch.Add(time.Second).Unix())), "spate_batches_total", "spate_input_records_total", "spate_kafka_lag_records",
		"spate_kafka_rate_limit_records_per_second", "spate_kafka_committed_offset", "spate_state_keys", "spate_last_batch_timestamp_seconds")
	if err != nil {
		t.Errorf("scrape after batch 1: %v", err)
	}

	// Batches 2 and 3 are generated at once; batch 3 waits while batch 2 runs.
	awaitScheduler()
	clock.Advance(2 * time.Second)
	await(t, inSecond, "batch 2's output")
	if err := testutil.CollectAndCompare(col, strings.NewReader(`
# HELP spate_active_batches Batches queued (generated, waiting) or processing.
# TYPE spate_active_batches gauge
spate_active_batches{state="processing"} 1
spate_active_batches{state="queued"} 1
`), "spate_active_batches"); err != nil {
		t.Errorf("while batch 2 runs: %v", err)
	}
	close(resume)
	if b := await(t, completed, "batch 2"); b.Err != nil {
		t.Fatal(b.Err)
	}
	if err := await(t, commits, "batch 2's commit"); err != nil {
		t.Fatal(err)
	}
	if b := await(t, completed, "batch 3"); b.Err == nil {
		t.Fatal("batch 3 succeeded")
	}
	if err := await(t, done, "Run's end"); err == nil {
		t.Fatal("Run returned nil after batch 3 failed")
	}

	// Batch 3 failed: counted as failed, its records not counted, the lag and
	// committed offsets those of batch 2, the state rolled back to batch 2's. The
	// delays (processing, scheduling, total): batch 1 0.25s, 0, 0.25s; batch 2
	// 0.5s, 0, 0.5s; batch 3 0, 0.5s, 0.5s.
	err = testutil.CollectAndCompare(col, strings.NewReader(fmt.Sprintf(`
# HELP spate_batches_total Batches completed, by status: completed (without error) or failed.
# TYPE spate_batches_total counter
spate_batches_total{status="completed"} 2
spate_batches_total{status="failed"} 1
# HELP spate_input_records_total Records read by the batches completed without error, by input stream.
# TYPE spate_input_records_total counter
spate_input_records_total{input=%[1]q} 20
# HELP spate_kafka_lag_records Records of a Kafka partition left to read after the last batch: the log end when it was planned minus where it read up to.
# TYPE spate_kafka_lag_records gauge
spate_kafka_lag_records{input=%[1]q,partition="0",topic="events"} 10
spate_kafka_lag_records{input=%[1]q,partition="1",topic="events"} 10
# HELP spate_kafka_committed_offset Last offset committed for a Kafka partition by a consumer group: the next one to read.
# TYPE spate_kafka_committed_offset gauge
spate_kafka_committed_offset{group="g",partition="0",topic="events"} 10
spate_kafka_committed_offset{group="g",partition="1",topic="events"} 10
# HELP spate_state_keys Keys each named stateful stream holds in this process after the last batch.
# TYPE spate_state_keys gauge
spate_state_keys{state="counts"} 20
# HELP spate_active_batches Batches queued (generated, waiting) or processing.
# TYPE spate_active_batches gauge
spate_active_batches{state="processing"} 0
spate_active_batches{state="queued"} 0
# HELP spate_last_batch_timestamp_seconds Batch time of the last batch completed without error, in seconds since the Unix epoch.
# TYPE spate_last_batch_timestamp_seconds gauge
spate_last_batch_timestamp_seconds %[2]d
# HELP spate_batch_processing_seconds How long batches took to process (their output operations).
# TYPE spate_batch_processing_seconds histogram
spate_batch_processing_seconds_bucket{le="0.01"} 1
spate_batch_processing_seconds_bucket{le="0.025"} 1
spate_batch_processing_seconds_bucket{le="0.05"} 1
spate_batch_processing_seconds_bucket{le="0.1"} 1
spate_batch_processing_seconds_bucket{le="0.25"} 2
spate_batch_processing_seconds_bucket{le="0.5"} 3
spate_batch_processing_seconds_bucket{le="0.75"} 3
spate_batch_processing_seconds_bucket{le="1"} 3
spate_batch_processing_seconds_bucket{le="1.5"} 3
spate_batch_processing_seconds_bucket{le="2"} 3
spate_batch_processing_seconds_bucket{le="5"} 3
spate_batch_processing_seconds_bucket{le="10"} 3
spate_batch_processing_seconds_bucket{le="+Inf"} 3
spate_batch_processing_seconds_sum 0.75
spate_batch_processing_seconds_count 3
# HELP spate_batch_scheduling_delay_seconds How long batches waited in the queue before their processing started.
# TYPE spate_batch_scheduling_delay_seconds histogram
spate_batch_scheduling_delay_seconds_bucket{le="0.01"} 2
spate_batch_scheduling_delay_seconds_bucket{le="0.025"} 2
spate_batch_scheduling_delay_seconds_bucket{le="0.05"} 2
spate_batch_scheduling_delay_seconds_bucket{le="0.1"} 2
spate_batch_scheduling_delay_seconds_bucket{le="0.25"} 2
spate_batch_scheduling_delay_seconds_bucket{le="0.5"} 3
spate_batch_scheduling_delay_seconds_bucket{le="0.75"} 3
spate_batch_scheduling_delay_seconds_bucket{le="1"} 3
spate_batch_scheduling_delay_seconds_bucket{le="1.5"} 3
spate_batch_scheduling_delay_seconds_bucket{le="2"} 3
spate_batch_scheduling_delay_seconds_bucket{le="5"} 3
spate_batch_scheduling_delay_seconds_bucket{le="10"} 3
spate_batch_scheduling_delay_seconds_bucket{le="+Inf"} 3
spate_batch_scheduling_delay_seconds_sum 0.5
spate_batch_scheduling_delay_seconds_count 3
# HELP spate_batch_total_delay_seconds Scheduling delay plus processing time of batches.
# TYPE spate_batch_total_delay_seconds histogram
spate_batch_total_delay_seconds_bucket{le="0.01"} 0
spate_batch_total_delay_seconds_bucket{le="0.025"} 0
spate_batch_total_delay_seconds_bucket{le="0.05"} 0
spate_batch_total_delay_seconds_bucket{le="0.1"} 0
spate_batch_total_delay_seconds_bucket{le="0.25"} 1
spate_batch_total_delay_seconds_bucket{le="0.5"} 3
spate_batch_total_delay_seconds_bucket{le="0.75"} 3
spate_batch_total_delay_seconds_bucket{le="1"} 3
spate_batch_total_delay_seconds_bucket{le="1.5"} 3
spate_batch_total_delay_seconds_bucket{le="2"} 3
spate_batch_total_delay_seconds_bucket{le="5"} 3
spate_batch_total_delay_seconds_bucket{le="10"} 3
spate_batch_total_delay_seconds_bucket{le="+Inf"} 3
spate_batch_total_delay_seconds_sum 1.25
spate_batch_total_delay_seconds_count 3
`, input, epoch.Add(2*time.Second).Unix())), "spate_batches_total", "spate_input_records_total", "spate_kafka_lag_records",
		"spate_kafka_committed_offset", "spate_state_keys", "spate_active_batches", "spate_last_batch_timestamp_seconds",
		"spate_batch_processing_seconds", "spate_batch_scheduling_delay_seconds", "spate_batch_total_delay_seconds")
	if err != nil {
		t.Errorf("after batch 3 failed: %v", err)
	}
	lint(t, col)
}

// lint fails the test if the Collector's metrics break Prometheus's conventions.
func lint(t *testing.T, col prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(col)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Long work shows while it runs and is gone when it is done.
func TestProgressWhileWorkRuns(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second))
	col := spateprom.New(c)
	const header = `
# HELP spate_progress_completed Units long work under way has done.
# TYPE spate_progress_completed gauge
spate_progress_completed{op="kafka.restore",subject="counts task 1",unit="records"} 250
spate_progress_completed{op="dstream.catchup",subject="batches",unit="batches"} 3
# HELP spate_progress_target Units long work under way has to do, when known.
# TYPE spate_progress_target gauge
spate_progress_target{op="kafka.restore",subject="counts task 1",unit="records"} 1000
# HELP spate_progress_ratio How far long work under way (a restore, a catch-up) has gone, from 0 to 1, when its total is known.
# TYPE spate_progress_ratio gauge
spate_progress_ratio{op="kafka.restore",subject="counts task 1"} 0.25
`
	restore := dstream.Progress{Op: "kafka.restore", Subject: "counts task 1", Completed: 100, Total: 1000, Unit: "records", Started: epoch}
	c.ReportProgress(restore)
	restore.Completed = 250
	c.ReportProgress(restore)
	c.ReportProgress(dstream.Progress{Op: "dstream.catchup", Subject: "batches", Completed: 3, Unit: "batches", Started: epoch})
	names := []string{"spate_progress_completed", "spate_progress_target", "spate_progress_ratio"}
	if err := testutil.CollectAndCompare(col, strings.NewReader(header), names...); err != nil {
		t.Error(err)
	}
	restore.Completed, restore.Done = 1000, true
	c.ReportProgress(restore)
	c.ReportProgress(dstream.Progress{Op: "dstream.catchup", Subject: "batches", Done: true, Err: errors.New("stopped")})
	if n := testutil.CollectAndCount(col, names...); n != 0 {
		t.Errorf("%d progress series once the work is done, want none", n)
	}
	lint(t, col)
}

// A Collector New cannot make is not a panic: registering it fails, saying why.
func TestBadArgumentsFailRegistration(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second))
	for _, tc := range []struct {
		col  *spateprom.Collector
		want string
	}{
		{spateprom.New(nil), "nil dstream.Context"},
		{spateprom.New(c, spateprom.DelayBuckets(1, 0.5)), "DelayBuckets([1 0.5])"},
		{spateprom.New(c, spateprom.DelayBuckets()), "DelayBuckets([])"},
		{spateprom.New(c, spateprom.ConstLabels(prometheus.Labels{"topic": "x"})), "ConstLabels(map[topic:x])"},
		{spateprom.New(c, spateprom.ConstLabels(prometheus.Labels{"le": "x"}), spateprom.DelayBuckets(2, 1)), "ConstLabels(map[le:x])"},
	} {
		err := prometheus.NewRegistry().Register(tc.col)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Register: %v, want an error naming %s", err, tc.want)
		}
	}
}

// Invalid options are a construction error of the Context: its Run fails before
// the first batch, naming New and the option with its value.
func TestBadOptionsFailRun(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(time.Unix(0, 0))))
	spateprom.New(c, spateprom.DelayBuckets(1, 0.5))
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Run(ctx)
	if want := "metrics/prometheus.New: invalid argument: DelayBuckets([1 0.5]), want increasing upper bounds"; !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("Run = %v, want ErrInvalid with %q", err, want)
	}
}

// The Collectors of two Contexts register on one registry with ConstLabels that
// tell them apart, and not without.
func TestConstLabelsTellContextsApart(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, job := range []string{"orders", "payments"} {
		c := dstream.NewContext(dstream.BatchInterval(time.Second))
		if err := reg.Register(spateprom.New(c, spateprom.ConstLabels(prometheus.Labels{"job_name": job}))); err != nil {
			t.Fatal(err)
		}
	}
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP spate_batches_total Batches completed, by status: completed (without error) or failed.
# TYPE spate_batches_total counter
spate_batches_total{job_name="orders",status="completed"} 0
spate_batches_total{job_name="orders",status="failed"} 0
spate_batches_total{job_name="payments",status="completed"} 0
spate_batches_total{job_name="payments",status="failed"} 0
`), "spate_batches_total")
	if err != nil {
		t.Error(err)
	}
	if err := reg.Register(spateprom.New(dstream.NewContext(dstream.BatchInterval(time.Second)), spateprom.ConstLabels(prometheus.Labels{"job_name": "orders"}))); err == nil {
		t.Error("a second Collector with the same labels registered")
	}
}
