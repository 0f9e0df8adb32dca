package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
)

// newProducer returns a franz-go client that produces as cfg says: its brokers,
// client id, acks (with AcksAll, writes are idempotent: a retried write is not
// stored twice), TLS, SASL, PollTimeout per produce request, and keyed records placed
// by Kafka's default partitioner (murmur2 of the key, as a keyed stream expects;
// records without a key are spread). kafka-go has no transactional producer, so
// Spate produces with franz-go's kgo wherever a producer outlives a batch or takes
// part in a transaction; it reads with kafka-go. kgo's RecordDeliveryTimeout counts
// from a record's timestamp, which a sink's records may set to any event time, so
// writes are bounded by their context instead (see produce).
func newProducer(cfg config, opts ...kgo.Opt) (*kgo.Client, error) {
	if len(cfg.brokers) == 0 {
		return nil, fmt.Errorf("kafka: no brokers (set Brokers)")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ClientID(cfg.clientID),
		kgo.ProduceRequestTimeout(cfg.pollTimeout),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.WithLogger(kgoLogger{cfg.logger}),
	}
	switch cfg.acks {
	case AcksAll:
		base = append(base, kgo.RequiredAcks(kgo.AllISRAcks()))
	case AcksLeader:
		base = append(base, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	default:
		base = append(base, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	}
	if cfg.tls != nil {
		base = append(base, kgo.DialTLSConfig(cfg.tls))
	}
	if cfg.sasl != nil {
		base = append(base, kgo.SASL(saslMechanism{cfg.sasl}))
	}
	return kgo.NewClient(append(base, opts...)...)
}

// saslMechanism lets franz-go authenticate with a kafka-go SASL mechanism (the SASL
// option takes kafka-go's, which the readers use).
type saslMechanism struct{ m sasl.Mechanism }

func (s saslMechanism) Name() string { return s.m.Name() }

func (s saslMechanism) Authenticate(ctx context.Context, host string) (kgosasl.Session, []byte, error) {
	ctx = sasl.WithMetadata(ctx, &sasl.Metadata{Host: host})
	sm, ir, err := s.m.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	return saslSession{ctx: ctx, sm: sm}, ir, nil
}

type saslSession struct {
	ctx context.Context
	sm  sasl.StateMachine
}

func (s saslSession) Challenge(challenge []byte) (bool, []byte, error) {
	return s.sm.Next(s.ctx, challenge)
}

// kgoLogger sends franz-go's log lines to the stream's logger: warnings and errors
// as such, the rest at debug level.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	}
	k.l.Log(context.Background(), lvl, "kafka producer: "+msg, keyvals...)
}

// produce writes recs and waits until each is acknowledged, for up to
// UnavailableTimeout (kgo retries retriable errors meanwhile), and returns the first
// failure, naming the record's topic and partition.
func produce(ctx context.Context, cl *kgo.Client, cfg *config, recs []*kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.unavailable)
	defer cancel()
	for _, res := range cl.ProduceSync(ctx, recs...) {
		if res.Err != nil {
			if errors.Is(res.Err, context.DeadlineExceeded) {
				res.Err = fmt.Errorf("%w: not acknowledged within UnavailableTimeout (%v): %w", ErrUnavailable, cfg.unavailable, res.Err)
			}
			return fmt.Errorf("writing to %s/%d: %w", res.Record.Topic, res.Record.Partition, res.Err)
		}
	}
	return nil
}
