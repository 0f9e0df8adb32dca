package kafka_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestInteropWithKcat has Debian's kcat (librdkafka, the C client) produce keyed
// records that a direct stream counts by key, writes the counts with WriteToKafka, and
// has kcat read them back: the stream and the sink work with another Kafka client, not
// only with kafka-go. kcat is required: without it the test fails (it does not skip),
// saying how to install it; .ci/run installs it, and so does make deps.
func TestInteropWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed, and this test requires it (it does not skip): install it with "+
			"`apt-get install kcat` (Debian, Ubuntu) or `make deps`, which installs what the tests need: %v", err)
	}
	b := kafkatest.New(t, kafkatest.Topic("words", 2), kafkatest.Topic("counts", 2))
	brokers := strings.Join(b.Addrs(), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	input := "apple:1\npear:1\napple:1\nplum:1\napple:1\npear:1\n"
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", brokers, "-t", "words", "-K:", "-X", "acks=all")
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}

	r := newRun(t)
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("words"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("kcat-test"), kafka.OffsetReset(kafka.Earliest))
	ones := dstream.Map(s.Stream(), func(rec kafka.Record[string, string]) ops.KV[string, int] { return ops.Pair(rec.Key, 1) })
	counts := dstream.ReduceByKey(ones, ops.Sum[int])
	seen := 0
	dstream.ForeachRDD(counts, func(ctx context.Context, rd *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		n, err := rdd.Count(ctx, rd)
		seen += int(n)
		return err
	})
	kafka.WriteToKafka(counts, "counts", kafka.StringSerializer(), func(_ string, n int) ([]byte, error) {
		return []byte(fmt.Sprint(n)), nil
	}, kafka.Brokers(b.Addrs()...))
	r.start()
	r.batches(1)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if seen != 3 {
		t.Fatalf("counted %d keys, want 3", seen)
	}

	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", brokers, "-t", "counts", "-e", "-q", "-f", "%k=%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	slices.Sort(lines)
	if want := []string{"apple=3", "pear=2", "plum=1"}; !slices.Equal(lines, want) {
		t.Errorf("kcat read back %v, want %v", lines, want)
	}
}
