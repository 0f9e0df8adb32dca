package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"

	"github.com/spatedev/spate/dstream"
)

// Options are typed by what they configure (see the package doc's "Options"): each
// constructor takes its own option interface, and an option's type satisfies the
// interfaces of the constructors it has an effect on.

// A StreamOpt configures a direct stream (NewDirectStream).
type StreamOpt interface{ applyStream(*config) }

// A ReceiverOpt configures a receiver stream (NewReceiverStream).
type ReceiverOpt interface{ applyReceiver(*config) }

// A ClientOpt configures a Client (NewClient).
type ClientOpt interface{ applyClient(*config) }

// A SinkOpt configures a sink (NewSink, WriteToKafka).
type SinkOpt interface{ applySink(*config) }

// A RepartitionOpt configures Repartition: the sink that writes its topic and the
// direct stream that reads it back.
type RepartitionOpt interface{ applyRepartition(*config) }

// setter sets an option in a config, recording an invalid value there (invalid).
type setter func(*config)

func (f setter) set(c *config) {
	if f != nil { // the zero value of an option type
		f(c)
	}
}

// CommonOpt is an option of every constructor: the connection to the brokers, its
// timeouts and the logger. It is a StreamOpt, a ReceiverOpt, a ClientOpt, a SinkOpt
// and a RepartitionOpt.
type CommonOpt struct{ f setter }

func (o CommonOpt) applyStream(c *config)      { o.f.set(c) }
func (o CommonOpt) applyReceiver(c *config)    { o.f.set(c) }
func (o CommonOpt) applyClient(c *config)      { o.f.set(c) }
func (o CommonOpt) applySink(c *config)        { o.f.set(c) }
func (o CommonOpt) applyRepartition(c *config) { o.f.set(c) }

// ReadOpt is an option of whatever reads records: how they are fetched, what is
// done with lost offsets and records that cannot be deserialized. It is a
// StreamOpt, a ReceiverOpt, a ClientOpt and a RepartitionOpt.
type ReadOpt struct{ f setter }

func (o ReadOpt) applyStream(c *config)      { o.f.set(c) }
func (o ReadOpt) applyReceiver(c *config)    { o.f.set(c) }
func (o ReadOpt) applyClient(c *config)      { o.f.set(c) }
func (o ReadOpt) applyRepartition(c *config) { o.f.set(c) }

// GroupOpt is an option of the streams that read as a member of a consumer group:
// the group, its session and its commits. It is a StreamOpt, a ReceiverOpt and a
// RepartitionOpt.
type GroupOpt struct{ f setter }

func (o GroupOpt) applyStream(c *config)      { o.f.set(c) }
func (o GroupOpt) applyReceiver(c *config)    { o.f.set(c) }
func (o GroupOpt) applyRepartition(c *config) { o.f.set(c) }

// IsolationOpt is the Isolation option: a StreamOpt, a ReceiverOpt and a ClientOpt
// (Repartition always reads read_committed).
type IsolationOpt struct{ f setter }

func (o IsolationOpt) applyStream(c *config)   { o.f.set(c) }
func (o IsolationOpt) applyReceiver(c *config) { o.f.set(c) }
func (o IsolationOpt) applyClient(c *config)   { o.f.set(c) }

// ResetOpt is the OffsetReset option: a StreamOpt and a ReceiverOpt (Repartition
// always starts at the earliest offset).
type ResetOpt struct{ f setter }

func (o ResetOpt) applyStream(c *config)   { o.f.set(c) }
func (o ResetOpt) applyReceiver(c *config) { o.f.set(c) }

// DirectOpt is an option of direct streams: rate control, and the state of the
// keyed streams over a Subscribe stream. It is a StreamOpt and a RepartitionOpt
// (Repartition reads its topic with a direct stream).
type DirectOpt struct{ f setter }

func (o DirectOpt) applyStream(c *config)      { o.f.set(c) }
func (o DirectOpt) applyRepartition(c *config) { o.f.set(c) }

// streamOnly, receiverOnly, sinkOnly and repartitionOnly are the options of one
// constructor only.
type (
	streamOnly      setter
	receiverOnly    setter
	sinkOnly        setter
	repartitionOnly setter
)

