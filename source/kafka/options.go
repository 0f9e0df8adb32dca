package kafka

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"time"

	"github.com/segmentio/kafka-go/sasl"

	"github.com/spatedev/spate/dstream"
)

// Reset says where a partition with no committed offset starts (Kafka's
// auto.offset.reset).
type Reset int

const (
	// Latest starts at the end of the partition: only records produced from now on.
	Latest Reset = iota
	// Earliest starts at the first record the partition still holds.
	Earliest
	// None fails: the stream's Run returns an error naming the partition.
	None
)

// String returns "latest", "earliest" or "none".
func (r Reset) String() string {
	switch r {
	case Latest:
		return "latest"
	case Earliest:
		return "earliest"
	case None:
		return "none"
	}
	return "Reset(?)"
}

// Acks is how many replicas must have a written record before a write succeeds.
type Acks int

const (
	// AcksAll waits for every in-sync replica (Kafka's acks=all).
	AcksAll Acks = -1
	// AcksNone does not wait at all: write errors go unnoticed.
	AcksNone Acks = 0
	// AcksLeader waits for the partition leader only.
	AcksLeader Acks = 1
)

// PID holds the gains of the backpressure rate estimator (Spark's
// spark.streaming.backpressure.pid.*).
type PID struct {
	// Proportional weighs the current error: the latest rate minus the rate the last
	// batch was processed at.
	Proportional float64
	// Integral weighs the accumulated error: the scheduling delay's backlog.
	Integral float64
	// Derivative weighs the error's change.
	Derivative float64
	// MinRate is the lowest rate, in records per second, the estimator proposes.
	MinRate float64
}

// DefaultPID returns Spark's defaults: proportional 1.0, integral 0.2, derivative 0,
// minimum rate 100 records per second.
func DefaultPID() PID { return PID{Proportional: 1, Integral: 0.2, MinRate: 100} }

// config is what the options set, for streams, clients and sinks alike.
type config struct {
	instance        string // the Context's, for the group balancer; set by the stream
	brokers         []string
	groupID         string
	clientID        string
	reset           Reset
	maxRate         float64
	maxRateFunc     func(TopicPartition) float64
	minRate         float64
	initialRate     float64
	backpressure    bool
	pid             PID
	fetchMaxBytes   int
	isolation       IsolationLevel
	transactional   bool
	repartitions    int
	onRestore       func(RestoreInfo)
	stateDir        string
	onRebalance     func(RebalanceInfo)
	onCommit        func(CommitInfo)
	pollTimeout     time.Duration
	tls             *tls.Config
	sasl            sasl.Mechanism
	failOnDataLoss  bool
	metadataRefresh time.Duration
	sessionTimeout  time.Duration
	unavailable     time.Duration
	missingTopics   time.Duration
	waitForTopics   bool
	logger          *slog.Logger
	onBadRecord     func(r Record[[]byte, []byte], err error) error
	acks            Acks
	recv            receiverConfig
}

func newConfig(opts []Opt) config {
	c := config{
		clientID:        "spate",
		reset:           Latest,
		minRate:         1,
		pid:             DefaultPID(),
		fetchMaxBytes:   4 << 20,
		pollTimeout:     10 * time.Second,
		failOnDataLoss:  true,
		metadataRefresh: 5 * time.Second,
		sessionTimeout:  10 * time.Second,
		unavailable:     5 * time.Minute,
		missingTopics:   time.Minute,
		acks:            AcksAll,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil { // WithLogger(nil), or none
		c.logger = slog.Default()
	}
	return c
}

// validateStream checks the options a stream uses, for Run to fail at start on a
// value it cannot use rather than ignore it.
func (c *config) validateStream() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("kafka: %w: %s(%v), want %s", dstream.ErrInvalid, name, v, want)
	}
	switch {
	case c.maxRate < 0 || math.IsNaN(c.maxRate):
		return bad("MaxRatePerPartition", c.maxRate, ">= 0")
	case c.minRate < 0 || math.IsNaN(c.minRate):
		return bad("MinRatePerPartition", c.minRate, ">= 0")
	case c.initialRate < 0 || math.IsNaN(c.initialRate):
		return bad("InitialRate", c.initialRate, ">= 0")
	case c.maxRate > 0 && c.maxRateFunc != nil:
		return fmt.Errorf("kafka: %w: both MaxRatePerPartition and MaxRatePerPartitionFunc are set: set one (the function can return the common rate)", dstream.ErrInvalid)
	case c.unavailable <= 0:
		return bad("UnavailableTimeout", c.unavailable, "> 0")
	case c.missingTopics <= 0:
		return bad("MissingTopicTimeout", c.missingTopics, "> 0 (WaitForTopics(true) waits without a bound)")
	case c.metadataRefresh <= 0:
		return bad("MetadataRefresh", c.metadataRefresh, "> 0")
	case c.sessionTimeout <= 0:
		return bad("SessionTimeout", c.sessionTimeout, "> 0")
	case c.isolation != ReadUncommitted && c.isolation != ReadCommitted:
		return bad("Isolation", c.isolation, "ReadUncommitted or ReadCommitted")
	}
	return nil
}

