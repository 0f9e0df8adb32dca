package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// kafkaFixture is a broker holding 1M 200-byte text records on 4 partitions
// (production is not timed), shared by the kafka benchmarks of one run. The
// broker runs in a child process of its own (this binary with -broker), so
// that its log counts in no contender's RSS; the parent starts it the first
// time a benchmark needs it and passes its address to the contenders'
// processes in the environment (kafkaEnv).
type kafkaFixture struct {
	addrs   []string
	ranges  []kafka.OffsetRange
	records int
}

const (
	kafkaTopic = "bench"
	kafkaParts = 4
	// brokerFlag is the hidden flag that makes this binary the broker's
	// process.
	brokerFlag = "broker"
	// kafkaEnv names the environment variable that gives a contender's
	// process the fixture: records;addr,addr…;end,end… (one end offset per
	// partition).
	kafkaEnv = "SPATE_BENCH_KAFKA"
)

var (
	fixtureMu sync.Mutex
	fixtures  = map[float64]*brokerProc{}
)

// brokerProc is the parent's handle on a broker process.
type brokerProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	f   *kafkaFixture
	env string // the fixture, as kafkaEnv gives it
}

// kafkaData returns the fixture for scale: in a contender's process, the one
// its environment names; in the parent, the one of a broker process that it
// starts the first time.
func kafkaData(scale float64) (*kafkaFixture, error) {
	if v := os.Getenv(kafkaEnv); v != "" {
		return parseFixture(v)
	}
	p, err := brokerFor(scale)
	if err != nil {
		return nil, err
	}
	return p.f, nil
}

// kafkaChildEnv is the env of the kafka pairs: it starts the broker and
// hands its fixture to the contenders.
func kafkaChildEnv(scale float64) ([]string, error) {
	p, err := brokerFor(scale)
	if err != nil {
		return nil, err
	}
	return []string{kafkaEnv + "=" + p.env}, nil
}

func brokerFor(scale float64) (*brokerProc, error) {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if p, ok := fixtures[scale]; ok {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-"+brokerFlag, "-scale", strconv.FormatFloat(scale, 'g', -1, 64))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &brokerProc{cmd: cmd, in: in}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err == nil {
		p.env = strings.TrimSpace(line)
		p.f, err = parseFixture(p.env)
	}
	if err != nil {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the broker process: %w", err)
	}
	fixtures[scale] = p
	return p, nil
}

// parseFixture parses the fixture as kafkaEnv gives it.
func parseFixture(v string) (*kafkaFixture, error) {
	parts := strings.Split(v, ";")
	if len(parts) != 3 {
		return nil, fmt.Errorf("bad fixture %q", v)
	}
	records, err := strconv.Atoi(parts[0])
	if err != nil {
		return nil, fmt.Errorf("bad fixture %q: %w", v, err)
	}
	f := &kafkaFixture{addrs: strings.Split(parts[1], ","), records: records}
	for p, e := range strings.Split(parts[2], ",") {
		end, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad fixture %q: %w", v, err)
		}
		f.ranges = append(f.ranges, kafka.OffsetRange{Topic: kafkaTopic, Partition: p, From: 0, Until: end})
	}
	return f, nil
}

