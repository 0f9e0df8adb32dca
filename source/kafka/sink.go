package kafka

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// WriteToKafka registers an output operation that writes every batch's pairs to topic
// (a Kafka sink, which Spark's DStream API does not have): each key and value is
// serialized, records go to the partition Kafka's default partitioner picks for their
// key (murmur2, as the Java client), and each RDD partition is written by its own task.
// It is NewSink with every record's topic set, and no headers or timestamps: one
// producer kept for the length of Run, writes acknowledged as RequiredAcks says
// (default: every in-sync replica), a failed write failing the batch, so delivery is
// at least once (a batch run again writes again), or exactly once with
// Transactional. opts are NewSink's.
func WriteToKafka[K comparable, V any](s *dstream.DStream[ops.KV[K, V]], topic string, keys Serializer[K], values Serializer[V], opts ...SinkOpt) {
	op := fmt.Sprintf("kafka.WriteToKafka(topic %q)", topic)
	if err := sinkArgs(s, keys == nil, values == nil); err != nil || topic == "" {
		if err == nil {
			err = errors.New("empty topic")
		}
		s.Context().ReportInvalid(op, err)
		return
	}
	cfg := newConfig(opts, SinkOpt.applySink)
	if reportInvalid(s.Context(), op, cfg.check()) {
		return
	}
	recs := dstream.Map(s, func(kv ops.KV[K, V]) ProducerRecord[K, V] {
		return ProducerRecord[K, V]{Topic: topic, Key: kv.Key, Value: kv.Value}
	})
	sink("kafka.WriteToKafka", recs, keys, values, cfg)
}

// ProducerRecord is a record for NewSink to write.
type ProducerRecord[K, V any] struct {
	// Topic is the topic to write to; it must not be empty.
	Topic string
	// Key and Value are serialized by the sink's serializers. A key serialized to
	// nil is written as no key, and the record goes to any partition; otherwise the
	// key picks the partition (murmur2, Kafka's default partitioner).
	Key   K
	Value V
	// Headers are written as they are.
	Headers []Header
	// Time is the record's timestamp; zero: the time of the write.
	Time time.Time
}

// NewSink registers an output operation that writes every batch's records to Kafka,
// each to its own topic, with its key, headers and timestamp, through one producer
// (franz-go's kgo) that the sink keeps for the length of the Context's Run: started
// with Run, flushed and closed when Run ends. Each RDD partition is written by its own task; a batch's output ends
// once every record is acknowledged as RequiredAcks says (default: by every in-sync
// replica, and then written idempotently: a retried write is not stored twice). A
// record that cannot be serialized, has no topic or cannot be written fails the
// batch, naming the batch, the topic and the cause; delivery is at least once (a
// batch run again writes again). A write that fails with a retriable error is
// retried for up to UnavailableTimeout (default 5 minutes). opts take Brokers
// (required), RequiredAcks, PollTimeout (per produce request), UnavailableTimeout,
// TLS, SASL, ClientID, WithLogger and Transactional, which writes each batch's
// records in the Context's transaction of the batch instead, exactly once. A bad
// argument or option value is reported to the Context (dstream.Context.ReportInvalid):
// Run fails before the first batch, naming it.
func NewSink[K, V any](s *dstream.DStream[ProducerRecord[K, V]], keys Serializer[K], values Serializer[V], opts ...SinkOpt) {
	const op = "kafka.NewSink"
	if err := sinkArgs(s, keys == nil, values == nil); err != nil {
		s.Context().ReportInvalid(op, err)
		return
	}
	cfg := newConfig(opts, SinkOpt.applySink)
	if reportInvalid(s.Context(), op, cfg.check()) {
		return
	}
	sink(op, s, keys, values, cfg)
}

// sinkArgs says what is missing of a sink's arguments: s, its Context, the key or
// value serializer; nil if nothing is.
func sinkArgs[T any](s *dstream.DStream[T], noKeys, noValues bool) error {
	switch {
	case s == nil:
		return errors.New("nil stream")
	case s.Context() == nil:
		return fmt.Errorf("%v belongs to no Context", s)
	case noKeys || noValues:
		return errors.New("nil key or value serializer")
	}
	return nil
}

// sink is NewSink with its arguments and configuration checked, whose errors name op.
func sink[K, V any](op string, s *dstream.DStream[ProducerRecord[K, V]], keys Serializer[K], values Serializer[V], cfg config) {
	// write produces recs, and waits until they are acknowledged.
	var write func(ctx context.Context, recs []*kgo.Record) error
	if cfg.transactional {
		write = txnOf(s.Context(), cfg).produce
	} else {
		svc := &sinkService{op: op, cfg: cfg}
		s.Context().AddService(svc)
		write = func(ctx context.Context, recs []*kgo.Record) error {
			return produce(ctx, svc.client(), &svc.cfg, recs)
		}
	}
	dstream.ForeachRDD(s, func(ctx context.Context, r *rdd.RDD[ProducerRecord[K, V]], t time.Time) error {
		return rdd.ForeachPartition(ctx, r, func(ctx context.Context, p int, in iter.Seq[ProducerRecord[K, V]]) error {
			const chunk = 5000
			recs := make([]*kgo.Record, 0, chunk)
			flush := func() error {
				if len(recs) == 0 {
					return nil
				}
				if err := write(ctx, recs); err != nil {
					return fmt.Errorf("%s: batch %v: %w", op, errfmt.Time(t), err)
				}
				recs = recs[:0]
				return nil
			}
			for rec := range in {
				kr, err := producerRecord(rec, keys, values)
				if err != nil {
					return fmt.Errorf("%s: batch %v: %w", op, errfmt.Time(t), err)
				}
				if recs = append(recs, kr); len(recs) == chunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		})
	})
}

// producerRecord serializes rec for kgo.
func producerRecord[K, V any](rec ProducerRecord[K, V], keys Serializer[K], values Serializer[V]) (*kgo.Record, error) {
	if rec.Topic == "" {
		return nil, fmt.Errorf("a record with key %v has no topic", rec.Key)
	}
	k, err := keys(rec.Topic, rec.Key)
	if err != nil {
		return nil, fmt.Errorf("serializing the key %v for %s: %w", rec.Key, rec.Topic, err)
	}
	v, err := values(rec.Topic, rec.Value)
	if err != nil {
		return nil, fmt.Errorf("serializing the value of key %v for %s: %w", rec.Key, rec.Topic, err)
	}
	kr := &kgo.Record{Topic: rec.Topic, Key: k, Value: v, Timestamp: rec.Time}
	for _, h := range rec.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr, nil
}

// sinkService is a sink's producer, kept for the length of Run.
type sinkService struct {
	op  string // the operator's name
	cfg config
	mu  sync.Mutex
	cl  *kgo.Client
}

func (s *sinkService) String() string { return fmt.Sprintf("%s(brokers %v)", s.op, s.cfg.brokers) }

func (s *sinkService) Start(context.Context) error {
	cl, err := newProducer(s.cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cl = cl
	s.mu.Unlock()
	return nil
}

func (s *sinkService) client() *kgo.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cl
}

// Stop closes the producer; every batch's writes were acknowledged in its output
// already, so there is nothing left to flush.
func (s *sinkService) Stop() error {
	s.mu.Lock()
	cl := s.cl
	s.cl = nil
	s.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	return nil
}
