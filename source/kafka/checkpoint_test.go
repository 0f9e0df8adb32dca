package kafka_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestCheckpointedDirectStreamResumesStateExactlyOnce keeps running counts of the
// records' values with UpdateStateByKey, crashes (Run cancelled) after a few batches,
// and resumes from the checkpoint: the positions and ranges come from the
// checkpoint (nothing is committed to Kafka), and every record is counted exactly
// once in the end.
func TestCheckpointedDirectStreamResumesStateExactlyOnce(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	dir := t.TempDir()
	produced := 0
	more := func(n int) {
		produce(t, b, "events", 2, produced, n, "k")
		produced += n
	}
	var mu sync.Mutex
	var last map[string]int
	// One clock for every attempt: time goes on across restarts, so a resumed
	// Context first catches up with the batches due since its checkpoint.
	clock := dstream.NewManualClock(epoch)
	attempt := func(batches int, crash bool) {
		r := newRun(t)
		r.clock = clock
		c, err := dstream.GetOrCreate(dir, func(c *dstream.Context) error {
			s := kafka.NewDirectStream(c, kafka.Assign(allEvents, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(b.Addrs()...), kafka.OffsetReset(kafka.Earliest), kafka.MaxRatePerPartition(3))
			// Counts of the last digit of each record's number.
			digits := dstream.Map(s.Stream(), func(rec kafka.Record[string, string]) ops.KV[string, int] {
				return ops.Pair(rec.Value[len(rec.Value)-1:], 1)
			})
			counts := dstream.UpdateStateByKey(digits, func(vs []int, st ops.Maybe[int]) ops.Maybe[int] {
				n := st.OrElse(0)
				for _, v := range vs {
					n += v
				}
				return ops.Some(n)
			})
			dstream.ForeachRDD(counts, func(ctx context.Context, rd *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
				m, err := rdd.CollectAsMap(ctx, rd)
				mu.Lock()
				last = m
				mu.Unlock()
				return err
			})
			return nil
		}, dstream.BatchInterval(interval), dstream.WithClock(r.clock), dstream.CheckpointInterval(2*interval))
		if err != nil {
			t.Fatal(err)
		}
		r.c = c
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r.startCtx(ctx)
		r.batches(batches)
		if crash {
			cancel()
			if err := r.wait(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run after cancel = %v", err)
			}
			return
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}
	more(40)
	attempt(4, true) // 4 batches of 6 records at most; the state of batch 3, batch 4 runs again
	more(30)
	attempt(12, true)
	more(10)
	attempt(25, false)
	want := map[string]int{}
	for i := range produced {
		want[string('0'+rune(i%10))]++
	}
	if !maps.Equal(last, want) {
		t.Errorf("final counts %v, want %v (every record counted exactly once)", last, want)
	}
}

// A stream whose offsets the group commits in transactions (a keyed stream's state
// is in changelogs) resumes from the group: a checkpoint directory, which would
// restore other positions, is refused when Run starts, naming the group and the
// directory.
func TestACheckpointDirIsRefusedWhereTheGroupHoldsTheOffsets(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	dir := t.TempDir()
	r := newRun(t, dstream.CheckpointDir(dir))
	keyedCounts(t, r, b)
	r.start()
	err := r.wait()
	if err == nil || !strings.Contains(err.Error(), `group "g" commits the stream's offsets in Kafka transactions`) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Run = %v, want the checkpoint directory refused", err)
	}
}
