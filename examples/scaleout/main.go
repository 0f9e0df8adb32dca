// Command scaleout is a stateful word count that runs as several processes of one
// Kafka consumer group: start it as many times as you like, kill some, start more;
// the running totals stay right.
//
// It reads lines of text (unkeyed) from -topics, splits them into words, and re-keys
// the words through Kafka (kafka.Repartition), so that each word's running total
// (UpdateStateByKey) lives in the process that owns the word's partition of the
// repartition topic; the totals are in changelog topics, and move with their
// partitions when processes come and go. Whenever a word's total changes it writes
// a record to -out-topic: key the word, value its total in decimal. With
// -transactional each batch's totals, changelog records and offsets commit in one
// Kafka transaction: a consumer reading -out-topic read_committed sees every total
// once. Without it the totals are still exactly right, but a record may be written
// twice. Each process also prints, every batch, the words most seen in the last
// -window among its tasks: a windowed count whose per-batch counts are in a
// changelog too, so a task that moves brings its window along.
//
// With no -brokers it starts an in-process Kafka broker and produces generated
// sentences into it, as the demo does (one process then: the broker is its own).
//
// Each batch prints a line
//
//	batch <time> records=<lines read so far> totals=<totals written> tasks=<the tasks whose state it holds>
//
// and, on exit (-duration, or SIGINT/SIGTERM: a graceful stop), the last line is
//
//	summary records=<lines read> totals=<totals written>
//
// Each process serves its job's live page (package dstream/ui) and pprof
// (/debug/pprof/) on -http, by default on a free port of 127.0.0.1, so that
// processes on one machine do not collide ("" turns it off), and prints the page's
// URL as it starts, as a line "ui: http://127.0.0.1:<port>/".
//
// Usage:
//
//	go run ./examples/scaleout -duration 10s
//	go run ./examples/broker &                  # a broker on :9092, for several processes
//	go run ./examples/scaleout -brokers localhost:9092 -topics sentences -transactional
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
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
	brokers, topics, group, outTopic, http string
	batch, duration, window, session       time.Duration
	transactional                          bool
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: start an in-process broker and produce into it)")
	flag.StringVar(&o.topics, "topics", "sentences", "topics of lines of text to read, comma-separated")
	flag.StringVar(&o.group, "group", "spate-scaleout", "consumer group id: the processes of one job share it")
	flag.StringVar(&o.outTopic, "out-topic", "totals", "topic the running totals are written to (key: word, value: total)")
	flag.DurationVar(&o.batch, "batch", time.Second, "batch interval")
	flag.DurationVar(&o.duration, "duration", 0, "stop gracefully after this long (0: run until interrupted)")
	flag.DurationVar(&o.window, "window", 10*time.Second, "window of the words printed as the most seen")
	flag.DurationVar(&o.session, "session-timeout", 10*time.Second, "consumer group session timeout: how long a killed process holds its partitions")
	flag.BoolVar(&o.transactional, "transactional", false, "write the totals exactly once, in each batch's Kafka transaction")
	watch.Flag(&o.http, watch.Any) // several processes run at once: a free port each
	flag.Parse()
	if err := run(os.Stdout, o); err != nil {
		slog.Error("scaleout failed", "error", err)
		os.Exit(1)
	}
}

