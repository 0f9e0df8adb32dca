package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// receiverRun is a Context with a receiver stream of "events" whose batches are
// collected: the values read, and each batch's partitions (its blocks).
type receiverRun struct {
	*run
	s           *kafka.ReceiverStream[string, string]
	mu          sync.Mutex
	read        map[string]int
	blocks      []int         // partitions per non-empty batch
	unavailable []error       // the receiver's InputInfo.Unavailable of each batch that had one
	hold        chan struct{} // if not nil, the next batch's output closes it and waits for Run's end
}

// newReceiverRun builds the Context on clock, checkpointing into dir with
// GetOrCreate (which turns the write-ahead log on) unless dir is "".
func newReceiverRun(t *testing.T, b *kafkatest.Broker, group, dir string, clock *dstream.ManualClock, opts ...kafka.ReceiverOpt) *receiverRun {
	t.Helper()
	r := &receiverRun{run: newRun(t), read: map[string]int{}}
	r.clock = clock
	build := func(c *dstream.Context) error {
		s := kafka.NewReceiverStream(c, map[string]int{"events": 2}, kafka.StringDeserializer(), kafka.StringDeserializer(),
			append([]kafka.ReceiverOpt{kafka.Brokers(b.Addrs()...), kafka.GroupID(group), kafka.OffsetReset(kafka.Earliest),
				kafka.SessionTimeout(6 * time.Second), kafka.BlockInterval(200 * time.Millisecond)}, opts...)...)
		r.s = s
		dstream.ForeachRDD(s.Stream(), func(ctx context.Context, rd *rdd.RDD[kafka.Record[string, string]], _ time.Time) error {
			r.mu.Lock()
			hold := r.hold
			r.hold = nil
			r.mu.Unlock()
			if hold != nil { // a crash in the middle of this batch
				close(hold)
				<-ctx.Done()
				return ctx.Err()
			}
			parts, err := rdd.CollectPartitions(ctx, rd)
			if err != nil {
				return err
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, p := range parts {
				if len(p) == 0 {
					return errors.New("an empty block")
				}
				for _, rec := range p {
					r.read[rec.Value]++
				}
			}
			if len(parts) > 0 {
				r.blocks = append(r.blocks, len(parts))
			}
			return nil
		})
		return nil
	}
	copts := []dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(clock), dstream.WithListener(unavailableListener{r: r})}
	if dir == "" {
		r.c = dstream.NewContext(copts...)
		if err := build(r.c); err != nil {
			t.Fatal(err)
		}
		return r
	}
	c, err := dstream.GetOrCreate(dir, build, copts...)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	return r
}

// unavailableListener keeps the receiver's InputInfo.Unavailable of every batch.
type unavailableListener struct {
	dstream.BaseListener
	r *receiverRun
}

func (l unavailableListener) OnBatchCompleted(b dstream.BatchInfo) {
	for _, in := range b.Inputs {
		if in.Unavailable != nil {
			l.r.mu.Lock()
			l.r.unavailable = append(l.r.unavailable, in.Unavailable)
			l.r.mu.Unlock()
		}
	}
}

// wasUnavailable reports whether a batch said the receiver was unavailable with an
// error that contains part.
func (r *receiverRun) wasUnavailable(part string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.unavailable {
		if strings.Contains(err.Error(), part) {
			return true
		}
	}
	return false
}

// untilRunFails runs batches until Run fails (30s at most), and returns its error.
func (r *receiverRun) untilRunFails() error {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := r.batch(); err != nil {
			return err
		}
	}
	r.t.Fatal("Run did not fail within 30s")
	return nil
}

func (r *receiverRun) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.read)
}

// advance moves the clock in block intervals to the next batch time, and waits for
// the batch.
func (r *receiverRun) advance() {
	r.t.Helper()
	next := r.clock.Now().Truncate(interval).Add(interval)
	for r.clock.Now().Add(200 * time.Millisecond).Before(next) {
		r.clock.Advance(200 * time.Millisecond)
	}
	if err := r.batch(); err != nil { // the rest of the way to the next batch time
		r.t.Fatal(err)
	}
}

// until runs batches until cond holds (30s at most).
func (r *receiverRun) until(cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatal("condition not reached within 30s")
		}
		r.advance()
	}
}

