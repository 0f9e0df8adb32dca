package main

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestScaleOut runs the job as three processes of one group while sentences are
// produced, SIGKILLs one mid-stream and starts another, then adds a fourth: at the
// end, the totals topic holds each word's right total. With -transactional, read
// read_committed, every total is written once and the last one per word is exact;
// without, the totals are at least once, and never lower than right.
func TestScaleOut(t *testing.T) {
	bin := crashtest.Build(t, ".")
	for _, transactional := range []bool{true, false} {
		t.Run(fmt.Sprintf("transactional=%v", transactional), func(t *testing.T) {
			b, err := kafkatest.Start(kafkatest.Topic("sentences", 4), kafkatest.Topic("totals", 4),
				kafkatest.MinSessionTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			rng := crashtest.Rand(t)
			counts := map[string]int{}
			produce := func(n int) { crashtest.Sentences(t, b, "sentences", rng, n, counts) }
			args := []string{"-brokers", strings.Join(b.Addrs(), ","), "-topics", "sentences", "-group", "g",
				"-out-topic", "totals", "-batch", "200ms", "-session-timeout", "2s", "-window", "1s"}
			if transactional {
				args = append(args, "-transactional")
			}
			start := func() *crashtest.Child {
				c := crashtest.Start(t, bin, args...)
				c.AwaitLines("batch ", 2, 60*time.Second)
				return c
			}
			produce(200)
			procs := []*crashtest.Child{start(), start(), start()}
			produce(200)
			procs[0].AwaitLines("batch ", 3, 60*time.Second)
			procs[1].Kill() // mid-stream: its session expires, its tasks move
			procs = append(procs, start())
			produce(200)
			procs[0].AwaitLines("batch ", 3, 60*time.Second)
			procs = append(procs, start()) // a fourth, later
			produce(200)

			// (About 10s here; the bound leaves room for a machine running the
			// other packages' tests under -race.)
			deadline := time.Now().Add(120 * time.Second)
			for {
				got := lastTotals(t, b, transactional)
				if maps.Equal(got, counts) {
					break
				}
				if !transactional {
					for w, n := range got {
						if n > counts[w] {
							t.Fatalf("%s: total %d, more than the %d produced", w, n, counts[w])
						}
					}
				}
				if time.Now().After(deadline) {
					var tails []string
					for i, c := range procs {
						tails = append(tails, fmt.Sprintf("process %d:\n  %s", i, strings.Join(c.Tail(5), "\n  ")))
					}
					t.Fatalf("the totals did not reach the counts within 120s:\n got %v\nwant %v\n%s", got, counts, strings.Join(tails, "\n"))
				}
				time.Sleep(200 * time.Millisecond)
			}
			for i, c := range procs {
				if i == 1 {
					continue // killed
				}
				if out, err := c.Stop(60 * time.Second); err != nil {
					t.Fatalf("process %d: %v\n%s", i, err, strings.Join(out, "\n"))
				}
			}
		})
	}
}

// lastTotals reads the totals topic (read_committed if committed) and returns
// each word's last total.
func lastTotals(t *testing.T, b *kafkatest.Broker, committed bool) map[string]int {
	t.Helper()
	ctx := context.Background()
	opts := []kafka.ClientOpt{kafka.Brokers(b.Addrs()...)}
	if committed {
		opts = append(opts, kafka.Isolation(kafka.ReadCommitted))
	}
	cl, err := kafka.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tps, err := cl.Partitions(ctx, "totals")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := cl.EndOffsets(ctx, tps...)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []kafka.OffsetRange
	for _, tp := range tps {
		ranges = append(ranges, kafka.OffsetRange{Topic: tp.Topic, Partition: tp.Partition, Until: ends[tp]})
	}
	r, err := kafka.CreateRDD(ctx, cl, rdd.NewEngine(), ranges, kafka.StringDeserializer(), kafka.StringDeserializer())
	if err != nil {
		t.Fatal(err)
	}
	parts, err := rdd.CollectPartitions(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, recs := range parts {
		for _, rec := range recs { // in offset order: the last is the latest
			n, err := strconv.Atoi(rec.Value)
			if err != nil {
				t.Fatalf("%v offset %d: value %q: %v", rec.Partition, rec.Offset, rec.Value, err)
			}
			out[rec.Key] = n
		}
	}
	return out
}
