// Package receiverdemo is the program behind examples/kafkasingletopic and
// examples/kafkamultitopics, which differ only in how they receive: one receiver
// stream for one topic, or one per topic, unioned.
package receiverdemo

import (
	"bufio"
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
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
)

// Config is what the flags set.
type Config struct {
	Brokers     string
	Topics      []string
	Group       string
	Parallelism int
	Duration    time.Duration
	WAL         string // checkpoint directory; turns the write-ahead log on
	Out         string
	Batch       time.Duration
	HTTP        string // the address of the job's page and pprof ("": none)
}

// Flags parses the command line into a Config.
func Flags(defaultTopics, defaultGroup string) Config {
	var c Config
	topics := flag.String("topics", defaultTopics, "topics to read (comma-separated)")
	flag.StringVar(&c.Brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: an in-process broker with generated data)")
	flag.StringVar(&c.Group, "group", defaultGroup, "consumer group id")
	flag.IntVar(&c.Parallelism, "parallelism", 2, "receivers (consumer goroutines) per topic")
	flag.DurationVar(&c.Duration, "duration", 0, "stop gracefully after this long (0: run until interrupted)")
	flag.StringVar(&c.WAL, "wal", "", "checkpoint directory: turns the write-ahead log on (zero data loss)")
	flag.StringVar(&c.Out, "out", "", "append '<topic> <partition> <offset>' for every processed record to this file, fsynced every batch")
	flag.DurationVar(&c.Batch, "batch", time.Second, "batch interval")
	watch.Flag(&c.HTTP, watch.Any)
	flag.Parse()
	c.Topics = strings.Split(*topics, ",")
	return c
}

// Main runs the program and exits with 1 on failure.
func Main(name string, cfg Config, multi bool) {
	if err := Run(os.Stdout, name, cfg, multi); err != nil {
		slog.Error(name+" failed", "error", err)
		os.Exit(1)
	}
}

// Run receives from cfg.Topics with receiver streams, one for all topics or, with
// multi, one per topic unioned, and processes every batch: it counts the records and
// appends them to cfg.Out. It serves the job's page, titled name, on cfg.HTTP. Its
// last line is "summary records=<n> batches=<n>".
func Run(out io.Writer, name string, cfg Config, multi bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // (the page's server)
	if cfg.Brokers == "" {
		dataDir := ""
		if cfg.WAL != "" {
			// The broker keeps its data in the checkpoint directory, so that a run
			// started again finds the records and offsets it refers to.
			dataDir = cfg.WAL + "/broker"
		}
		addrs, stop, err := demo.Broker(ctx, out, cfg.Topics, 2, dataDir)
		if err != nil {
			return err
		}
		defer stop()
		cfg.Brokers = addrs
	}
	var file *os.File
	var w *bufio.Writer
	if cfg.Out != "" {
		f, err := os.OpenFile(cfg.Out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		file, w = f, bufio.NewWriter(f)
	}
	var records, batches int64
	build := func(ssc *dstream.Context) error {
		opts := []kafka.ReceiverOpt{kafka.Brokers(strings.Split(cfg.Brokers, ",")...), kafka.GroupID(cfg.Group), kafka.OffsetReset(kafka.Earliest)}
		var stream *dstream.DStream[kafka.Record[string, string]]
		if multi {
			// The seeds' multiple receivers: one stream per topic, unioned.
			var streams []*dstream.DStream[kafka.Record[string, string]]
			for _, t := range cfg.Topics {
				s := kafka.NewReceiverStream(ssc, map[string]int{t: cfg.Parallelism}, kafka.StringDeserializer(), kafka.StringDeserializer(), opts...)
				streams = append(streams, s.Stream())
			}
			stream = dstream.Union(streams...)
		} else {
			topics := map[string]int{}
			for _, t := range cfg.Topics {
				topics[t] = cfg.Parallelism
			}
			stream = kafka.NewReceiverStream(ssc, topics, kafka.StringDeserializer(), kafka.StringDeserializer(), opts...).Stream()
		}
		dstream.ForeachRDD(stream, func(ctx context.Context, r *rdd.RDD[kafka.Record[string, string]], t time.Time) error {
			recs, err := rdd.Collect(ctx, r)
			if err != nil {
				return err
			}
			if w != nil {
				for _, rec := range recs {
					fmt.Fprintf(w, "%s %d %d\n", rec.Topic, rec.Partition, rec.Offset)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				if err := file.Sync(); err != nil {
					return err
				}
			}
			records += int64(len(recs))
			batches++
			fmt.Fprintf(out, "batch %s: %d records in %d blocks\n", t.Format("15:04:05.000"), len(recs), r.NumPartitions())
			return nil
		})
		return nil
	}
	copts := []dstream.Opt{dstream.BatchInterval(cfg.Batch), dstream.StopGracefullyOnShutdown()}
	var ssc *dstream.Context
	var err error
	if cfg.WAL != "" {
		ssc, err = dstream.GetOrCreate(cfg.WAL, build, copts...)
	} else {
		ssc = dstream.NewContext(copts...)
		err = build(ssc)
	}
	if err != nil {
		return err
	}
	if err := watch.Serve(ctx, out, cfg.HTTP, ssc, name); err != nil {
		return err
	}
	// SIGINT or SIGTERM (StopGracefullyOnShutdown), or the end of Duration, stops
	// gracefully: the generated batches finish, with their output.
	if cfg.Duration > 0 {
		defer time.AfterFunc(cfg.Duration, ssc.Stop).Stop()
	}
	err = ssc.Run(ctx)
	fmt.Fprintf(out, "summary records=%d batches=%d\n", records, batches)
	return err
}