func (o streamOnly) applyStream(c *config)           { setter(o).set(c) }
func (o receiverOnly) applyReceiver(c *config)       { setter(o).set(c) }
func (o sinkOnly) applySink(c *config)               { setter(o).set(c) }
func (o repartitionOnly) applyRepartition(c *config) { setter(o).set(c) }

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
	return fmt.Sprintf("Reset(%d)", int(r))
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

// String returns "all", "none" or "leader".
func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksNone:
		return "none"
	case AcksLeader:
		return "leader"
	}
	return fmt.Sprintf("Acks(%d)", int(a))
}

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

// config is what the options set, for streams, clients and sinks alike; each
// constructor reads what its options can set.
type config struct {
	instance        string // the Context's, for the group balancer; set by the stream
	brokers         []string
	brokersSet      bool
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
	repartitions    int // 0: the default
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

	errs []error // the invalid option values
	// groupOnly names the options given that only a consumer group's member
	// uses (a Subscribe stream's, whose state alone goes to changelogs; a
	// receiver's): with Assign they would do nothing, which NewDirectStream
	// refuses.
	groupOnly []string
}

// newConfig returns the defaults with opts applied, each by apply; a nil option is
// skipped. Its check says what is wrong with it.
func newConfig[O comparable](opts []O, apply func(O, *config)) config {
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
		recv:            receiverConfig{blockInterval: 200 * time.Millisecond, budget: 256 << 20},
	}
	var none O
	for _, o := range opts {
		if o != none {
			apply(o, &c)
		}
	}
	if c.logger == nil { // WithLogger(nil), or none
		c.logger = slog.Default()
	}
	return c
}

// invalid records that option name was given v, which it does not accept: want
// says what it does.
func (c *config) invalid(name string, v any, want string) {
	c.errs = append(c.errs, fmt.Errorf("%s(%v), want %s", name, v, want))
}

// check returns what is wrong with c: the invalid option values, a missing Brokers,
// and options that contradict each other. Each constructor reports them, wrapping
// dstream.ErrInvalid, and adds what it needs more.
func (c *config) check() []error {
	errs := slices.Clone(c.errs)
	if !c.brokersSet {
		errs = append(errs, errors.New("no brokers (set Brokers)"))
	}
	if c.maxRate > 0 && c.maxRateFunc != nil {
		errs = append(errs, errors.New("both MaxRatePerPartition and MaxRatePerPartitionFunc are set: set one (the function can return the common rate)"))
	}
	if c.transactional && c.acks != AcksAll {
		errs = append(errs, fmt.Errorf("RequiredAcks(%v) with Transactional, want AcksAll (a transaction writes idempotently, acknowledged by every in-sync replica)", c.acks))
	}
	return errs
}

// reportInvalid reports errs, construction errors of op, to ctx (see
// dstream.Context.ReportInvalid), and says whether there were any.
func reportInvalid(ctx *dstream.Context, op string, errs []error) bool {
	for _, err := range errs {
		ctx.ReportInvalid(op, err)
	}
	return len(errs) > 0
}

// quoted returns ss quoted and separated by commas.
func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// positive checks that the duration option name is > 0.
func (c *config) positive(name string, d time.Duration) {
	if d <= 0 {
		c.invalid(name, d, "> 0")
	}
}

// rate checks that the rate option name is a finite number >= 0.
func (c *config) rate(name string, r float64) {
	if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		c.invalid(name, r, "a finite rate >= 0")
	}
}

// notNil checks that the function option name is not nil.
func (c *config) notNil(name string, isNil bool) {
	if isNil {
		c.invalid(name, "nil", "a function")
	}
}

// maxRateOf returns the MaxRatePerPartition of tp, 0 for no cap; an error if
// MaxRatePerPartitionFunc gives a negative or infinite rate, or NaN.
func (c *config) maxRateOf(tp TopicPartition) (float64, error) {
	if c.maxRateFunc == nil {
		return c.maxRate, nil
	}
	r := c.maxRateFunc(tp)
	if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("kafka: MaxRatePerPartitionFunc gives %v for %v, want a finite rate >= 0", r, tp)
	}
	return r, nil
}