// brokerMain is the broker's process: it starts an in-process broker,
// produces the fixture for scale, prints it (as kafkaEnv gives it) and
// serves until its stdin ends.
func brokerMain(scale float64) error {
	n := max(int(1_000_000*scale), 1000)
	b, err := kafkatest.Start(kafkatest.Topic(kafkaTopic, kafkaParts))
	if err != nil {
		return err
	}
	defer b.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	vocab := vocabulary(rng, 10_000)
	z := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	msgs := make([]kafkatest.Message, 0, 50_000)
	var line strings.Builder
	flush := func() error {
		err := b.Produce(context.Background(), kafkaTopic, msgs...)
		msgs = msgs[:0]
		return err
	}
	for i := range n {
		line.Reset()
		for line.Len() < 200 {
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(vocab[z.Uint64()])
		}
		msgs = append(msgs, kafkatest.Message{Partition: i % kafkaParts, Value: []byte(line.String()[:200])})
		if len(msgs) == cap(msgs) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	ends := make([]string, kafkaParts)
	for p := range kafkaParts {
		_, end, err := b.Offsets(kafkaTopic, p)
		if err != nil {
			return err
		}
		ends[p] = strconv.FormatInt(end, 10)
	}
	fmt.Printf("%d;%s;%s\n", n, strings.Join(b.Addrs(), ","), strings.Join(ends, ","))
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// closeFixtures stops the broker processes.
func closeFixtures() {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	for s, p := range fixtures {
		p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: the broker process: %v\n", err)
		}
		delete(fixtures, s)
	}
}

// oneBatch runs a Context with a direct stream over the fixture's partitions, from
// the start, for one batch on a manual clock, with out as the batch's output; it
// returns the time from the batch's start to the end of its output.
func oneBatch[V any](ctx context.Context, f *kafkaFixture, values kafka.Deserializer[V], out func(s *kafka.DirectStream[[]byte, V])) (time.Duration, error) {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	var parts []kafka.TopicPartition
	for _, r := range f.ranges {
		parts = append(parts, r.TopicPartition())
	}
	s := kafka.NewDirectStream(c, kafka.Assign(parts, nil), kafka.BytesDeserializer(), values,
		kafka.Brokers(f.addrs...), kafka.OffsetReset(kafka.Earliest))
	out(s)
	var end time.Time
	dstream.ForeachRDD(s.Stream(), func(context.Context, *rdd.RDD[kafka.Record[[]byte, V]], time.Time) error {
		end = time.Now()
		return nil
	})
	var start time.Time
	if err := runOneBatch(ctx, c, clock, func() { start = time.Now() }); err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// runOneBatch runs c, on clock, for one batch of a second: it calls before (if not
// nil) once Run waits for the batch, then moves the clock, stops c gracefully and
// returns Run's result.
func runOneBatch(ctx context.Context, c *dstream.Context, clock *dstream.ManualClock, before func()) error {
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	if err := clock.AwaitWaiters(ctx, 1); err != nil {
		c.Stop()
		<-errc
		return err
	}
	if before != nil {
		before()
	}
	clock.Advance(time.Second)
	c.Stop()
	return <-errc
}

// rawFetch reads the fixture's ranges with kafka-go's Client.Fetch, one goroutine per
// partition, reading every value, and returns the number of records read.
func rawFetch(ctx context.Context, f *kafkaFixture) (int, error) {
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(f.addrs...), Transport: tr}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	errs := make([]error, len(f.ranges))
	for i, r := range f.ranges {
		wg.Go(func() {
			n, buf := 0, make([]byte, 0, 256)
			for off := r.From; off < r.Until; {
				resp, err := client.Fetch(ctx, &kafkago.FetchRequest{Topic: r.Topic, Partition: r.Partition, Offset: off, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
				if err == nil {
					err = resp.Error
				}
				if err != nil {
					errs[i] = err
					return
				}
				for {
					rec, err := resp.Records.ReadRecord()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						errs[i] = err
						return
					}
					if rec.Offset < off || rec.Offset >= r.Until {
						continue
					}
					if rec.Value != nil {
						buf = buf[:rec.Value.Len()]
						if _, err := io.ReadFull(rec.Value, buf); err != nil {
							errs[i] = err
							return
						}
					}
					off, n = rec.Offset+1, n+1
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// kafkaDirectPair compares one direct-stream batch that counts the fixture's
// records (from the batch's start to the end of its output) with raw
// kafka-go fetches of the same ranges (rawFetch). It prints
//
//	kafkadirect: spate=<Mrec/s> raw=<Mrec/s> ratio=<spate/raw> rss_mb=… raw_rss_mb=… data_mb=…
//
// (data_mb: the process before its first fetch; the broker runs in a third
// process).
var kafkaDirectPair = &paired{
	roles: []string{"spate", "hand"},
	env:   kafkaChildEnv,
	setup: func(scale float64, role string) (int, contender, error) {
		f, err := kafkaData(scale)
		if err != nil {
			return 0, nil, err
		}
		switch role {
		case "spate":
			return f.records, func(ctx context.Context) (outcome, error) {
				var count int64
				d, err := oneBatch(ctx, f, kafka.BytesDeserializer(), func(s *kafka.DirectStream[[]byte, []byte]) {
					s.ForeachBatch(func(ctx context.Context, b kafka.Batch[[]byte, []byte]) error {
						n, err := rdd.Count(ctx, b.RDD)
						count = n
						return err
					})
				})
				check := func() error {
					if count != int64(f.records) {
						return fmt.Errorf("the direct stream counted %d records, want %d", count, f.records)
					}
					return nil
				}
				return outcome{check: check, times: map[string]time.Duration{"batch": d}}, err
			}, nil
		case "hand":
			return f.records, func(ctx context.Context) (outcome, error) {
				n, err := rawFetch(ctx, f)
				check := func() error {
					if n != f.records {
						return fmt.Errorf("raw fetches read %d records, want %d", n, f.records)
					}
					return nil
				}
				return outcome{check: check}, err
			}, nil
		}
		return 0, nil, fmt.Errorf("no role %q", role)
	},
	format: func(r *pairResult) string {
		s, h := r.role("spate"), r.role("hand")
		rs, rr := rate(r.records, s.median("batch")), rate(r.records, h.median("wall"))
		return fmt.Sprintf("kafkadirect: spate=%.2f raw=%.2f ratio=%.2f rss_mb=%.0f raw_rss_mb=%.0f data_mb=%.0f",
			rs, rr, rs/rr, s.rssMB(), h.rssMB(), float64(s.dataKB)/1024)
	},
}

// kafkaWordCount counts the words of the fixture's records (text lines) end to end:
// one direct-stream batch, FlatMap → Map → ReduceByKey → Count. It prints
//
//	kafkawordcount: spate=<Mrec/s>
func kafkaWordCount(scale float64, rounds int) (string, error) {
	ctx := context.Background()
	f, err := kafkaData(scale)
	if err != nil {
		return "", err
	}
	var ds []time.Duration
	for round := range rounds + 1 {
		var distinct int64
		d, err := oneBatch(ctx, f, kafka.StringDeserializer(), func(s *kafka.DirectStream[[]byte, string]) {
			words := dstream.Transform(s.Stream(), func(r *rdd.RDD[kafka.Record[[]byte, string]], _ time.Time) *rdd.RDD[string] {
				return rdd.FlatMapSeq(r, func(rec kafka.Record[[]byte, string]) iter.Seq[string] { return strings.FieldsSeq(rec.Value) })
			})
			counts := dstream.ReduceByKey(dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }), ops.Sum[int])
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
				n, err := rdd.Count(ctx, r)
				distinct = n
				return err
			})
		})
		if err != nil {
			return "", err
		}
		if distinct == 0 {
			return "", fmt.Errorf("the word count found no words")
		}
		if round > 0 {
			ds = append(ds, d)
		}
	}
	return fmt.Sprintf("kafkawordcount: spate=%.2f", rate(f.records, median(ds))), nil
}
