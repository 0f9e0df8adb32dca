// Package kafkatest starts an in-process Kafka-protocol broker on loopback, for the
// tests, examples and benchmarks of package kafka, and for anyone who wants a Kafka to
// try Spate with and no set-up.
//
// The broker is franz-go's kfake: it speaks the Kafka protocol (produce, fetch, list
// offsets, metadata, consumer groups, offset commit and fetch), so kafka-go and real
// external clients such as kcat talk to it as to any Kafka cluster. Its data lives in
// memory unless DataDir is given, in which case it survives a restart on the same
// directory. Fault injection: Fail answers chosen requests with an error, Hang leaves
// them unanswered, MoveLeader moves a partition's leader, DeleteRecords deletes records
// as retention would, Stop and Restart take the whole cluster down and up again on the
// same addresses (with DataDir, its data survives).
//
// In a test, New starts a broker and closes it when the test ends:
//
//	b := kafkatest.New(t, kafkatest.Topic("events", 4))
//	stream := kafka.NewDirectStream(ssc, kafka.Subscribe("events"),
//		kafka.StringDeserializer(), kafka.StringDeserializer(),
//		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"))
//
// Elsewhere (an example, a benchmark, a demo), Start returns the broker, and the
// caller closes it.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/spatedev/spate/dstream"
)

// Broker is a running in-process Kafka cluster of one or more brokers on loopback.
type Broker struct {
	addrs []string
	cfg   config
	kopts []kfake.Opt // to start the cluster again on the same ports (Restart)

	sasl sasl.Mechanism // how Produce authenticates, if the broker requires it

	mu      sync.Mutex
	c       *kfake.Cluster // replaced by Restart
	stopped bool
	closed  bool
	tr      *kafkago.Transport // for Produce
}

type config struct {
	sasl       *saslUser
	brokers    int
	topics     []topic
	autoCreate int
	dataDir    string
	minSession time.Duration
	ports      []int
	logger     *slog.Logger

	errs []error // the invalid option values
}

type topic struct {
	name       string
	partitions int
}

// An Opt configures a cluster (Start, New). A value an option does not accept makes
// Start fail with an error wrapping dstream.ErrInvalid that names the option.
type Opt interface{ apply(*config) }

// opt is an Opt.
type opt func(*config)

func (o opt) apply(c *config) { o(c) }

// invalid records that option name was given v, which it does not accept: want says
// what it does.
func (c *config) invalid(name string, v any, want string) {
	c.errs = append(c.errs, fmt.Errorf("kafkatest: %w: %s(%v), want %s", dstream.ErrInvalid, name, v, want))
}

// NumBrokers sets how many brokers the cluster has: at least 1. Default: 1.
func NumBrokers(n int) Opt {
	return opt(func(c *config) {
		c.brokers = n
		if n < 1 {
			c.invalid("NumBrokers", n, "at least 1")
		}
	})
}

// Topic creates a topic with the given number of partitions (at least 1) at start;
// the name must not be empty. Default: no topics.
func Topic(name string, partitions int) Opt {
	return opt(func(c *config) {
		c.topics = append(c.topics, topic{name, partitions})
		if name == "" || partitions < 1 {
			c.invalid("Topic", fmt.Sprintf("%q, %d", name, partitions), "a name and at least 1 partition")
		}
	})
}

// AutoCreate lets producing to, or asking metadata for, an unknown topic create it with
// the given number of partitions, at least 1. Default: off (an unknown topic is an
// error, as on a production cluster).
func AutoCreate(partitions int) Opt {
	return opt(func(c *config) {
		c.autoCreate = partitions
		if partitions < 1 {
			c.invalid("AutoCreate", partitions, "at least 1 partition")
		}
	})
}

// DataDir keeps the cluster's data and offsets in dir, so that a broker started again
// on the same directory finds them; an empty dir is an error. Default: none, in
// memory only.
func DataDir(dir string) Opt {
	return opt(func(c *config) {
		c.dataDir = dir
		if dir == "" {
			c.invalid("DataDir", `""`, "a directory")
		}
	})
}

