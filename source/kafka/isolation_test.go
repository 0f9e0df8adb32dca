package kafka_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// txnProducer produces to b in transactions of its own id.
func txnProducer(t *testing.T, b *kafkatest.Broker, id string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.TransactionalID(id), kgo.DefaultProduceTopic("tx"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// inTxn produces values in one transaction, which it commits or aborts, or leaves
// open (end false).
func inTxn(t *testing.T, cl *kgo.Client, commit, end bool, values ...string) {
	t.Helper()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if end {
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
}

// A stream reads a topic written in transactions: ReadCommitted skips the records of
// aborted transactions and stops before an open one, ReadUncommitted reads them all;
// either way the offsets of the transaction markers are passed over (kafka-go's
// reader would see a gap there).
func TestIsolationLevels(t *testing.T) {
	for _, tc := range []struct {
		level        kafka.IsolationLevel
		first, after string
	}{
		{kafka.ReadCommitted, "a1 a2 c1 d1", "e1"},
		{kafka.ReadUncommitted, "a1 a2 b1 b2 c1 d1 e1", ""},
	} {
		name := map[kafka.IsolationLevel]string{kafka.ReadCommitted: "ReadCommitted", kafka.ReadUncommitted: "ReadUncommitted"}[tc.level]
		t.Run(name, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.Topic("tx", 1))
			p, q := txnProducer(t, b, "p"), txnProducer(t, b, "q")
			inTxn(t, p, true, true, "a1", "a2")
			inTxn(t, p, false, true, "b1", "b2")
			if err := b.Produce(context.Background(), "tx", kafkatest.Message{Value: []byte("c1")}); err != nil {
				t.Fatal(err)
			}
			inTxn(t, p, true, true, "d1")
			inTxn(t, q, true, false, "e1") // open

			r := newRun(t)
			s := kafka.NewDirectStream(r.c, kafka.Assign([]kafka.TopicPartition{{Topic: "tx", Partition: 0}}, nil),
				kafka.StringDeserializer(), kafka.StringDeserializer(), kafka.Brokers(b.Addrs()...),
				kafka.OffsetReset(kafka.Earliest), kafka.Isolation(tc.level))
			var (
				mu      sync.Mutex
				batches []string
			)
			s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
				recs, err := rdd.Collect(ctx, batch.RDD)
				var vs []string
				for _, rec := range recs {
					vs = append(vs, rec.Value)
				}
				mu.Lock()
				batches = append(batches, strings.Join(vs, " "))
				mu.Unlock()
				return err
			})
			r.start()
			r.batches(1)
			if err := q.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
			r.batches(1)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if want := []string{tc.first, tc.after}; !slices.Equal(batches, want) {
				t.Errorf("batches read %q, want %q", batches, want)
			}
		})
	}
}