func TestReceiverStreamBlocksAndBatches(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 4))
	produce(t, b, "events", 4, 0, 200, "v")
	r := newReceiverRun(t, b, "g", "", dstream.NewManualClock(epoch))
	r.start()
	r.until(func() bool { return r.count() >= 200 })
	produce(t, b, "events", 4, 200, 100, "v")
	r.until(func() bool { return r.count() >= 300 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if n := r.read["v"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("record v%d read %d times, want 1", i, n)
		}
	}
	// A batch has one partition per block: at most one per block time in its
	// interval (5 in a 1s batch), one for the cutter's cut of the block times up to
	// the batch's start when that comes after the previous batch (a cutter behind
	// cuts once for all the block times it missed), and the one the batch cuts
	// itself.
	for _, n := range r.blocks {
		if n < 1 || n > 7 {
			t.Errorf("a batch with %d blocks", n)
		}
	}
}

// waitRecorder is a ManualClock that records every WaitUntil.
type waitRecorder struct {
	*dstream.ManualClock
	mu    sync.Mutex
	calls []string // "<time waited for> at <clock time at the call>", both since epoch
}

func (c *waitRecorder) WaitUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	c.calls = append(c.calls, fmt.Sprintf("%v at %v", t.Sub(epoch), c.Now().Sub(epoch)))
	c.mu.Unlock()
	return c.ManualClock.WaitUntil(ctx, t)
}

func (c *waitRecorder) waits() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// TestReceiverCutterThatFallsBehindCutsOnce moves the clock past five block times
// at once, as a starved cutter goroutine sees a real clock: the cutter cuts once and
// waits for the next block time after now (as a time.Ticker drops the ticks its
// reader missed), rather than cutting once per block time missed, back to back,
// which splits what arrives meanwhile into more blocks than one per block interval.
func TestReceiverCutterThatFallsBehindCutsOnce(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 1))
	clock := &waitRecorder{ManualClock: dstream.NewManualClock(epoch)}
	c := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(clock))
	s := kafka.NewReceiverStream(c, map[string]int{"events": 1}, kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.BlockInterval(200*time.Millisecond))
	_, ctx := startSource(t, s) // no Run: the cutter is the clock's only user
	if err := clock.AwaitWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second) // five block times
	if err := clock.AwaitWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := clock.waits(), []string{"200ms at 0s", "1.2s at 1s"}; !slices.Equal(got, want) {
		t.Errorf("the cutter waited for %q, want %q", got, want)
	}
}

// TestReceiverWriteAheadLogLosesNothing crashes a receiver stream (Run cancelled)
// with 50 records received and cut into a block, either stored for the next batch or
// taken by a batch whose output has not finished, and starts it again. With the
// write-ahead log (the Context checkpoints) the block was logged and committed, and
// the restart replays it: nothing is lost. Without it, a block is committed once a
// batch takes it: stored only, it was not committed and the group gives its records
// again; taken by the unfinished batch, it is lost, the data loss window the seeds
// describe.
func TestReceiverWriteAheadLogLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		wal, midBatch, lose bool
	}{{true, false, false}, {true, true, false}, {false, false, false}, {false, true, true}} {
		t.Run(fmt.Sprintf("wal=%v,midBatch=%v", tc.wal, tc.midBatch), func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.Topic("events", 4))
			dir := ""
			if tc.wal {
				dir = t.TempDir()
			}
			clock := dstream.NewManualClock(epoch)
			produce(t, b, "events", 4, 0, 100, "v")
			r := newReceiverRun(t, b, "g", dir, clock)
			ctx, cancel := context.WithCancel(context.Background())
			r.startCtx(ctx)
			r.until(func() bool { return r.count() >= 100 })

			produce(t, b, "events", 4, 100, 50, "v")
			wait, stopWaiting := context.WithTimeout(context.Background(), 30*time.Second)
			defer stopWaiting()
			if err := kafka.AwaitReceiver(wait, r.s, func(st kafka.ReceiverState) bool { return st.Received >= 50 }); err != nil {
				t.Fatal(err)
			}
			if tc.midBatch {
				// The next batch takes the 50 records; its output waits for the crash.
				entered := make(chan struct{})
				r.mu.Lock()
				r.hold = entered
				r.mu.Unlock()
				clock.Set(clock.Now().Truncate(interval).Add(interval))
				select {
				case <-entered:
				case <-wait.Done():
					t.Fatal("the batch did not start within 30s")
				}
			} else {
				clock.Advance(200 * time.Millisecond) // a block interval: a cut, short of the next batch
			}
			err := kafka.AwaitReceiver(wait, r.s, func(st kafka.ReceiverState) bool {
				return st.Received == 0 && (st.Stored >= 50) != tc.midBatch && st.Uncommitted == 0
			})
			if err != nil {
				t.Fatal(err)
			}
			offsets, err := b.Committed(context.Background(), "g", "events")
			if err != nil {
				t.Fatal(err)
			}
			committed := 0
			for _, o := range offsets {
				committed += int(o)
			}
			if want := map[bool]int{false: 100, true: 150}[tc.wal || tc.midBatch]; committed != want {
				t.Fatalf("%d offsets committed before the crash, want %d", committed, want)
			}
			if n := r.count(); n != 100 {
				t.Fatalf("%d records processed before the crash, want 100", n)
			}
			cancel() // the crash
			_ = r.wait()
			first := r.read

			r = newReceiverRun(t, b, "g", dir, clock)
			r.start()
			if tc.lose {
				for range 3 {
					r.advance()
				}
			} else {
				r.until(func() bool { return r.count() >= 50 })
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			lost := 0
			for i := range 150 {
				v := "v" + strconv.Itoa(i)
				if first[v]+r.read[v] == 0 {
					lost++
				}
			}
			switch {
			case tc.lose && lost == 0:
				t.Error("nothing was lost of the block taken by the unfinished batch")
			case !tc.lose && lost > 0:
				t.Errorf("%d records were lost", lost)
			}
		})
	}
}