// maxRateOf returns the MaxRatePerPartition of tp, 0 for no cap; an error if
// MaxRatePerPartitionFunc gives a negative rate or NaN.
func (c *config) maxRateOf(tp TopicPartition) (float64, error) {
	if c.maxRateFunc == nil {
		return c.maxRate, nil
	}
	r := c.maxRateFunc(tp)
	if r < 0 || math.IsNaN(r) {
		return 0, fmt.Errorf("kafka: MaxRatePerPartitionFunc gives %v for %v, want >= 0", r, tp)
	}
	return r, nil
}

// Opt configures a Kafka stream, a Client or a sink.
type Opt func(*config)

// Brokers sets the bootstrap brokers, as host:port (Kafka's bootstrap.servers).
// Required.
func Brokers(addrs ...string) Opt { return func(c *config) { c.brokers = addrs } }

// GroupID sets the consumer group (Kafka's group.id): Subscribe and SubscribePattern
// share partitions among the group's members, offsets are committed and read back
// under it. Required for Subscribe, SubscribePattern and CommitAsync. Default: none.
// Use a separate group for each stream.
func GroupID(id string) Opt { return func(c *config) { c.groupID = id } }

// ClientID sets the client id the brokers see in their logs and quotas. Default:
// "spate".
func ClientID(id string) Opt { return func(c *config) { c.clientID = id } }

// OffsetReset says where a partition with no committed (or given) offset starts.
// Default: Latest, as Kafka's auto.offset.reset.
func OffsetReset(r Reset) Opt { return func(c *config) { c.reset = r } }

// MaxRatePerPartition caps the records read per partition per second: a batch reads
// at most rate × batch seconds from each partition (Spark's
// spark.streaming.kafka.maxRatePerPartition). Default: 0, no cap. A negative rate
// makes Run fail at start. For a cap that differs by partition, see
// MaxRatePerPartitionFunc.
func MaxRatePerPartition(rate float64) Opt { return func(c *config) { c.maxRate = rate } }

// MaxRatePerPartitionFunc caps each partition's records per second with its own rate,
// f(partition), asked for each partition at every batch (it must not block); 0 means
// no cap for that partition (Spark's
// PerPartitionConfig.maxRatePerPartition). It replaces MaxRatePerPartition: setting
// both makes Run fail at start, and a negative rate (or NaN) from f fails the batch,
// naming the partition. Default: none.
//
// Spark differs for a partition whose rate is 0 while others have one: without
// backpressure it caps that partition to MinRatePerPartition records per batch; here
// it reads with no cap.
func MaxRatePerPartitionFunc(f func(TopicPartition) float64) Opt {
	return func(c *config) { c.maxRateFunc = f }
}