// MinSessionTimeout sets the shortest consumer group session timeout the brokers
// accept (Kafka's group.min.session.timeout.ms), for tests of groups that must notice
// a lost member quickly. It takes a duration > 0. Default: 6s, as Kafka's.
func MinSessionTimeout(d time.Duration) Opt {
	return opt(func(c *config) {
		c.minSession = d
		if d <= 0 {
			c.invalid("MinSessionTimeout", d, "> 0")
		}
	})
}

// Ports sets the brokers' ports on 127.0.0.1, one per broker (as many as NumBrokers
// says), each from 0 (chosen by the system) to 65535. Default: ports chosen by the
// system.
func Ports(ports ...int) Opt {
	ports = slices.Clone(ports)
	return opt(func(c *config) {
		c.ports = ports
		if len(ports) == 0 || slices.ContainsFunc(ports, func(p int) bool { return p < 0 || p > 65535 }) {
			c.invalid("Ports", ports, "one port from 0 to 65535 per broker")
		}
	})
}

// WithLogger sets the logger for the broker's own messages (at debug level). Default: the
// broker logs nothing, also when l is nil.
func WithLogger(l *slog.Logger) Opt { return opt(func(c *config) { c.logger = l }) }

type saslUser struct{ method, user, pass string }

// SASL requires clients to authenticate with SASL, and creates the user (a superuser)
// with the given mechanism: "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512" (any other is
// an error), and a user name that is not empty. Produce authenticates as that user.
// Default: no authentication.
func SASL(method, user, password string) Opt {
	return opt(func(c *config) {
		c.sasl = &saslUser{method, user, password}
		if !slices.Contains([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, method) || user == "" {
			c.invalid("SASL", fmt.Sprintf("%q, %q, …", method, user), `"PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512", and a user`)
		}
	})
}

// New starts a cluster configured by opts, as Start does, for the test t: a failure
// to start is t.Fatal, and the cluster is closed when the test ends (t.Cleanup).
func New(t testing.TB, opts ...Opt) *Broker {
	t.Helper()
	b, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Start starts a cluster configured by opts and returns once it accepts connections.
// The caller closes it (Close).
func Start(opts ...Opt) (*Broker, error) {
	cfg := config{brokers: 1}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if len(cfg.ports) > 0 && len(cfg.ports) != cfg.brokers {
		cfg.invalid("Ports", cfg.ports, fmt.Sprintf("one port per broker (%d)", cfg.brokers))
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(cfg.brokers)}
	if cfg.autoCreate > 0 {
		kopts = append(kopts, kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(cfg.autoCreate))
	}
	if cfg.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(cfg.dataDir))
	}
	if len(cfg.ports) > 0 {
		kopts = append(kopts, kfake.Ports(cfg.ports...))
	}
	if cfg.minSession > 0 {
		kopts = append(kopts, kfake.GroupMinSessionTimeout(cfg.minSession))
	}
	if cfg.logger != nil {
		kopts = append(kopts, kfake.WithLogger(slogLogger{cfg.logger}))
	}
	var mech sasl.Mechanism
	if u := cfg.sasl; u != nil {
		var err error
		switch u.method {
		case "PLAIN":
			mech = plain.Mechanism{Username: u.user, Password: u.pass}
		case "SCRAM-SHA-256":
			mech, err = scram.Mechanism(scram.SHA256, u.user, u.pass)
		case "SCRAM-SHA-512":
			mech, err = scram.Mechanism(scram.SHA512, u.user, u.pass)
		default:
			err = fmt.Errorf("unknown SASL mechanism %q", u.method)
		}
		if err != nil {
			return nil, fmt.Errorf("kafkatest: %w", err)
		}
		kopts = append(kopts, kfake.EnableSASL(), kfake.Superuser(u.method, u.user, u.pass))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: starting the broker: %w", err)
	}
	b := &Broker{c: c, addrs: c.ListenAddrs(), cfg: cfg, kopts: kopts, sasl: mech}
	b.tr = &kafkago.Transport{SASL: mech}
	if err := b.createTopics(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// createTopics creates the topics of the Topic options; those restored from a data
// directory exist already.
func (b *Broker) createTopics() error {
	for _, t := range b.cfg.topics {
		if err := b.CreateTopic(t.name, t.partitions); err != nil && !errors.Is(err, errTopicExists) {
			return err
		}
	}
	return nil
}

// cluster returns the running cluster.
func (b *Broker) cluster() *kfake.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c
}

// Stop stops the brokers as a crash of the whole cluster would, for tests of outages:
// their connections close and new ones are refused until Restart. The broker's
// methods other than Restart and Close must not be called while it is stopped.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	b.stopped = true
	b.tr.CloseIdleConnections()
	b.c.Close()
}

