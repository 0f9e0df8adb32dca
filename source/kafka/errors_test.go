package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
)

// A sink or stream built with an invalid argument fails Run before the first
// batch, with an error wrapping dstream.ErrInvalid (which is rdd.ErrInvalid) and
// naming the operator and what was wrong.
func TestConstructionErrorsNameTheOperatorAndWrapErrInvalid(t *testing.T) {
	pairs := func(c *dstream.Context) *dstream.DStream[ops.KV[string, string]] {
		s, _ := dstream.QueueStream(c, dstream.OneAtATime, []ops.KV[string, string]{{Key: "k", Value: "v"}})
		return s
	}
	tests := []struct {
		name  string
		build func(c *dstream.Context)
		want  []string // in the error
	}{
		{"WriteToKafka, empty topic", func(c *dstream.Context) {
			kafka.WriteToKafka(pairs(c), "", kafka.StringSerializer(), kafka.StringSerializer())
		}, []string{`kafka.WriteToKafka(topic "")`, "empty topic"}},
		{"WriteToKafka, nil serializer", func(c *dstream.Context) {
			kafka.WriteToKafka(pairs(c), "out", nil, kafka.StringSerializer())
		}, []string{`kafka.WriteToKafka(topic "out")`, "serializer"}},
		{"WriteToKafka, nil stream", func(*dstream.Context) {
			kafka.WriteToKafka(nil, "out", kafka.StringSerializer(), kafka.StringSerializer())
		}, []string{`kafka.WriteToKafka(topic "out")`, "nil stream"}},
		{"NewSink, nil serializer", func(c *dstream.Context) {
			recs := dstream.Map(pairs(c), func(kv ops.KV[string, string]) kafka.ProducerRecord[string, string] {
				return kafka.ProducerRecord[string, string]{Topic: "out", Key: kv.Key, Value: kv.Value}
			})
			kafka.NewSink(recs, kafka.StringSerializer(), nil)
		}, []string{"kafka.NewSink", "serializer"}},
		{"Repartition, nil stream", func(*dstream.Context) {
			kafka.Repartition(nil, "r", kafka.StringSerde(), kafka.StringSerde())
		}, []string{`kafka.Repartition "r"`, "nil stream"}},
		{"Repartition, no GroupID", func(c *dstream.Context) {
			kafka.Repartition(pairs(c), "r", kafka.StringSerde(), kafka.StringSerde())
		}, []string{`kafka.Repartition "r"`, "no GroupID"}},
		{"Repartition, empty name", func(c *dstream.Context) {
			kafka.Repartition(pairs(c), "", kafka.StringSerde(), kafka.StringSerde(), kafka.GroupID("g"))
		}, []string{`kafka.Repartition ""`, "empty name"}},
		{"Keyed, nil serializer", func(c *dstream.Context) {
			kafka.Keyed(kafka.NewDirectStream(c, kafka.Subscribe("in"), kafka.StringDeserializer(), kafka.StringDeserializer()), nil)
		}, []string{"kafka.Keyed", "nil stream or key serializer"}},
		{"ForeachBatch, nil function", func(c *dstream.Context) {
			kafka.NewDirectStream(c, kafka.Subscribe("in"), kafka.StringDeserializer(), kafka.StringDeserializer()).ForeachBatch(nil)
		}, []string{"kafka.DirectStream.ForeachBatch", "nil function"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(epoch)))
			tt.build(c)
			err := c.Run(context.Background())
			if !errors.Is(err, dstream.ErrInvalid) || !errors.Is(err, rdd.ErrInvalid) {
				t.Fatalf("Run: %v; want an error wrapping ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Run: %v; want it to say %q", err, w)
				}
			}
		})
	}
}

// CreateRDD's invalid arguments are errors wrapping ErrInvalid (for NewClient's
// options, see TestNewClientRejectsInvalidOptions).
func TestCreateRDDInvalidArgumentsWrapErrInvalid(t *testing.T) {
	if _, err := kafka.CreateRDD[string, string](context.Background(), nil, rdd.NewEngine(), nil, nil, nil); !errors.Is(err, rdd.ErrInvalid) {
		t.Errorf("CreateRDD(nil client): %v; want an error wrapping ErrInvalid", err)
	}
}