// MinRatePerPartition is the least a rate limit lets a partition read per second:
// when MaxRatePerPartition, InitialRate or backpressure limit a batch, each partition
// may still read rate × batch seconds records (Spark's
// spark.streaming.kafka.minRatePerPartition). Default: 1. A negative rate makes Run
// fail at start.
//
// Spark's code applies this setting as a number of records per batch, whatever the
// batch interval, although its name and documentation say a rate; here it is a rate,
// as the name says: with 10-second batches, MinRatePerPartition(5) lets a partition
// read at least 50 records a batch where Spark lets it read 5.
func MinRatePerPartition(rate float64) Opt { return func(c *config) { c.minRate = rate } }

// InitialRate limits the first batch, and with backpressure every batch until the
// estimator has a rate, to this many records per second over all partitions (Spark's
// spark.streaming.backpressure.initialRate). Default: 0, no limit.
func InitialRate(rate float64) Opt { return func(c *config) { c.initialRate = rate } }

// Backpressure turns on rate control by a PID estimator fed with each batch's
// processing and scheduling delay (Spark's spark.streaming.backpressure.enabled).
// Default: off.
func Backpressure(on bool) Opt { return func(c *config) { c.backpressure = on } }

// BackpressurePID sets the backpressure estimator's gains. Default: DefaultPID().
func BackpressurePID(p PID) Opt { return func(c *config) { c.pid = p } }

// FetchMaxBytes caps the bytes one fetch request returns for a partition (Kafka's
// max.partition.fetch.bytes); a range is read in as many fetches as it needs.
// Default: 4 MiB.
func FetchMaxBytes(n int) Opt { return func(c *config) { c.fetchMaxBytes = n } }

// PollTimeout bounds each request to the brokers (a fetch, an offset lookup, a
// commit); failed requests are retried, with backoff, within a second PollTimeout
// (the fetches of a planned batch, within UnavailableTimeout).
// It is also how long Run can take to return when Stop comes while a broker does not
// answer. Default: 10s.
func PollTimeout(d time.Duration) Opt { return func(c *config) { c.pollTimeout = d } }

// IsolationLevel says which records of transactional producers a read returns, as
// Kafka's isolation.level does.
type IsolationLevel int8

const (
	// ReadUncommitted reads every record, those of open and aborted
	// transactions included, up to the end of the partition (Kafka's default).
	ReadUncommitted IsolationLevel = 0
	// ReadCommitted reads the records of committed transactions and of
	// non-transactional producers only, up to the last stable offset: the
	// first offset of a transaction still open.
	ReadCommitted IsolationLevel = 1
)

// Isolation sets the isolation level of the stream's reads: its batches end at the
// partition's end (ReadUncommitted) or its last stable offset (ReadCommitted), and
// with ReadCommitted the records of aborted transactions are skipped (kafka-go's own
// reader does not skip them: Spate does). Either way, the offsets of transaction
// markers are passed over. Default: ReadUncommitted, as Kafka's consumer and Spark.
func Isolation(l IsolationLevel) Opt { return func(c *config) { c.isolation = l } }

// Transactional makes NewSink write in the Kafka transaction of each batch of its
// Context, with the batch's changelog records and the source offsets of the
// Context's Subscribe streams (committed with their group's generation, so a member
// that lost its partitions is fenced): the transaction commits once the batch's
// outputs are written, or aborts if the batch fails, and consumers reading
// read_committed see each batch's records exactly once. Default: off; the sink's
// writes are at least once.
func Transactional() Opt { return func(c *config) { c.transactional = true } }

// RepartitionPartitions sets the partition count of the topic Repartition creates.
// Default: the most partitions of the topics the Context's other Subscribe streams
// read.
func RepartitionPartitions(n int) Opt { return func(c *config) { c.repartitions = n } }

// RestoreInfo describes the restore of one task's state from its changelog (see
// Keyed), for OnRestore.
type RestoreInfo struct {
	State     string         // the stateful stream's name
	Task      int            // the task: the partition number
	Changelog TopicPartition // the changelog partition read
	Records   int64          // the changelog records read
	LocalKeys int            // the keys read from the task's local copy (StateDir) first
	Keys      int            // the keys the task's state holds after it
	Took      time.Duration
}

// OnRestore calls f after each restore of a task's state from its changelog, from
// the goroutine that processes batches (before the batch that needed it): f must
// not block. The restores are logged too (Info). Default: none.
func OnRestore(f func(RestoreInfo)) Opt { return func(c *config) { c.onRestore = f } }

