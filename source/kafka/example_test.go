package kafka_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// A direct stream over an in-process broker, run one batch by dstreamtest's
// Driver: each batch's offset ranges, one per partition, come with the batch.
func ExampleNewDirectStream() {
	b, _ := kafkatest.Start(kafkatest.Topic("greetings", 2))
	defer b.Close()
	_ = b.Produce(context.Background(), "greetings",
		kafkatest.Message{Partition: 0, Value: []byte("hello")},
		kafkatest.Message{Partition: 1, Value: []byte("bonjour")},
		kafkatest.Message{Partition: 1, Value: []byte("hola")})

	d := dstreamtest.NewDriver()
	defer d.Close()
	stream := kafka.NewDirectStream(d.Context(), kafka.Subscribe("greetings"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("example"), kafka.OffsetReset(kafka.Earliest))
	stream.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		parts, err := rdd.CollectPartitions(ctx, batch.RDD)
		if err != nil {
			return err
		}
		for i, rg := range batch.Ranges {
			var values []string
			for _, rec := range parts[i] {
				values = append(values, rec.Value)
			}
			fmt.Printf("%v: %s\n", rg, strings.Join(values, " "))
		}
		return nil
	})
	if _, err := d.Step(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(d.Stop())
	// Output:
	// greetings/0 [0, 1): hello
	// greetings/1 [0, 2): bonjour hola
	// <nil>
}

// CommitAsync commits a batch's offsets to the group after its output: a job
// restarted under the same group resumes after them (at-least-once output).
func ExampleDirectStream_CommitAsync() {
	ctx := context.Background()
	b, _ := kafkatest.Start(kafkatest.Topic("events", 1))
	defer b.Close()
	_ = b.Produce(ctx, "events", kafkatest.Message{Value: []byte("a")}, kafkatest.Message{Value: []byte("b")})

	d := dstreamtest.NewDriver()
	defer d.Close()
	stream := kafka.NewDirectStream(d.Context(), kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("counter"), kafka.OffsetReset(kafka.Earliest))
	stream.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		n, err := rdd.Count(ctx, batch.RDD)
		if err != nil {
			return err // the batch fails; nothing is committed
		}
		fmt.Println("records:", n)
		stream.CommitAsync(batch.Ranges, func(offsets map[kafka.TopicPartition]int64, err error) {
			fmt.Println("committed:", offsets, err)
		})
		return nil
	})
	_, _ = d.Step()
	_ = d.Stop() // a graceful stop commits what is queued
	committed, _ := b.Committed(ctx, "counter", "events")
	fmt.Println("the group's offsets:", committed)
	// Output:
	// records: 2
	// committed: map[events/0:2] <nil>
	// the group's offsets: map[0:2]
}