// Brokers sets the bootstrap brokers, as host:port (Kafka's bootstrap.servers).
// Required, with at least one address, none empty.
func Brokers(addrs ...string) CommonOpt {
	addrs = slices.Clone(addrs)
	return CommonOpt{func(c *config) {
		c.brokers, c.brokersSet = addrs, true
		if len(addrs) == 0 || slices.Contains(addrs, "") {
			c.errs = append(c.errs, fmt.Errorf("Brokers(%s), want at least one address, none empty", quoted(addrs)))
		}
	}}
}

// GroupID sets the consumer group (Kafka's group.id): Subscribe and SubscribePattern
// share partitions among the group's members, offsets are committed and read back
// under it. Required for Subscribe, SubscribePattern, CommitAsync, a receiver stream
// and Repartition; an empty id is an error. Default: none. Use a separate group for
// each stream.
func GroupID(id string) GroupOpt {
	return GroupOpt{func(c *config) {
		c.groupID = id
		if id == "" {
			c.invalid("GroupID", `""`, "a group id")
		}
	}}
}

// ClientID sets the client id the brokers see in their logs and quotas; an empty id
// is an error. Default: "spate".
func ClientID(id string) CommonOpt {
	return CommonOpt{func(c *config) {
		c.clientID = id
		if id == "" {
			c.invalid("ClientID", `""`, "a client id")
		}
	}}
}

// OffsetReset says where a partition with no committed (or given) offset starts:
// Latest, Earliest or None (any other value is an error). Default: Latest, as
// Kafka's auto.offset.reset.
func OffsetReset(r Reset) ResetOpt {
	return ResetOpt{func(c *config) {
		c.reset = r
		if r != Latest && r != Earliest && r != None {
			c.invalid("OffsetReset", r, "Latest, Earliest or None")
		}
	}}
}

// MaxRatePerPartition caps the records read per partition per second: a batch reads
// at most rate × batch seconds from each partition (Spark's
// spark.streaming.kafka.maxRatePerPartition). It takes a finite rate >= 0, 0 for no
// cap. Default: 0, no cap. For a cap that differs by partition, see
// MaxRatePerPartitionFunc.
func MaxRatePerPartition(rate float64) DirectOpt {
	return DirectOpt{func(c *config) {
		c.maxRate = rate
		c.rate("MaxRatePerPartition", rate)
	}}
}

// MaxRatePerPartitionFunc caps each partition's records per second with its own rate,
// f(partition), asked for each partition at every batch (it must not block); 0 means
// no cap for that partition (Spark's PerPartitionConfig.maxRatePerPartition). f must
// not be nil. It replaces MaxRatePerPartition: setting both is an error, and a
// negative or infinite rate (or NaN) from f fails the batch, naming the partition.
// Default: none.
//
// Spark differs for a partition whose rate is 0 while others have one: without
// backpressure it caps that partition to MinRatePerPartition records per batch; here
// it reads with no cap.
func MaxRatePerPartitionFunc(f func(TopicPartition) float64) DirectOpt {
	return DirectOpt{func(c *config) {
		c.maxRateFunc = f
		c.notNil("MaxRatePerPartitionFunc", f == nil)
	}}
}

// MinRatePerPartition is the least a rate limit lets a partition read per second:
// when MaxRatePerPartition, InitialRate or backpressure limit a batch, each partition
// may still read rate × batch seconds records (Spark's
// spark.streaming.kafka.minRatePerPartition). It takes a finite rate >= 0. Default: 1.
//
// Spark's code applies this setting as a number of records per batch, whatever the
// batch interval, although its name and documentation say a rate; here it is a rate,
// as the name says: with 10-second batches, MinRatePerPartition(5) lets a partition
// read at least 50 records a batch where Spark lets it read 5.
func MinRatePerPartition(rate float64) DirectOpt {
	return DirectOpt{func(c *config) {
		c.minRate = rate
		c.rate("MinRatePerPartition", rate)
	}}
}

// InitialRate limits the first batch, and with backpressure every batch until the
// estimator has a rate, to this many records per second over all partitions (Spark's
// spark.streaming.backpressure.initialRate). It takes a finite rate >= 0, 0 for no
// limit. Default: 0, no limit.
func InitialRate(rate float64) DirectOpt {
	return DirectOpt{func(c *config) {
		c.initialRate = rate
		c.rate("InitialRate", rate)
	}}
}

