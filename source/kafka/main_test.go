package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestMain fails the package if a test leaves goroutines behind: everything a stream
// starts must end when Run returns.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const interval = time.Second

// produce writes n records to topic, round-robin over its partitions, with values
// "<prefix><i>" for i from first.
func produce(t *testing.T, b *kafkatest.Broker, topic string, partitions, first, n int, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs := make([]kafkatest.Message, n)
	for i := range n {
		id := first + i
		msgs[i] = kafkatest.Message{Partition: id % partitions, Key: []byte(strconv.Itoa(id)), Value: []byte(prefix + strconv.Itoa(id))}
	}
	if err := b.Produce(ctx, topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

// run drives a Context on a manual clock, one batch at a time, with a
// dstreamtest.Driver, and fails the test where the Driver's waits fail. The
// Driver is made when Run starts, so that a test may first replace c and clock
// with a Context it built (with GetOrCreate, say) on a clock of its own.
type run struct {
	t     *testing.T
	clock *dstream.ManualClock
	c     *dstream.Context
	d     *dstreamtest.Driver // nil until start
}

// runTimeout bounds every wait of a run: a deadline for a hung test (the broker
// answers in real time, with retries), never a measure of speed.
const runTimeout = 60 * time.Second

func newRun(t *testing.T, opts ...dstream.Opt) *run { return newRunAt(t, epoch, opts...) }

// newRunAt is newRun on a manual clock that starts at start.
func newRunAt(t *testing.T, start time.Time, opts ...dstream.Opt) *run {
	r := &run{t: t, clock: dstream.NewManualClock(start)}
	opts = append([]dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(r.clock),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2)))}, opts...)
	r.c = dstream.NewContext(opts...)
	return r
}

// start starts Run.
func (r *run) start() {
	r.t.Helper()
	r.startCtx(context.Background())
}

// startCtx starts Run under ctx: cancelling ctx is a crash. Nothing Run starts
// outlives the test.
func (r *run) startCtx(ctx context.Context) {
	r.t.Helper()
	r.d = dstreamtest.Drive(r.c, r.clock, dstreamtest.Timeout(runTimeout))
	r.t.Cleanup(r.d.Close)
	if err := r.d.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
}

// batch moves the clock to the next batch time and waits until that batch
// completed; it returns the batch's error, or Run's if Run ended first.
func (r *run) batch() error {
	r.t.Helper()
	_, err := r.batchInfo()
	return err
}

// batchInfo is batch, returning what listeners heard of the batch.
func (r *run) batchInfo() (dstream.BatchInfo, error) {
	r.t.Helper()
	b, err := r.d.Step()
	r.fatalOnTimeout(err)
	return b, err
}

// awaitStarted waits until Run has started every source and waits for the first
// batch time.
func (r *run) awaitStarted() {
	r.t.Helper()
	if err := r.d.AwaitScheduler(); err != nil {
		r.t.Fatal(err)
	}
}

// batches runs n batches, failing the test if one fails.
func (r *run) batches(n int) {
	r.t.Helper()
	for range n {
		if err := r.batch(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// stop stops gracefully and returns Run's result.
func (r *run) stop() error {
	r.t.Helper()
	err := r.d.Stop()
	r.fatalOnTimeout(err)
	return err
}

// wait waits for Run to return, without stopping it, and returns its result.
func (r *run) wait() error {
	r.t.Helper()
	err := r.d.Wait()
	r.fatalOnTimeout(err)
	return err
}

// fatalOnTimeout fails the test if err is a wait of the Driver that passed its
// bound: a test that wants an error must not take a hang for it.
func (r *run) fatalOnTimeout(err error) {
	r.t.Helper()
	if errors.Is(err, dstreamtest.ErrTimeout) {
		r.t.Fatal(err)
	}
}

// collector gathers, from ForeachBatch, each batch's ranges and each RDD partition's
// records.
type collector struct {
	mu      sync.Mutex
	batches []kafka.Batch[string, string]
	parts   [][][]kafka.Record[string, string] // per batch, per partition
}

func (c *collector) foreach(ctx context.Context, b kafka.Batch[string, string]) error {
	parts, err := rdd.CollectPartitions(ctx, b.RDD)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b)
	c.parts = append(c.parts, parts)
	return nil
}

// values returns every collected record's value.
func (c *collector) values() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, b := range c.parts {
		for _, p := range b {
			for _, r := range p {
				out = append(out, r.Value)
			}
		}
	}
	return out
}

// logRecorder is a slog.Handler that keeps every record, at every level, for tests
// to count and wait for. Attributes given to WithAttrs and groups are dropped.
type logRecorder struct {
	mu      sync.Mutex
	recs    []slog.Record
	changed chan struct{} // closed and replaced on every record
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

func (l *logRecorder) logger() *slog.Logger { return slog.New(l) }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// mark returns how many records there are, for since and await.
func (l *logRecorder) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

// matching returns the records from mark on at level (any level if -100) whose
// message starts with prefix, as text: the message and the attributes.
func (l *logRecorder) matching(mark int, level slog.Level, prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs[mark:] {
		if (level != anyLevel && r.Level != level) || !strings.HasPrefix(r.Message, prefix) {
			continue
		}
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		out = append(out, b.String())
	}
	return out
}

const anyLevel = slog.Level(-100)

// await waits (30s at most) until a record from mark on at level has a message
// starting with prefix.
func (l *logRecorder) await(t *testing.T, mark int, level slog.Level, prefix string) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if len(l.matching(mark, level, prefix)) > 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no log record %q within 30s", prefix)
		}
	}
}

// strategies are Assign and Subscribe of events/0 and events/1, for tests that
// both must pass.
var strategies = []struct {
	name     string
	strategy kafka.ConsumerStrategy
}{
	{"Assign", kafka.Assign(allEvents, nil)},
	{"Subscribe", kafka.Subscribe("events")},
}