// Restart starts a stopped cluster again on the same addresses. With DataDir the
// topics, records and committed offsets are back; without, the topics of the Topic
// options are created again, empty. Faults and hangs of before the stop are gone.
// It fails if another process took one of the ports meanwhile.
func (b *Broker) Restart() error {
	b.mu.Lock()
	if !b.stopped {
		b.mu.Unlock()
		return errors.New("kafkatest: Restart of a broker that is not stopped")
	}
	ports := make([]int, len(b.addrs))
	for i, a := range b.addrs {
		_, p, err := net.SplitHostPort(a)
		if err == nil {
			ports[i], err = strconv.Atoi(p)
		}
		if err != nil {
			b.mu.Unlock()
			return fmt.Errorf("kafkatest: the address %q: %w", a, err)
		}
	}
	c, err := kfake.NewCluster(append(slices.Clone(b.kopts), kfake.Ports(ports...))...)
	if err != nil {
		b.mu.Unlock()
		return fmt.Errorf("kafkatest: restarting the broker on %v: %w", b.addrs, err)
	}
	b.c, b.stopped = c, false
	b.tr = &kafkago.Transport{SASL: b.sasl}
	b.mu.Unlock()
	return b.createTopics()
}

var errTopicExists = errors.New("topic exists")

// Addrs returns the brokers' host:port addresses, the bootstrap servers to give a client.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Close stops the brokers and closes their connections. With a data directory, the
// data stays there for the next Start. Closing a closed broker does nothing.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.tr.CloseIdleConnections()
	b.c.Close()
}

// CreateTopic creates a topic with the given number of partitions.
func (b *Broker) CreateTopic(name string, partitions int) error {
	if partitions < 1 {
		return fmt.Errorf("kafkatest: topic %q with %d partitions, want at least 1", name, partitions)
	}
	c := b.cluster()
	if c.TopicInfo(name) != nil {
		return fmt.Errorf("kafkatest: creating topic %q: %w", name, errTopicExists)
	}
	if err := c.CreateTopic(name, int32(partitions), nil); err != nil {
		return fmt.Errorf("kafkatest: creating topic %q with %d partitions: %w", name, partitions, err)
	}
	// New connections, whose metadata knows the topic.
	b.mu.Lock()
	b.tr.CloseIdleConnections()
	b.tr = &kafkago.Transport{SASL: b.sasl}
	b.mu.Unlock()
	return nil
}

// Message is a record to produce.
type Message struct {
	// Partition is where the record goes.
	Partition int
	// Key and Value are the record's key and value; either may be nil.
	Key, Value []byte
	// Headers are the record's headers, if any.
	Headers map[string][]byte
	// Time is the record's timestamp; zero means now.
	Time time.Time
}

// Produce writes msgs to topic with acknowledgement from all in-sync replicas,
// preserving their order within each partition, and returns once every message is
// stored.
func (b *Broker) Produce(ctx context.Context, topic string, msgs ...Message) error {
	byPart := map[int][]kafkago.Record{}
	var order []int
	for _, m := range msgs {
		if _, ok := byPart[m.Partition]; !ok {
			order = append(order, m.Partition)
		}
		r := kafkago.Record{Time: m.Time, Key: bytesOrNil(m.Key), Value: bytesOrNil(m.Value)}
		for k, v := range m.Headers {
			r.Headers = append(r.Headers, kafkago.Header{Key: k, Value: v})
		}
		byPart[m.Partition] = append(byPart[m.Partition], r)
	}
	b.mu.Lock()
	client := &kafkago.Client{Addr: kafkago.TCP(b.addrs...), Transport: b.tr}
	b.mu.Unlock()
	for _, p := range order {
		recs := byPart[p]
		for len(recs) > 0 {
			// A request's batch stays well under the broker's 1 MiB message limit.
			n, size := 0, 0
			for n < len(recs) && (n == 0 || size < 256<<10) {
				size += recordSize(recs[n])
				n++
			}
			var err error
			if client, err = produceRetrying(ctx, client, b.freshClient, topic, p, recs[:n]); err != nil {
				return err
			}
			recs = recs[n:]
		}
	}
	return nil
}