// Backpressure turns on rate control by a PID estimator fed with each batch's
// processing and scheduling delay (Spark's spark.streaming.backpressure.enabled).
// Default: off.
func Backpressure(on bool) DirectOpt { return DirectOpt{func(c *config) { c.backpressure = on }} }

// BackpressurePID sets the backpressure estimator's gains: as in Spark, the three
// gains must be finite and >= 0, and MinRate finite and > 0. Default: DefaultPID().
func BackpressurePID(p PID) DirectOpt {
	return DirectOpt{func(c *config) {
		c.pid = p
		finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
		if !finite(p.Proportional) || !finite(p.Integral) || !finite(p.Derivative) || !finite(p.MinRate) ||
			p.Proportional < 0 || p.Integral < 0 || p.Derivative < 0 || p.MinRate <= 0 {
			c.invalid("BackpressurePID", fmt.Sprintf("%+v", p), "finite gains >= 0 and a finite MinRate > 0")
		}
	}}
}

// FetchMaxBytes caps the bytes one fetch request returns for a partition (Kafka's
// max.partition.fetch.bytes); a range is read in as many fetches as it needs. It
// takes 1 to 2147483647 (math.MaxInt32). Default: 4 MiB.
func FetchMaxBytes(n int) ReadOpt {
	return ReadOpt{func(c *config) {
		c.fetchMaxBytes = n
		if n < 1 || n > math.MaxInt32 {
			c.invalid("FetchMaxBytes", n, "1 to 2147483647")
		}
	}}
}

// PollTimeout bounds each request to the brokers (a fetch, an offset lookup, a
// commit, a produce request); failed requests are retried, with backoff, within a
// second PollTimeout (the fetches of a planned batch, within UnavailableTimeout).
// It is also how long Run can take to return when Stop comes while a broker does not
// answer. It takes a duration > 0. Default: 10s.
func PollTimeout(d time.Duration) CommonOpt {
	return CommonOpt{func(c *config) {
		c.pollTimeout = d
		c.positive("PollTimeout", d)
	}}
}

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

// String returns "read_uncommitted" or "read_committed".
func (l IsolationLevel) String() string {
	switch l {
	case ReadUncommitted:
		return "read_uncommitted"
	case ReadCommitted:
		return "read_committed"
	}
	return fmt.Sprintf("IsolationLevel(%d)", int(l))
}

// Isolation sets the isolation level of the reads: ReadUncommitted or ReadCommitted
// (any other value is an error). A stream's batches end at the partition's end
// (ReadUncommitted) or its last stable offset (ReadCommitted), and with
// ReadCommitted the records of aborted transactions are skipped (kafka-go's own
// reader does not skip them: Spate does). Either way, the offsets of transaction
// markers are passed over. Default: ReadUncommitted, as Kafka's consumer and Spark.
func Isolation(l IsolationLevel) IsolationOpt {
	return IsolationOpt{func(c *config) {
		c.isolation = l
		if l != ReadUncommitted && l != ReadCommitted {
			c.invalid("Isolation", l, "ReadUncommitted or ReadCommitted")
		}
	}}
}

// Transactional makes NewSink write in the Kafka transaction of each batch of its
// Context, with the batch's changelog records and the source offsets of the
// Context's Subscribe streams (committed with their group's generation, so a member
// that lost its partitions is fenced): the transaction commits once the batch's
// outputs are written, or aborts if the batch fails, and consumers reading
// read_committed see each batch's records exactly once. It needs RequiredAcks
// AcksAll (the default). Default: off; the sink's writes are at least once.
func Transactional() SinkOpt { return sinkOnly(func(c *config) { c.transactional = true }) }

// RepartitionPartitions sets the partition count of the topic Repartition creates:
// 1 to 2147483647 (math.MaxInt32). Default: the most partitions of the topics the
// Context's other Subscribe streams read.
func RepartitionPartitions(n int) RepartitionOpt {
	return repartitionOnly(func(c *config) {
		c.repartitions = n
		if n < 1 || n > math.MaxInt32 {
			c.invalid("RepartitionPartitions", n, "1 to 2147483647")
		}
	})
}

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
// not block, nor be nil. The restores are logged too (Info). A direct stream under
// Assign keeps no changelogs: OnRestore is an error there. Default: none.
func OnRestore(f func(RestoreInfo)) DirectOpt {
	return DirectOpt{func(c *config) {
		c.onRestore = f
		c.notNil("OnRestore", f == nil)
		c.groupOnly = append(c.groupOnly, "OnRestore")
	}}
}