// StateDir keeps, in dir, a local copy of the state of each task a keyed stream
// stops owning (and of every task it owns when Run stops), with the changelog offset
// it reflects, as Kafka Streams' state directory: a later restore of the task in a
// process with the same StateDir reads the copy, then only the changelog records
// after it, instead of the whole changelog. A copy that the changelog no longer
// covers (a recreated or truncated topic) is discarded with a warning. Caveat, as in
// Kafka Streams: a key deleted after the copy whose tombstone compaction has removed
// (delete.retention.ms, default a day) comes back from an old copy. Default: none,
// every restore reads the whole changelog partition.
func StateDir(dir string) Opt { return func(c *config) { c.stateDir = dir } }

// RebalanceInfo describes a rebalance of a Subscribe stream's consumer group as the
// stream lived it, for OnRebalance.
type RebalanceInfo struct {
	Group      string
	Generation int32            // the generation the stream processes again in
	Partitions []TopicPartition // what the stream reads in it
	// Pause is how long the stream processed nothing of its own: from the end of
	// its previous generation (when the group began to rebalance: for a member
	// that died, once its session expired) to the end of the first batch processed
	// in the new one.
	Pause time.Duration
}

// OnRebalance calls f once the first batch of each new generation of a keyed or
// transactional Subscribe stream is processed (the pause of its rebalance), from
// the goroutine that processes batches: f must not block. Default: none.
func OnRebalance(f func(RebalanceInfo)) Opt { return func(c *config) { c.onRebalance = f } }

// CommitInfo describes offsets a consumer group committed, for OnCommit.
type CommitInfo struct {
	// Group is the consumer group the offsets were committed under.
	Group string
	// Offsets is, per partition, the offset committed: the next one to read.
	Offsets map[TopicPartition]int64
	// Transactional says the offsets were committed in a batch's Kafka transaction
	// (a keyed stream with changelogs, or a Transactional sink), not by CommitAsync
	// or a receiver stream.
	Transactional bool
}

// OnCommit calls f after every commit of a stream's offsets to Kafka that
// succeeded, whatever made it: CommitAsync (from the goroutine that commits, once
// per merged commit, after it and before CommitAsync's done functions), a batch's
// transaction (from the goroutine that processes batches, once the transaction has
// committed; not for an aborted one) or a receiver stream. f gets its own Offsets
// map and must not block. Failed commits are not reported here: CommitAsync's done
// function and the logs say them. Default: none. The Prometheus collector of
// metrics/prometheus takes it (Collector.Committed). Spark has only commitAsync's
// callback, one per call (here CommitAsync's done).
func OnCommit(f func(CommitInfo)) Opt { return func(c *config) { c.onCommit = f } }

// tellCommit tells OnCommit's function, if any, that offsets were committed under
// c's group.
func (c *config) tellCommit(offsets map[TopicPartition]int64, txn bool) {
	if c.onCommit != nil && len(offsets) > 0 {
		c.onCommit(CommitInfo{Group: c.groupID, Offsets: maps.Clone(offsets), Transactional: txn})
	}
}

// TLS sets the TLS configuration for connections to the brokers. Default: none,
// plaintext.
func TLS(cfg *tls.Config) Opt { return func(c *config) { c.tls = cfg } }

// SASL sets the SASL mechanism to authenticate with, such as kafka-go's plain.Mechanism
// or a scram.Mechanism. Default: none.
func SASL(m sasl.Mechanism) Opt { return func(c *config) { c.sasl = m } }

// FailOnDataLoss says what to do when offsets a stream still has to read are gone
// (deleted by retention, or the partition was recreated): true fails the batch with
// an error naming the partition and the lost offsets; false skips to the first offset
// still there, with a warning, and counts the lost records (see LostRecords).
// Default: true.
func FailOnDataLoss(fail bool) Opt { return func(c *config) { c.failOnDataLoss = fail } }

