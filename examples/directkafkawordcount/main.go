// Command directkafkawordcount is Spark's DirectKafkaWordCount on Spate: a direct
// Kafka stream, 1s batches, words counted per batch, offsets committed to Kafka after
// the output.
//
// With no flags it needs nothing installed: it starts an in-process Kafka broker
// (package kafkatest), creates a 4-partition topic and produces generated sentences
// into it continuously while the stream runs. With -brokers it reads the given topics
// of any Kafka cluster and produces nothing; a group with nothing committed starts at
// the earliest offsets.
//
// It serves the job's live page (package dstream/ui) on -http, by default
// http://127.0.0.1:4040/ (Spark's UI port; "" turns it off), with pprof at
// /debug/pprof/, and prints the page's URL as it starts, as a line
//
//	ui: http://127.0.0.1:4040/
//
// For every batch it prints each partition's offset range and the batch's most
// frequent words. On exit (after -duration, or on interrupt) it stops gracefully,
// which commits the last batch's offsets, and prints as its last line
//
//	summary records=<records processed> batches=<batches>
//
// Usage:
//
//	go run ./examples/directkafkawordcount -duration 10s
//	go run ./examples/directkafkawordcount -http 127.0.0.1:0      # the page on any free port
//	go run ./examples/directkafkawordcount -brokers localhost:9092 -topics a,b -group wc
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/examples/internal/demo"
	"github.com/spatedev/spate/examples/internal/watch"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
)

type options struct {
	brokers, topics, group, http string
	batch, duration              time.Duration
	top                          int
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: start an in-process broker and produce into it)")
	flag.StringVar(&o.topics, "topics", "sentences", "topics to read, comma-separated")
	flag.StringVar(&o.group, "group", "spate-directkafkawordcount", "consumer group id")
	flag.DurationVar(&o.batch, "batch", time.Second, "batch interval")
	flag.DurationVar(&o.duration, "duration", 0, "stop gracefully after this long (0: run until interrupted)")
	flag.IntVar(&o.top, "top", 5, "how many words to print per batch")
	watch.Flag(&o.http, watch.Demo)
	flag.Parse()
	if err := run(context.Background(), os.Stdout, o); err != nil {
		slog.Error("directkafkawordcount failed", "error", err)
		os.Exit(1)
	}
}

// run runs the job until -duration, a signal, or the end of ctx, which all stop it
// gracefully.
func run(ctx context.Context, out io.Writer, o options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // (the page's server)
	topicList := strings.Split(o.topics, ",")
	brokers := o.brokers
	if brokers == "" {
		addrs, stop, err := demo.Broker(ctx, out, topicList[:1], 4, "")
		if err != nil {
			return err
		}
		defer stop()
		brokers = addrs
	}

	ssc := dstream.NewContext(dstream.BatchInterval(o.batch), dstream.StopGracefullyOnShutdown(), dstream.StopGracefullyWhen(ctx))
	// The page at / and the metrics at /metrics (and pprof), from the first batch on.
	w, err := watch.New(ssc, "directkafkawordcount")
	if err != nil {
		return err
	}
	stream := kafka.NewDirectStream(ssc, kafka.Subscribe(topicList...), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(strings.Split(brokers, ",")...), kafka.GroupID(o.group), kafka.OffsetReset(kafka.Earliest), w.KafkaCommits())

	var records, batches atomic.Int64
	// 1. Each batch's offset ranges, and its record count; the batch's RDD is kept for
	// the next outputs instead of being read from Kafka again.
	stream.ForeachBatch(func(ctx context.Context, b kafka.Batch[string, string]) error {
		b.RDD.Persist()
		n, err := rdd.Count(ctx, b.RDD)
		if err != nil {
			return err
		}
		records.Add(n)
		batches.Add(1)
		fmt.Fprintf(out, "--- batch %s: %d records\n", b.Time.Format("15:04:05"), n)
		for _, r := range b.Ranges {
			fmt.Fprintf(out, "    %s/%d offsets [%d, %d)\n", r.Topic, r.Partition, r.From, r.Until)
		}
		return nil
	})
	// 2. The word count, with the stream operators.
	words := dstream.FlatMap(stream.Stream(), func(r kafka.Record[string, string]) []string { return strings.Fields(r.Value) })
	counts := dstream.ReduceByKey(dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), ops.Sum[int])
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		best, err := rdd.Top(ctx, r, o.top, func(a, b ops.KV[string, int]) int {
			return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(b.Key, a.Key))
		})
		if err != nil {
			return err
		}
		parts := make([]string, len(best))
		for i, kv := range best {
			parts[i] = fmt.Sprintf("%s=%d", kv.Key, kv.Value)
		}
		fmt.Fprintf(out, "    top words: %s\n", strings.Join(parts, " "))
		return nil
	})
	// 3. Only now, after the output, commit the batch's offsets.
	stream.ForeachBatch(func(_ context.Context, b kafka.Batch[string, string]) error {
		stream.CommitAsync(b.Ranges, func(_ map[kafka.TopicPartition]int64, err error) {
			if err != nil {
				slog.Warn("commit failed", "batch", b.Time, "error", err)
			}
		})
		return nil
	})

	if err := w.Serve(ctx, out, o.http); err != nil {
		return err
	}
	// SIGINT or SIGTERM (StopGracefullyOnShutdown), or the end of -duration, stops
	// gracefully: the generated batches finish, with their output and commits.
	if o.duration > 0 {
		defer time.AfterFunc(o.duration, ssc.Stop).Stop()
	}
	err = ssc.Run(context.WithoutCancel(ctx))
	fmt.Fprintf(out, "summary records=%d batches=%d\n", records.Load(), batches.Load())
	return err
}