func run(out io.Writer, o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // (the page's server)
	topics := strings.Split(o.topics, ",")
	if o.brokers == "" {
		addrs, stop, err := demo.BrokerWith(ctx, out, topics[:1], []string{o.outTopic}, 4, "")
		if err != nil {
			return err
		}
		defer stop()
		o.brokers = addrs
	}
	// Options of both the stream and Repartition (brokers: of the sink too).
	brokers, group, session := kafka.Brokers(strings.Split(o.brokers, ",")...), kafka.GroupID(o.group), kafka.SessionTimeout(o.session)

	ssc := dstream.NewContext(dstream.BatchInterval(o.batch), dstream.StopGracefullyOnShutdown())
	lines := kafka.NewDirectStream(ssc, kafka.Subscribe(topics...), kafka.StringDeserializer(), kafka.StringDeserializer(),
		brokers, group, session, kafka.OffsetReset(kafka.Earliest))
	var records, written atomic.Int64
	lines.ForeachBatch(func(ctx context.Context, b kafka.Batch[string, string]) error {
		for _, r := range b.Ranges {
			records.Add(r.Count())
		}
		return nil
	})

	// Words, re-keyed through Kafka: from here on, a word is in the task (the
	// partition of the repartition topic) its key hashes to, whichever process
	// owns it.
	words := dstream.FlatMap(lines.Stream(), func(r kafka.Record[string, string]) []ops.KV[string, int] {
		var kvs []ops.KV[string, int]
		for _, w := range strings.Fields(r.Value) {
			kvs = append(kvs, ops.Pair(w, 1))
		}
		return kvs
	})
	byWord := kafka.Repartition(words, "words", kafka.StringSerde(), kafka.JSONSerde[int](), brokers, group, session)
	counts := dstream.ReduceByKey(byWord, ops.Sum[int]) // per task: no shuffle

	// The running totals, in a changelog topic; the words of this batch get their
	// new total written out (a join of two streams partitioned by task: no shuffle).
	totals := dstream.UpdateStateByKeyWith(counts, dstream.NewUpdateSpec(func(_ time.Time, _ string, vs []int, st ops.Maybe[int]) ops.Maybe[int] {
		for _, v := range vs {
			st.Value += v
		}
		return ops.Some(st.Value)
	}).OnlyValues())
	totals = dstream.Named(totals, "totals")
	changed := dstream.Join(totals, counts)
	sinkOpts := []kafka.SinkOpt{brokers}
	if o.transactional {
		sinkOpts = append(sinkOpts, kafka.Transactional())
	}
	kafka.NewSink(dstream.Map(changed, func(kv ops.KV[string, ops.Joined[int, int]]) kafka.ProducerRecord[string, string] {
		return kafka.ProducerRecord[string, string]{Topic: o.outTopic, Key: kv.Key, Value: strconv.Itoa(kv.Value.Left)}
	}), kafka.StringSerializer(), kafka.StringSerializer(), sinkOpts...)

	var batchTotals atomic.Int64
	dstream.ForeachRDD(changed, func(ctx context.Context, r *rdd.RDD[ops.KV[string, ops.Joined[int, int]]], t time.Time) error {
		n, err := rdd.Count(ctx, r)
		written.Add(n)
		batchTotals.Store(n)
		return err
	})
	// The tasks whose state this process holds: one partition of the state each.
	dstream.ForeachRDD(totals, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], t time.Time) error {
		parts, err := rdd.CollectPartitions(ctx, r)
		var tasks []string
		for q, kvs := range parts {
			if len(kvs) > 0 {
				tasks = append(tasks, strconv.Itoa(q))
			}
		}
		fmt.Fprintf(out, "batch %s records=%d totals=%d tasks=%s\n", t.Format("15:04:05.000"), records.Load(), batchTotals.Load(), strings.Join(tasks, ","))
		return err
	})

	// The words most seen in the last window, among this process's tasks. The
	// window's counts per batch move with their tasks, as the totals do (changelog
	// <group>-recent-changelog): a task gained mid-window counts the batches its
	// last owner read.
	recent := dstream.Named(dstream.ReduceByKeyAndWindow(counts, ops.Sum[int], o.window, o.batch), "recent")
	dstream.ForeachRDD(recent, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		best, err := rdd.Top(ctx, r, 5, func(a, b ops.KV[string, int]) int {
			return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(b.Key, a.Key))
		})
		var ws []string
		for _, kv := range best {
			ws = append(ws, fmt.Sprintf("%s=%d", kv.Key, kv.Value))
		}
		fmt.Fprintf(out, "    most seen in the last %v: %s\n", o.window, strings.Join(ws, " "))
		return err
	})

	if err := watch.Serve(ctx, out, o.http, ssc, "scaleout"); err != nil {
		return err
	}
	if o.duration > 0 {
		defer time.AfterFunc(o.duration, ssc.Stop).Stop()
	}
	err := ssc.Run(ctx)
	fmt.Fprintf(out, "summary records=%d totals=%d\n", records.Load(), written.Load())
	return err
}
