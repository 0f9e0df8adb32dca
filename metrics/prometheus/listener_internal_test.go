package prometheus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/source/kafka"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// batch returns a batch at second sec that completed without error, the Kafka input
// "k" reading parts and the input "q" unable to count its records.
func batch(sec int, parts ...dstream.PartitionInfo) dstream.BatchInfo {
	return dstream.BatchInfo{Time: epoch.Add(time.Duration(sec) * time.Second), Inputs: map[string]dstream.InputInfo{
		"k": {Records: 10, Partitions: parts},
		"q": {Records: -1},
	}}
}

// compare fails the test if col's metrics named names are not want.
func compare(t *testing.T, col *Collector, want string, names ...string) {
	t.Helper()
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

const lagHeader = `
# HELP spate_kafka_lag_records Records of a Kafka partition left to read after the last batch: the log end when it was planned minus where it read up to.
# TYPE spate_kafka_lag_records gauge
`

const rateHeader = `
# HELP spate_kafka_rate_limit_records_per_second Records per second rate control let the last batch read from a Kafka partition, when it held the batch back.
# TYPE spate_kafka_rate_limit_records_per_second gauge
`

const committedHeader = `
# HELP spate_kafka_committed_offset Last offset committed for a Kafka partition by a consumer group: the next one to read.
# TYPE spate_kafka_committed_offset gauge
`

// After a rebalance, the partitions the stream no longer reads lose their lag, rate
// limit and committed offset series; a partition no batch reads (a receiver
// stream's) keeps its committed offset.
func TestPartitionsNoLongerReadLoseTheirSeries(t *testing.T) {
	col := New(dstream.NewContext(dstream.BatchInterval(time.Second)))
	l := listener{col}
	l.OnBatchCompleted(batch(1,
		dstream.PartitionInfo{Topic: "events", Partition: 0, From: 0, Until: 5, End: 20, RateLimit: 5},
		dstream.PartitionInfo{Topic: "events", Partition: 1, From: 0, Until: 5, End: 8, RateLimit: 5}))
	col.Committed(kafka.CommitInfo{Group: "g", Offsets: map[kafka.TopicPartition]int64{{Topic: "events", Partition: 0}: 5, {Topic: "events", Partition: 1}: 5}})
	col.Committed(kafka.CommitInfo{Group: "r", Offsets: map[kafka.TopicPartition]int64{{Topic: "other", Partition: 0}: 7}})
	compare(t, col, lagHeader+`
spate_kafka_lag_records{input="k",partition="0",topic="events"} 15
spate_kafka_lag_records{input="k",partition="1",topic="events"} 3
`+rateHeader+`
spate_kafka_rate_limit_records_per_second{input="k",partition="0",topic="events"} 5
spate_kafka_rate_limit_records_per_second{input="k",partition="1",topic="events"} 5
`+committedHeader+`
spate_kafka_committed_offset{group="g",partition="0",topic="events"} 5
spate_kafka_committed_offset{group="g",partition="1",topic="events"} 5
spate_kafka_committed_offset{group="r",partition="0",topic="other"} 7
`, "spate_kafka_lag_records", "spate_kafka_rate_limit_records_per_second", "spate_kafka_committed_offset")

	// A rebalance: the next batch reads events/0 only, no longer rate limited.
	l.OnBatchCompleted(batch(2, dstream.PartitionInfo{Topic: "events", Partition: 0, From: 5, Until: 20, End: 20}))
	compare(t, col, lagHeader+`
spate_kafka_lag_records{input="k",partition="0",topic="events"} 0
`+committedHeader+`
spate_kafka_committed_offset{group="g",partition="0",topic="events"} 5
spate_kafka_committed_offset{group="r",partition="0",topic="other"} 7
`, "spate_kafka_lag_records", "spate_kafka_rate_limit_records_per_second", "spate_kafka_committed_offset")

	// A failed batch changes none of them; a batch that reads nothing (the group
	// rebalancing) leaves no lag.
	failed := batch(3)
	failed.Err = errors.New("failed")
	l.OnBatchCompleted(failed)
	compare(t, col, lagHeader+`
spate_kafka_lag_records{input="k",partition="0",topic="events"} 0
`, "spate_kafka_lag_records")
	l.OnBatchCompleted(batch(4))
	compare(t, col, committedHeader+`
spate_kafka_committed_offset{group="r",partition="0",topic="other"} 7
`, "spate_kafka_lag_records", "spate_kafka_committed_offset")
}

// A batch produced again from a checkpoint does not know the log's end: the
// partition keeps the lag it had, or has none.
func TestAnUnknownEndKeepsTheLastLag(t *testing.T) {
	col := New(dstream.NewContext(dstream.BatchInterval(time.Second)))
	l := listener{col}
	l.OnBatchCompleted(batch(1, dstream.PartitionInfo{Topic: "events", Partition: 0, From: 0, Until: 5, End: 20}))
	l.OnBatchCompleted(batch(2,
		dstream.PartitionInfo{Topic: "events", Partition: 0, From: 5, Until: 10, End: -1},
		dstream.PartitionInfo{Topic: "events", Partition: 1, From: 0, Until: 5, End: -1}))
	compare(t, col, lagHeader+`
spate_kafka_lag_records{input="k",partition="0",topic="events"} 15
`, "spate_kafka_lag_records")
}

// The inputs' availability, the checkpoints' writes and failures, and the records
// of inputs that can count them.
func TestInputsAndCheckpoints(t *testing.T) {
	col := New(dstream.NewContext(dstream.BatchInterval(time.Second)))
	l := listener{col}
	b := batch(1)
	b.Inputs["k"] = dstream.InputInfo{Records: 0, Unavailable: errors.New("brokers unreachable")}
	b.CheckpointDuration = 30 * time.Millisecond
	l.OnBatchCompleted(b)
	b = batch(2)
	b.CheckpointDuration, b.CheckpointErr = 2*time.Second, errors.New("disk full")
	l.OnBatchCompleted(b)
	l.OnBatchCompleted(batch(3)) // no checkpoint
	compare(t, col, `
# HELP spate_input_unavailable 1 if the input could not read all it should for the last batch (see dstream.InputInfo.Unavailable), else 0.
# TYPE spate_input_unavailable gauge
spate_input_unavailable{input="k"} 0
spate_input_unavailable{input="q"} 0
# HELP spate_input_records_total Records read by the batches completed without error, by input stream.
# TYPE spate_input_records_total counter
spate_input_records_total{input="k"} 20
# HELP spate_checkpoint_failures_total Batches whose checkpoint could not be written.
# TYPE spate_checkpoint_failures_total counter
spate_checkpoint_failures_total 1
# HELP spate_checkpoint_write_seconds How long writing a batch's checkpoint took.
# TYPE spate_checkpoint_write_seconds histogram
spate_checkpoint_write_seconds_bucket{le="0.005"} 0
spate_checkpoint_write_seconds_bucket{le="0.01"} 0
spate_checkpoint_write_seconds_bucket{le="0.025"} 0
spate_checkpoint_write_seconds_bucket{le="0.05"} 1
spate_checkpoint_write_seconds_bucket{le="0.1"} 1
spate_checkpoint_write_seconds_bucket{le="0.25"} 1
spate_checkpoint_write_seconds_bucket{le="0.5"} 1
spate_checkpoint_write_seconds_bucket{le="1"} 1
spate_checkpoint_write_seconds_bucket{le="2.5"} 2
spate_checkpoint_write_seconds_bucket{le="5"} 2
spate_checkpoint_write_seconds_bucket{le="10"} 2
spate_checkpoint_write_seconds_bucket{le="+Inf"} 2
spate_checkpoint_write_seconds_sum 2.03
spate_checkpoint_write_seconds_count 2
`, "spate_input_unavailable", "spate_input_records_total", "spate_checkpoint_failures_total", "spate_checkpoint_write_seconds")
	b = batch(4)
	b.Inputs["k"] = dstream.InputInfo{Records: 0, Unavailable: errors.New("brokers unreachable")}
	l.OnBatchCompleted(b)
	compare(t, col, `
# HELP spate_input_unavailable 1 if the input could not read all it should for the last batch (see dstream.InputInfo.Unavailable), else 0.
# TYPE spate_input_unavailable gauge
spate_input_unavailable{input="k"} 1
spate_input_unavailable{input="q"} 0
`, "spate_input_unavailable")
}

// Names that are not valid UTF-8 are shown with U+FFFD, not a panic.
func TestInvalidUTF8NamesAreReplaced(t *testing.T) {
	col := New(dstream.NewContext(dstream.BatchInterval(time.Second)))
	b := batch(1)
	b.Inputs["\xffin"] = dstream.InputInfo{Records: 1}
	b.StateKeys = map[string]int64{"\xffcounts": 3}
	listener{col}.OnBatchCompleted(b)
	compare(t, col, `
# HELP spate_state_keys Keys each named stateful stream holds in this process after the last batch.
# TYPE spate_state_keys gauge
spate_state_keys{state="�counts"} 3
# HELP spate_input_records_total Records read by the batches completed without error, by input stream.
# TYPE spate_input_records_total counter
spate_input_records_total{input="k"} 10
spate_input_records_total{input="�in"} 1
`, "spate_state_keys", "spate_input_records_total")
}
