package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestSASL reads a topic from a broker that requires SASL, with PLAIN and with
// SCRAM-SHA-256 (the consumer group's connections authenticate too), and checks that
// a wrong password fails Run.
func TestSASL(t *testing.T) {
	scramMech := func(pass string) sasl.Mechanism {
		m, err := scram.Mechanism(scram.SHA256, "spate", pass)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		method    string
		good, bad sasl.Mechanism
	}{
		{"PLAIN", plain.Mechanism{Username: "spate", Password: "secret"}, plain.Mechanism{Username: "spate", Password: "wrong"}},
		{"SCRAM-SHA-256", scramMech("secret"), scramMech("wrong")},
	} {
		t.Run(c.method, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.SASL(c.method, "spate", "secret"), kafkatest.Topic("events", 2))
			produce(t, b, "events", 2, 0, 10, "v")
			r := newRun(t)
			s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest), kafka.SASL(c.good))
			var col collector
			s.ForeachBatch(col.foreach)
			r.start()
			r.batches(1)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if n := len(col.values()); n != 10 {
				t.Errorf("read %d records, want 10", n)
			}

			r = newRun(t)
			kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.SASL(c.bad), kafka.PollTimeout(time.Second)).
				ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
			// The broker closes the connection of a failed authentication.
			if err := r.c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "brokers ["+b.Addrs()[0]) {
				t.Errorf("with a wrong password: Run = %v, want an error naming the broker", err)
			}
		})
	}
}