// MetadataRefresh sets how often a stream looks for new topics (SubscribePattern),
// topics created or deleted (Subscribe) and new partitions (Subscribe,
// SubscribePattern). Default: 5s. A value <= 0 makes Run fail at start.
func MetadataRefresh(d time.Duration) Opt { return func(c *config) { c.metadataRefresh = d } }

// SessionTimeout sets how long the group coordinator waits for a member's heartbeat
// before it rebalances the member's partitions to others (Kafka's
// session.timeout.ms). Default: 10s. A value <= 0 makes Run fail at start.
func SessionTimeout(d time.Duration) Opt { return func(c *config) { c.sessionTimeout = d } }

// UnavailableTimeout bounds how long a stream goes on while it cannot read: brokers
// unreachable, requests failing with retriable errors, a consumer group that assigns
// no partitions (rebalancing, or never settling). Meanwhile failed requests are
// retried with backoff, batches read nothing (or only what could be read) and say why
// in their dstream.InputInfo.Unavailable, which listeners see; once the stream has
// been unable to read for this long, the batch fails with an error naming the brokers
// and the partitions. Default: 5 minutes.
//
// For a direct stream: the offset lookup that plans a batch is retried within the
// batch for up to PollTimeout; if it still fails, the batch and the ones after it read
// nothing, their positions unchanged (nothing is skipped), while the lookup is tried
// again at later batches with backoff (100ms doubling up to 5s); the time is the
// Context's clock. The fetches of a batch already planned, which must be read, are
// retried for up to UnavailableTimeout (wall clock), also by a Client (CreateRDD).
// A warning is logged when the stream becomes unable to read, then at most every 30
// seconds, and an info when it reads again.
//
// For a receiver stream: what keeps it from receiving — being in a generation of its
// group, fetching a partition, writing its write-ahead log — is each an outage,
// measured in real time (receiving goes on in the background, whatever the Context's
// clock), retried, logged at most every 30 seconds, and named by every batch's
// InputInfo.Unavailable; the first batch after one has lasted this long fails.
//
// Either way the failure wraps ErrUnavailable. Spark has no such bound of its own: it
// relies on the Kafka consumer's timeouts. A value <= 0 makes Run (or NewClient) fail.
func UnavailableTimeout(d time.Duration) Opt { return func(c *config) { c.unavailable = d } }

// MissingTopicTimeout bounds how long a Subscribe stream goes on while topics it
// subscribes to do not exist: it reads the topics that exist, warns once per
// MetadataRefresh naming the missing ones (which the batches' InputInfo.Unavailable
// also names), joins the group again when they are created, and once they have been
// missing for this long (the Context's clock) fails the batch with an error wrapping
// ErrMissingTopic and naming them. Default: 1 minute. A value <= 0 makes Run fail at
// start; to wait for the topics however long it takes, use WaitForTopics. Spark (the
// Kafka consumer) waits for them silently.
func MissingTopicTimeout(d time.Duration) Opt { return func(c *config) { c.missingTopics = d } }

// WaitForTopics, when true, makes a Subscribe stream wait for missing topics to be
// created with no bound (MissingTopicTimeout does not apply), still warning once per
// MetadataRefresh that they are missing. Default: false.
func WaitForTopics(wait bool) Opt { return func(c *config) { c.waitForTopics = wait } }

// WithLogger sets the logger for rebalances, data loss, retries and commits. Default:
// slog.Default(), also when l is nil.
func WithLogger(l *slog.Logger) Opt { return func(c *config) { c.logger = l } }

// DeserializeErrorHandler decides what happens to a record whose key or value cannot
// be deserialized: h gets the raw record and the error; returning nil skips the
// record, returning an error fails the batch with it. Default: none, the batch fails
// with an error naming the topic, partition and offset.
func DeserializeErrorHandler(h func(raw Record[[]byte, []byte], err error) error) Opt {
	return func(c *config) { c.onBadRecord = h }
}

// RequiredAcks sets how many replicas must acknowledge a write of NewSink or
// WriteToKafka. Default: AcksAll.
func RequiredAcks(a Acks) Opt { return func(c *config) { c.acks = a } }
