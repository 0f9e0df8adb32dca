// Command exactlyonce counts words from Kafka into SQLite exactly once: each batch's
// counts and the offsets it read are written in one transaction, which first checks
// that the batch starts where the stored offsets say the previous one ended (the
// seeds' third way of storing offsets, "your own data store"). Killed at any moment
// and started again, it neither loses nor double-counts a record.
//
// The database (a file, -db) holds
//
//	word_counts(word TEXT PRIMARY KEY, count INTEGER NOT NULL)
//	kafka_offsets(group_id TEXT, topic TEXT, partition INTEGER, next_offset INTEGER NOT NULL,
//	              PRIMARY KEY (group_id, topic, partition))
//
// At start it loads the group's offsets and reads every partition of -topics from
// them (kafka.Assign); partitions with nothing stored start at the earliest offset.
// With no -brokers it starts an in-process broker and produces generated sentences
// into it. On exit its last line is
//
//	summary records=<records processed> batches=<batches>
//
// It serves the job's live page (package dstream/ui) and pprof (/debug/pprof/) on
// -http, by default on a free port of 127.0.0.1 ("" turns it off), and prints the
// page's URL as it starts, as a line "ui: http://127.0.0.1:<port>/".
//
// Usage:
//
//	go run ./examples/exactlyonce -duration 10s
//	go run ./examples/exactlyonce -brokers localhost:9092 -topics words -db counts.db
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite"

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
	group := flag.String("group", "spate-exactlyonce", "the group the offsets are stored under")
	db := flag.String("db", "exactlyonce.db", "SQLite database file")
	batch := flag.Duration("batch", time.Second, "batch interval")
	duration := flag.Duration("duration", 0, "stop gracefully after this long (0: run until interrupted)")
	var httpAddr string
	watch.Flag(&httpAddr, watch.Any)
	flag.Parse()
	if err := run(os.Stdout, *brokers, *topics, *group, *db, httpAddr, *batch, *duration); err != nil {
		slog.Error("exactlyonce failed", "error", err)
		os.Exit(1)
	}
}

func run(out io.Writer, brokers, topics, group, dbPath, httpAddr string, batch, duration time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // (the page's server)
	topicList := strings.Split(topics, ",")
	if brokers == "" {
		// The broker keeps its data next to the database, so that a run started
		// again finds the records and offsets the database refers to.
		addrs, stop, err := demo.Broker(ctx, out, topicList[:1], 4, dbPath+".broker")
		if err != nil {
			return err
		}
		defer stop()
		brokers = addrs
	}

	db, err := sql.Open("sqlite", dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS word_counts (word TEXT PRIMARY KEY, count INTEGER NOT NULL)`); err != nil {
		return err
	}
	offsets, err := kafka.NewOffsetTable(db, group)
	if err != nil {
		return err
	}
	if err := offsets.Create(ctx); err != nil {
		return err
	}
	stored, err := offsets.Load(ctx)
	if err != nil {
		return err
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

	ssc := dstream.NewContext(dstream.BatchInterval(batch), dstream.StopGracefullyOnShutdown())
	stream := kafka.NewDirectStream(ssc, kafka.Assign(parts, stored), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(brokerList...), kafka.OffsetReset(kafka.Earliest))
	var records, batches int64
	stream.ForeachBatch(func(ctx context.Context, b kafka.Batch[string, string]) error {
		words := rdd.FlatMap(b.RDD, func(r kafka.Record[string, string]) []string { return strings.Fields(r.Value) })
		counts, err := rdd.CollectAsMap(ctx, rdd.ReduceByKey(rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), ops.Sum[int]))
		if err != nil {
			return err
		}
		n := int64(0)
		for _, r := range b.Ranges {
			n += r.Count()
		}
		// The counts and the offsets, together or not at all.
		err = offsets.Apply(ctx, b.Ranges, func(ctx context.Context, tx *sql.Tx) error {
			for w, c := range counts {
				if _, err := tx.ExecContext(ctx, `INSERT INTO word_counts (word, count) VALUES (?, ?)
					ON CONFLICT (word) DO UPDATE SET count = count + excluded.count`, w, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		records += n
		batches++
		fmt.Fprintf(out, "batch %s: %d records, %d words stored\n", b.Time.Format("15:04:05.000"), n, len(counts))
		return nil
	})
	if err := watch.Serve(ctx, out, httpAddr, ssc, "exactlyonce"); err != nil {
		return err
	}
	// SIGINT or SIGTERM (StopGracefullyOnShutdown), or the end of -duration, stops
	// gracefully: the generated batches finish, with their output and commits.
	if duration > 0 {
		defer time.AfterFunc(duration, ssc.Stop).Stop()
	}
	err = ssc.Run(ctx)
	fmt.Fprintf(out, "summary records=%d batches=%d\n", records, batches)
	return err
}