// An OffsetTable stores a batch's offsets in the transaction that writes its
// results: a batch run again (after a crash, say) is refused, so each result is
// written once.
func ExampleOffsetTable() {
	ctx := context.Background()
	db, _ := sql.Open("sqlite", "file:offsets?mode=memory")
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: the in-memory database lives in it
	offsets, _ := kafka.NewOffsetTable(db, "totals")
	_ = offsets.Create(ctx)
	_, _ = db.ExecContext(ctx, `CREATE TABLE totals (n INTEGER)`)

	apply := func(rg kafka.OffsetRange, n int) error {
		return offsets.Apply(ctx, []kafka.OffsetRange{rg}, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO totals (n) VALUES (?)`, n)
			return err
		})
	}
	first := kafka.OffsetRange{Topic: "events", Partition: 0, From: 0, Until: 10}
	fmt.Println(apply(first, 10))
	fmt.Println(errors.Is(apply(first, 10), kafka.ErrOffsetMismatch)) // the same batch again
	fmt.Println(apply(kafka.OffsetRange{Topic: "events", Partition: 0, From: 10, Until: 12}, 2))

	// At start, a job loads the offsets to resume from (kafka.Assign).
	from, _ := offsets.Load(ctx)
	fmt.Println(from)
	// Output:
	// <nil>
	// true
	// <nil>
	// map[events/0:12]
}

// WriteToKafka writes a stream of pairs to a topic after each batch.
func ExampleWriteToKafka() {
	ctx := context.Background()
	b, _ := kafkatest.Start(kafkatest.Topic("out", 1))
	defer b.Close()

	ssc := dstream.NewContext(dstream.BatchInterval(50 * time.Millisecond))
	in, q := dstream.QueueStream[ops.KV[string, string]](ssc, dstream.OneAtATime)
	q.Push([]ops.KV[string, string]{{Key: "en", Value: "hello"}, {Key: "fr", Value: "bonjour"}})
	kafka.WriteToKafka(in, "out", kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...))
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[ops.KV[string, string]], time.Time) error {
		ssc.Stop()
		return nil
	})
	if err := ssc.Run(ctx); err != nil {
		fmt.Println(err)
	}
	_, end, _ := b.Offsets("out", 0)
	fmt.Println("records in out/0:", end)
	// Output: records in out/0: 2
}

// A keyed stream keeps each key's state in the task of the Kafka partition that
// carries the key: the records below were written by key (WriteToKafka places keys
// with Kafka's default partitioner), and UpdateStateByKey over the keyed stream
// works partition by partition, with no shuffle.
func ExampleKeyed() {
	ctx := context.Background()
	b, _ := kafkatest.Start(kafkatest.Topic("clicks", 2))
	defer b.Close()

	// Write some clicks by user.
	w := dstream.NewContext(dstream.BatchInterval(50 * time.Millisecond))
	in, q := dstream.QueueStream[ops.KV[string, string]](w, dstream.OneAtATime)
	q.Push([]ops.KV[string, string]{{Key: "ann", Value: "/a"}, {Key: "dan", Value: "/b"}, {Key: "ann", Value: "/c"}})
	kafka.WriteToKafka(in, "clicks", kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...))
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[ops.KV[string, string]], time.Time) error {
		w.Stop()
		return nil
	})
	if err := w.Run(ctx); err != nil {
		fmt.Println(err)
	}

	// Count them per user, per task.
	ssc := dstream.NewContext(dstream.BatchInterval(50 * time.Millisecond))
	stream := kafka.NewDirectStream(ssc, kafka.Subscribe("clicks"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("example"), kafka.OffsetReset(kafka.Earliest))
	clicks := dstream.UpdateStateByKey(kafka.Keyed(stream, kafka.StringSerializer()),
		func(pages []string, n ops.Maybe[int]) ops.Maybe[int] { return ops.Some(n.Value + len(pages)) })
	var done bool // (batches run one at a time)
	dstream.ForeachRDD(clicks, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		parts, err := rdd.CollectPartitions(ctx, r)
		if done || len(parts) != 2 || len(parts[0]) == 0 || len(parts[1]) == 0 {
			return err // printed already, or the group has not assigned the tasks yet
		}
		for task, kvs := range parts {
			fmt.Println("task", task, kvs)
		}
		done = true
		ssc.Stop() // the batches already generated still run
		return err
	})
	if err := ssc.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// task 0 [(ann, 2)]
	// task 1 [(dan, 1)]
}

// NewSink writes records with their topic, key, headers and timestamp through one
// producer kept for the whole Run.
func ExampleNewSink() {
	ctx := context.Background()
	b, _ := kafkatest.Start(kafkatest.Topic("alerts", 1))
	defer b.Close()

	ssc := dstream.NewContext(dstream.BatchInterval(50 * time.Millisecond))
	temps, q := dstream.QueueStream[ops.KV[string, int]](ssc, dstream.OneAtATime)
	q.Push([]ops.KV[string, int]{{Key: "oven", Value: 250}, {Key: "fridge", Value: 4}, {Key: "kiln", Value: 1200}})
	hot := dstream.Filter(temps, func(kv ops.KV[string, int]) bool { return kv.Value > 200 })
	alerts := dstream.Map(hot, func(kv ops.KV[string, int]) kafka.ProducerRecord[string, string] {
		return kafka.ProducerRecord[string, string]{Topic: "alerts", Key: kv.Key, Value: fmt.Sprintf("%d°C", kv.Value),
			Headers: []kafka.Header{{Key: "source", Value: []byte("sensors")}}}
	})
	kafka.NewSink(alerts, kafka.StringSerializer(), kafka.StringSerializer(), kafka.Brokers(b.Addrs()...))
	dstream.ForeachRDD(temps, func(context.Context, *rdd.RDD[ops.KV[string, int]], time.Time) error {
		ssc.Stop()
		return nil
	})
	if err := ssc.Run(ctx); err != nil {
		fmt.Println(err)
	}
	_, end, _ := b.Offsets("alerts", 0)
	fmt.Println("alerts written:", end)
	// Output: alerts written: 2
}

// Repartition re-keys a stream through Kafka: here lines of text (unkeyed) become
// words, written keyed by word to the internal topic "example-words-repartition"
// and read back as a keyed stream, so that each word's running total lives in the
// task of the word's partition, in whichever process of the group owns it. A word
// written by a batch is read back by a later one.
func ExampleRepartition() {
	ctx := context.Background()
	b, _ := kafkatest.Start(kafkatest.Topic("lines", 2))
	defer b.Close()
	_ = b.Produce(ctx, "lines", kafkatest.Message{Value: []byte("to be or")}, kafkatest.Message{Partition: 1, Value: []byte("not to be")})

	ssc := dstream.NewContext(dstream.BatchInterval(50 * time.Millisecond))
	// Brokers and GroupID are options of both the stream and Repartition.
	brokers, group := kafka.Brokers(b.Addrs()...), kafka.GroupID("example")
	lines := kafka.NewDirectStream(ssc, kafka.Subscribe("lines"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		brokers, group, kafka.OffsetReset(kafka.Earliest))
	words := dstream.FlatMap(lines.Stream(), func(r kafka.Record[string, string]) []ops.KV[string, int] {
		var out []ops.KV[string, int]
		for _, w := range strings.Fields(r.Value) {
			out = append(out, ops.Pair(w, 1))
		}
		return out
	})
	byWord := kafka.Repartition(words, "words", kafka.StringSerde(), kafka.JSONSerde[int](), brokers, group)
	totals := dstream.UpdateStateByKey(byWord, func(ones []int, n ops.Maybe[int]) ops.Maybe[int] {
		return ops.Some(n.Value + len(ones))
	})
	var done bool // (batches run one at a time)
	dstream.ForeachRDD(totals, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		kvs, err := rdd.Collect(ctx, r)
		if len(kvs) == 4 && !done { // every word is back
			slices.SortFunc(kvs, func(a, b ops.KV[string, int]) int { return strings.Compare(a.Key, b.Key) })
			fmt.Println(kvs)
			done = true
			ssc.Stop() // the batches already generated still run
		}
		return err
	})
	if err := ssc.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output: [(be, 2) (not, 1) (or, 1) (to, 2)]
}