// StateDir keeps, in dir, a local copy of the state of each task a keyed stream
// stops owning (and of every task it owns when Run stops), with the changelog offset
// it reflects, as Kafka Streams' state directory: a later restore of the task in a
// process with the same StateDir reads the copy, then only the changelog records
// after it, instead of the whole changelog. A copy that the changelog no longer
// covers (a recreated or truncated topic) is discarded with a warning. Caveat, as in
// Kafka Streams: a key deleted after the copy whose tombstone compaction has removed
// (delete.retention.ms, default a day) comes back from an old copy. An empty dir is
// an error, and so is StateDir on a direct stream under Assign, which keeps no
// changelogs. Default: none, every restore reads the whole changelog partition.
func StateDir(dir string) DirectOpt {
	return DirectOpt{func(c *config) {
		c.stateDir = dir
		c.groupOnly = append(c.groupOnly, "StateDir")
		if dir == "" {
			c.invalid("StateDir", `""`, "a directory")
		}
	}}
}

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
// the goroutine that processes batches: f must not block, nor be nil. Under Assign,
// which has no group to rebalance, it is an error. Default: none.
func OnRebalance(f func(RebalanceInfo)) DirectOpt {
	return DirectOpt{func(c *config) {
		c.onRebalance = f
		c.notNil("OnRebalance", f == nil)
		c.groupOnly = append(c.groupOnly, "OnRebalance")
	}}
}

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
// map and must not block, nor be nil. Failed commits are not reported here:
// CommitAsync's done function and the logs say them. Default: none. The Prometheus
// collector of metrics/prometheus takes it (Collector.Committed). Spark has only
// commitAsync's callback, one per call (here CommitAsync's done).
func OnCommit(f func(CommitInfo)) GroupOpt {
	return GroupOpt{func(c *config) {
		c.onCommit = f
		c.notNil("OnCommit", f == nil)
	}}
}

// tellCommit tells OnCommit's function, if any, that offsets were committed under
// c's group.
func (c *config) tellCommit(offsets map[TopicPartition]int64, txn bool) {
	if c.onCommit != nil && len(offsets) > 0 {
		c.onCommit(CommitInfo{Group: c.groupID, Offsets: maps.Clone(offsets), Transactional: txn})
	}
}

// TLS sets the TLS configuration for connections to the brokers; nil is an error
// (leave TLS out for plaintext). Default: none, plaintext.
func TLS(cfg *tls.Config) CommonOpt {
	return CommonOpt{func(c *config) {
		c.tls = cfg
		if cfg == nil {
			c.invalid("TLS", "nil", "a *tls.Config (leave TLS out for plaintext)")
		}
	}}
}

// SASL sets the SASL mechanism to authenticate with, such as kafka-go's
// plain.Mechanism or a scram.Mechanism; nil is an error (leave SASL out for none).
// Default: none.
func SASL(m sasl.Mechanism) CommonOpt {
	return CommonOpt{func(c *config) {
		c.sasl = m
		if m == nil {
			c.invalid("SASL", "nil", "a mechanism (leave SASL out for none)")
		}
	}}
}

// FailOnDataLoss says what to do when offsets a stream or a Client still has to read
// are gone (deleted by retention, or the partition was recreated): true fails the
// batch (or the read) with an error naming the partition and the lost offsets; false
// skips to the first offset still there, with a warning, and counts the lost records
// (see LostRecords). Default: true.
func FailOnDataLoss(fail bool) ReadOpt { return ReadOpt{func(c *config) { c.failOnDataLoss = fail }} }

// MetadataRefresh sets how often a stream looks for new topics (SubscribePattern),
// topics created or deleted (Subscribe) and new partitions (Subscribe,
// SubscribePattern, a receiver stream), and how long the cluster's metadata (which
// broker leads which partition) is cached, by a Client too. It takes a duration > 0.
// Default: 5s.
func MetadataRefresh(d time.Duration) ReadOpt {
	return ReadOpt{func(c *config) {
		c.metadataRefresh = d
		c.positive("MetadataRefresh", d)
	}}
}

