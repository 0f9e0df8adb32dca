// Command statefulwordcount keeps running word counts of a Kafka topic with
// UpdateStateByKey, checkpointed into a directory: killed at any moment and started
// again with the same -checkpoint, it resumes from the checkpoint with its counts and
// its Kafka positions, and no word is lost or counted twice (the batches after the
// saved state run again; their output, a print, is at least once).
//
// It reads every partition of -topics (kafka.Assign), from the checkpoint's positions
// or, on a first run, from the earliest offsets; it commits its offsets to Kafka under
// -group after each batch, for monitoring tools only. With no -brokers it starts an
// in-process broker and produces generated sentences into it. On exit its last line
// is
//
//	summary records=<records processed in this run> total=<sum of all running counts>
//
// It serves the job's live page (package dstream/ui) and pprof (/debug/pprof/) on
// -http, by default on a free port of 127.0.0.1 ("" turns it off), and prints the
// page's URL as it starts, as a line "ui: http://127.0.0.1:<port>/".
//
// Usage:
//
//	go run ./examples/statefulwordcount -checkpoint /tmp/wc -duration 10s
//	go run ./examples/statefulwordcount -brokers localhost:9092 -topics words -checkpoint /tmp/wc
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
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/examples/internal/demo"
	"github.com/spatedev/spate/examples/internal/watch"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
)

func main() {
	brokers := flag.String("brokers", "", "Kafka bootstrap brokers, comma-separated (default: an in-process broker with generated data)")
	topics := flag.String("topics", "words", "topics to read, comma-separated")
	group := flag.String("group", "spate-statefulwordcount", "consumer group the offsets are committed under (for monitoring)")
	checkpoint := flag.String("checkpoint", "statefulwordcount.ckpt", "checkpoint directory")
	batch := flag.Duration("batch", time.Second, "batch interval")
	duration := flag.Duration("duration", 0, "stop gracefully after this long (0: run until interrupted)")
	var httpAddr string
	watch.Flag(&httpAddr, watch.Any)
	flag.Parse()
	if err := run(os.Stdout, *brokers, *topics, *group, *checkpoint, httpAddr, *batch, *duration); err != nil {
		slog.Error("statefulwordcount failed", "error", err)
		os.Exit(1)
	}
}

func run(out io.Writer, brokers, topics, group, dir, httpAddr string, batch, duration time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // (the page's server)
	topicList := strings.Split(topics, ",")
	if brokers == "" {
		// The broker keeps its data in the checkpoint directory, so that a run
		// started again finds the records and offsets the checkpoint refers to.
		addrs, stop, err := demo.Broker(ctx, out, topicList[:1], 4, dir+"/broker")
		if err != nil {
			return err
		}
		defer stop()
		brokers = addrs
	}
	brokerList := strings.Split(brokers, ",")
	cl, err := kafka.NewClient(kafka.Brokers(brokerList...))
	if err != nil {
		return err
	}
	parts, err := cl.Partitions(ctx, topicList...)
	cl.Close()
	if err != nil {
		return err
	}

	var records int64
	var total int
	ssc, err := dstream.GetOrCreate(dir, func(ssc *dstream.Context) error {
		stream := kafka.NewDirectStream(ssc, kafka.Assign(parts, nil), kafka.StringDeserializer(), kafka.StringDeserializer(),
			kafka.Brokers(brokerList...), kafka.GroupID(group), kafka.OffsetReset(kafka.Earliest))
		words := dstream.FlatMap(stream.Stream(), func(r kafka.Record[string, string]) []string { return strings.Fields(r.Value) })
		pairs := dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		counts := dstream.Named(dstream.UpdateStateByKey(pairs, func(new []int, old ops.Maybe[int]) ops.Maybe[int] {
			n := old.OrElse(0)
			for _, v := range new {
				n += v
			}
			return ops.Some(n)
		}), "counts")
		stream.ForeachBatch(func(ctx context.Context, b kafka.Batch[string, string]) error {
			for _, r := range b.Ranges {
				records += r.Count()
			}
			return nil
		})
		dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], t time.Time) error {
			all, err := rdd.Collect(ctx, r)
			if err != nil {
				return err
			}
			total = 0
			best := ops.Pair("", 0)
			for _, kv := range all {
				total += kv.Value
				if cmp.Or(cmp.Compare(kv.Value, best.Value), cmp.Compare(best.Key, kv.Key)) > 0 {
					best = kv
				}
			}
			fmt.Fprintf(out, "batch %s: %d words counted, most frequent %q (%d)\n", t.Format("15:04:05.000"), total, best.Key, best.Value)
			return nil
		})
		// For monitoring only: the checkpoint, not Kafka, says where a restart resumes.
		stream.ForeachBatch(func(_ context.Context, b kafka.Batch[string, string]) error {
			stream.CommitAsync(b.Ranges, nil)
			return nil
		})
		return nil
	}, dstream.BatchInterval(batch), dstream.StopGracefullyOnShutdown())
	if err != nil {
		return err
	}
	if err := watch.Serve(ctx, out, httpAddr, ssc, "statefulwordcount"); err != nil {
		return err
	}
	// SIGINT or SIGTERM (StopGracefullyOnShutdown), or the end of -duration, stops
	// gracefully: the generated batches finish, with their output and commits.
	if duration > 0 {
		defer time.AfterFunc(duration, ssc.Stop).Stop()
	}
	err = ssc.Run(ctx)
	fmt.Fprintf(out, "summary records=%d total=%d\n", records, total)
	return err
}
