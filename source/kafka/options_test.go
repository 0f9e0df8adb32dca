package kafka_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestInvalidOptionsFailRunAtStart checks that option values a stream cannot use
// make Run fail before the first batch, naming the option, rather than being ignored.
func TestInvalidOptionsFailRunAtStart(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	for _, tc := range []struct {
		opt  kafka.Opt
		want string
	}{
		{kafka.UnavailableTimeout(0), "UnavailableTimeout(0s)"},
		{kafka.UnavailableTimeout(-time.Second), "UnavailableTimeout(-1s)"},
		{kafka.MissingTopicTimeout(0), "MissingTopicTimeout(0s)"},
		{kafka.MetadataRefresh(0), "MetadataRefresh(0s)"},
		{kafka.SessionTimeout(-time.Second), "SessionTimeout(-1s)"},
		{kafka.MaxRatePerPartition(-1), "MaxRatePerPartition(-1)"},
		{kafka.MinRatePerPartition(-1), "MinRatePerPartition(-1)"},
	} {
		r := newRun(t)
		kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
			kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), tc.opt).
			ForeachBatch(func(context.Context, kafka.Batch[string, string]) error { return nil })
		// Run fails at start; on the manual clock it would otherwise run until
		// the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.c.Run(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run with %s = %v, want an error naming it", tc.want, err)
		}
	}
}

// TestWithLoggerNilMeansTheDefault runs a stream with WithLogger(nil), which crashed
// a library goroutine: it logs to slog.Default().
func TestWithLoggerNilMeansTheDefault(t *testing.T) {
	rec := newLogRecorder()
	old := slog.Default()
	slog.SetDefault(rec.logger())
	defer slog.SetDefault(old)

	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 10, "v")
	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest), kafka.WithLogger(nil))
	var col collector
	s.ForeachBatch(col.foreach)
	r.start()
	r.batches(2)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(col.values()); n != 10 {
		t.Errorf("read %d records, want 10", n)
	}
	if len(rec.matching(0, anyLevel, "kafka: partitions assigned")) == 0 {
		t.Error("nothing was logged to slog.Default()")
	}
}