// TestReceiverStreamsShareAGroup runs two receiver streams in one group, in two
// Contexts: the group splits the partitions between them and every record is read.
func TestReceiverStreamsShareAGroup(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 4))
	a := newReceiverRun(t, b, "shared", "", dstream.NewManualClock(epoch))
	c := newReceiverRun(t, b, "shared", "", dstream.NewManualClock(epoch))
	a.start()
	c.start()
	// Both streams in the group (one member each) before any record.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.WaitGroup(ctx, "shared", 2); err != nil {
		t.Fatal(err)
	}
	produce(t, b, "events", 4, 0, 400, "v")
	deadline := time.Now().Add(60 * time.Second)
	for a.count()+c.count() < 400 {
		if time.Now().After(deadline) {
			t.Fatalf("read %d and %d of 400 records within 60s", a.count(), c.count())
		}
		a.advance()
		c.advance()
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		v := "v" + strconv.Itoa(i)
		if a.read[v]+c.read[v] == 0 {
			t.Errorf("record %s was not read", v)
		}
	}
	if a.count() == 0 || c.count() == 0 {
		t.Errorf("one stream read nothing (%d and %d): the group did not split the partitions", a.count(), c.count())
	}
}

// startSource starts s's source as Run would, without a Run (30s at most), and
// stops it when the test ends; ctx ends then too.
func startSource[K, V any](t *testing.T, s *kafka.ReceiverStream[K, V]) (src kafka.ReceiverSource[K, V], ctx context.Context) {
	t.Helper()
	src = kafka.SourceOf(s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := src.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Stop(); err != nil {
			t.Error(err)
		}
		cancel()
	})
	return src, ctx
}