// SessionTimeout sets how long the group coordinator waits for a member's heartbeat
// before it rebalances the member's partitions to others (Kafka's
// session.timeout.ms). It takes a duration > 0, which the brokers may further bound
// (group.min.session.timeout.ms, group.max.session.timeout.ms: a value out of their
// bounds makes Run fail at start). A direct stream under Assign is no group's
// member: SessionTimeout is an error there. Default: 10s.
func SessionTimeout(d time.Duration) GroupOpt {
	return GroupOpt{func(c *config) {
		c.sessionTimeout = d
		c.positive("SessionTimeout", d)
		c.groupOnly = append(c.groupOnly, "SessionTimeout")
	}}
}

// UnavailableTimeout bounds how long a stream goes on while it cannot read: brokers
// unreachable, requests failing with retriable errors, a consumer group that assigns
// no partitions (rebalancing, or never settling). Meanwhile failed requests are
// retried with backoff, batches read nothing (or only what could be read) and say why
// in their dstream.InputInfo.Unavailable, which listeners see; once the stream has
// been unable to read for this long, the batch fails with an error naming the brokers
// and the partitions. It takes a duration > 0. Default: 5 minutes.
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
// For a sink: a write not acknowledged within it fails the batch.
//
// Either way the failure wraps ErrUnavailable. Spark has no such bound of its own: it
// relies on the Kafka consumer's timeouts.
func UnavailableTimeout(d time.Duration) CommonOpt {
	return CommonOpt{func(c *config) {
		c.unavailable = d
		c.positive("UnavailableTimeout", d)
	}}
}

// MissingTopicTimeout bounds how long a Subscribe stream goes on while topics it
// subscribes to do not exist: it reads the topics that exist, warns once per
// MetadataRefresh naming the missing ones (which the batches' InputInfo.Unavailable
// also names), joins the group again when they are created, and once they have been
// missing for this long (the Context's clock) fails the batch with an error wrapping
// ErrMissingTopic and naming them. It takes a duration > 0; to wait for the topics
// however long it takes, use WaitForTopics. Under Assign, whose partitions must
// exist when Run starts, it is an error. Default: 1 minute. Spark (the Kafka
// consumer) waits for them silently.
func MissingTopicTimeout(d time.Duration) StreamOpt {
	return streamOnly(func(c *config) {
		c.missingTopics = d
		c.groupOnly = append(c.groupOnly, "MissingTopicTimeout")
		if d <= 0 {
			c.invalid("MissingTopicTimeout", d, "> 0 (WaitForTopics(true) waits without a bound)")
		}
	})
}

// WaitForTopics, when true, makes a Subscribe stream wait for missing topics to be
// created with no bound (MissingTopicTimeout does not apply), still warning once per
// MetadataRefresh that they are missing. Under Assign it is an error, as
// MissingTopicTimeout is. Default: false.
func WaitForTopics(wait bool) StreamOpt {
	return streamOnly(func(c *config) {
		c.waitForTopics = wait
		c.groupOnly = append(c.groupOnly, "WaitForTopics")
	})
}

// WithLogger sets the logger for rebalances, data loss, retries and commits. Default:
// slog.Default(), also when l is nil.
func WithLogger(l *slog.Logger) CommonOpt { return CommonOpt{func(c *config) { c.logger = l }} }

// DeserializeErrorHandler decides what happens to a record whose key or value cannot
// be deserialized: h gets the raw record and the error; returning nil skips the
// record, returning an error fails the batch (or CreateRDD's read) with it. h must
// not be nil. Default: none, the batch fails with an error naming the topic,
// partition and offset.
func DeserializeErrorHandler(h func(raw Record[[]byte, []byte], err error) error) ReadOpt {
	return ReadOpt{func(c *config) {
		c.onBadRecord = h
		c.notNil("DeserializeErrorHandler", h == nil)
	}}
}

// RequiredAcks sets how many replicas must acknowledge a write of NewSink or
// WriteToKafka: AcksAll, AcksLeader or AcksNone (any other value is an error; with
// Transactional, only AcksAll). Default: AcksAll.
func RequiredAcks(a Acks) SinkOpt {
	return sinkOnly(func(c *config) {
		c.acks = a
		if a != AcksAll && a != AcksLeader && a != AcksNone {
			c.invalid("RequiredAcks", a, "AcksAll, AcksLeader or AcksNone")
		}
	})
}