// produceRetrying produces recs to a partition, retrying (for up to 10s) the errors a
// leader move causes, and with a fresh client (fresh) when client's cached metadata
// does not know the partition yet (one just added). It returns the client to go on
// with: fresh's replaces client's connections.
func produceRetrying(ctx context.Context, client *kafkago.Client, fresh func() *kafkago.Client, topic string, p int, recs []kafkago.Record) (*kafkago.Client, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Produce(ctx, &kafkago.ProduceRequest{
			Topic: topic, Partition: p, RequiredAcks: kafkago.RequireAll,
			Records: kafkago.NewRecordReader(recs...),
		})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		if (errors.Is(err, protocol.ErrNoPartition) || errors.Is(err, protocol.ErrNoTopic)) && time.Now().Before(deadline) {
			// The client's metadata, cached, predates the partition or topic.
			client = fresh()
			continue
		}
		var ke kafkago.Error
		if err == nil || !errors.As(err, &ke) || !ke.Temporary() || time.Now().After(deadline) {
			if err != nil {
				return client, fmt.Errorf("kafkatest: producing to %s/%d: %w", topic, p, err)
			}
			return client, nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return client, ctx.Err()
		}
	}
}

func recordSize(r kafkago.Record) int {
	n := 64
	if r.Key != nil {
		n += r.Key.Len()
	}
	if r.Value != nil {
		n += r.Value.Len()
	}
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func bytesOrNil(b []byte) kafkago.Bytes {
	if b == nil {
		return nil
	}
	return kafkago.NewBytes(b)
}

// freshClient replaces the broker's connections, so that the next requests read
// fresh metadata, and returns a client over them.
func (b *Broker) freshClient() *kafkago.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tr.CloseIdleConnections()
	b.tr = &kafkago.Transport{SASL: b.sasl}
	return &kafkago.Client{Addr: kafkago.TCP(b.addrs...), Transport: b.tr}
}

// Offsets returns the first (log start) and the end offset (the high watermark, one past
// the last record) of a partition.
func (b *Broker) Offsets(topic string, partition int) (first, end int64, err error) {
	pi := b.cluster().PartitionInfo(topic, int32(partition))
	if pi == nil {
		return 0, 0, fmt.Errorf("kafkatest: no partition %s/%d", topic, partition)
	}
	return pi.LogStartOffset, pi.HighWatermark, nil
}

// Committed returns the offsets group committed for topic's partitions (those with
// none are missing).
func (b *Broker) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	pis := b.cluster().PartitionInfos(topic)
	if pis == nil {
		return nil, fmt.Errorf("kafkatest: no topic %q", topic)
	}
	parts := make([]int, len(pis))
	for i, pi := range pis {
		parts[i] = int(pi.Partition)
	}
	b.mu.Lock()
	client := &kafkago.Client{Addr: kafkago.TCP(b.addrs...), Transport: b.tr}
	b.mu.Unlock()
	resp, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = resp.Error
	}
	out := map[int]int64{}
	if errors.Is(err, kafkago.GroupIdNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kafkatest: reading the offsets of group %q: %w", group, err)
	}
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// WaitGroup waits until group is stable with the given number of members (each
// consumer-group reader is one), or ctx ends.
func (b *Broker) WaitGroup(ctx context.Context, group string, members int) error {
	if _, err := b.cluster().WaitGroupStable(ctx, group, members); err != nil {
		return fmt.Errorf("kafkatest: waiting for group %q to have %d members: %w", group, members, err)
	}
	return nil
}

// Unreachable returns an address on loopback where nothing listens, for tests of
// brokers that cannot be reached.
func Unreachable() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	s.l.Debug(fmt.Sprintf(format, args...), "component", "kfake", "level", level.String())
}