// TestReceiverTruncatesItsLogOnlyOnceTheCheckpointIsSaved drives a receiver stream's
// source as the Context does around a checkpoint: Checkpoint from a time after a
// batch no longer needs that batch's block, but the write-ahead log keeps it until
// CheckpointSaved (the checkpoint is durable): a crash, or a failed save, in between
// must still find it at the restart.
func TestReceiverTruncatesItsLogOnlyOnceTheCheckpointIsSaved(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 20, "v")
	c := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(dstream.NewManualClock(epoch)), dstream.CheckpointDir(t.TempDir()))
	s := kafka.NewReceiverStream(c, map[string]int{"events": 1}, kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
	src, ctx := startSource(t, s)
	if err := kafka.AwaitReceiver(ctx, s, func(st kafka.ReceiverState) bool { return st.Received == 20 }); err != nil {
		t.Fatal(err)
	}
	t1 := epoch.Add(interval)
	rd, info, err := src.Batch(ctx, t1) // cuts the 20 records into block 1
	if err != nil {
		t.Fatal(err)
	}
	if n, err := rdd.Count(ctx, rd); err != nil || n != 20 || info.Records != 20 {
		t.Fatalf("batch %v: %d records (info %d), %v; want 20", t1, n, info.Records, err)
	}
	logged := func() []uint64 {
		t.Helper()
		seqs, err := kafka.LoggedBlocks(s)
		if err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	if got := logged(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("logged blocks %v, want [1]", got)
	}
	// Batch t1 is complete: the checkpoint from t1+interval no longer needs block 1.
	if _, err := src.Checkpoint(t1.Add(interval)); err != nil {
		t.Fatal(err)
	}
	if got := logged(); !slices.Equal(got, []uint64{1}) {
		t.Errorf("after Checkpoint, before the checkpoint is saved, the log holds blocks %v, want [1]", got)
	}
	src.CheckpointSaved()
	if got := logged(); len(got) != 0 {
		t.Errorf("after CheckpointSaved the log holds blocks %v, want none", got)
	}
}

// TestReceiverRestartRemovesTheMembersItsCrashLeft stops a receiver stream that cannot
// leave its group (its LeaveGroup requests fail), so that its member stays, as a
// killed process's does, with a 2-minute session. Started again from its checkpoint
// directory, the stream removes that member and reads at once, in a group of one
// member; a new member that waited for the dead one would wait its session out.
func TestReceiverRestartRemovesTheMembersItsCrashLeft(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 4))
	dir := t.TempDir()
	clock := dstream.NewManualClock(epoch)
	session := kafka.SessionTimeout(2 * time.Minute)
	produce(t, b, "events", 4, 0, 100, "v")
	r := newReceiverRun(t, b, "g", dir, clock, session)
	r.start()
	r.until(func() bool { return r.count() >= 100 })
	fault, err := b.Fail(kafkatest.LeaveGroup, "", kafkatest.UnknownServerError, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if fault.Hits() == 0 {
		t.Fatal("the stream did not try to leave its group")
	}
	fault.Remove()

	produce(t, b, "events", 4, 100, 100, "w")
	r = newReceiverRun(t, b, "g", dir, clock, session)
	r.start()
	r.until(func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i := 100; i < 200; i++ {
			if r.read["w"+strconv.Itoa(i)] == 0 {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.WaitGroup(ctx, "g", 1); err != nil {
		t.Error(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverReportsThenFailsAnOutage makes every fetch fail: each batch says the
// receivers cannot fetch (InputInfo.Unavailable), the retries are logged at most once
// per warnEvery (30s) for each receiver, and once UnavailableTimeout has passed the
// next batch fails Run with an error naming the partitions, the brokers and the group.
func TestReceiverReportsThenFailsAnOutage(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 10, "v")
	fault, err := b.Fail(kafkatest.Fetch, "events", kafkatest.UnknownServerError, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer fault.Remove()
	logs := &warnings{}
	r := newReceiverRun(t, b, "g", "", dstream.NewManualClock(epoch), kafka.UnavailableTimeout(time.Second),
		kafka.WithLogger(slog.New(logs)))
	r.start()
	err = r.untilRunFails()
	for _, want := range []string{"could not fetch events/", "UnavailableTimeout", b.Addrs()[0], `group "g"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run's error %q does not name %q", err, want)
		}
	}
	if !r.wasUnavailable("cannot fetch events/") {
		t.Errorf("no batch said the receivers could not fetch; unavailable: %v", r.unavailable)
	}
	// Two receivers ("events": 2), one partition each.
	if n := logs.count("cannot fetch"); n != 2 || fault.Hits() <= 2 {
		t.Errorf("%d warnings for %d failed fetches, want 2: one for each receiver", n, fault.Hits())
	}
}

// warnings is a slog.Handler that keeps the messages of warnings.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.mu.Lock()
		w.msgs = append(w.msgs, r.Message)
		w.mu.Unlock()
	}
	return nil
}

// count returns how many warnings contain part.
func (w *warnings) count(part string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, part) {
			n++
		}
	}
	return n
}

// TestReceiverOffsetResetNoneFailsRun: with OffsetReset(None), a partition the group
// has no committed offset for fails Run with an error naming it, rather than starting
// somewhere silently.
func TestReceiverOffsetResetNoneFailsRun(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produce(t, b, "events", 2, 0, 10, "v")
	r := newReceiverRun(t, b, "g", "", dstream.NewManualClock(epoch), kafka.OffsetReset(kafka.None))
	r.start()
	err := r.untilRunFails()
	if !strings.Contains(err.Error(), "no committed offset for [events/") || !strings.Contains(err.Error(), "OffsetReset(None)") {
		t.Errorf("Run's error %q does not name the partitions and the policy", err)
	}
}
