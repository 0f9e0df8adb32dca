package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	mu     sync.Mutex
	read   map[string]int
	blocks []int // partitions per non-empty batch
}

// newReceiverRun builds the Context on clock, checkpointing into dir with
// GetOrCreate (which turns the write-ahead log on) unless dir is "".
func newReceiverRun(t *testing.T, b *kafkatest.Broker, group, dir string, clock *dstream.ManualClock, opts ...kafka.Opt) *receiverRun {
	t.Helper()
	r := &receiverRun{run: newRun(t), read: map[string]int{}}
	r.clock = clock
	build := func(c *dstream.Context) error {
		s := kafka.NewReceiverStream(c, map[string]int{"events": 2}, kafka.StringDeserializer(), kafka.StringDeserializer(),
			append([]kafka.Opt{kafka.Brokers(b.Addrs()...), kafka.GroupID(group), kafka.OffsetReset(kafka.Earliest),
				kafka.SessionTimeout(6 * time.Second), kafka.BlockInterval(200 * time.Millisecond)}, opts...)...)
		dstream.ForeachRDD(s.Stream(), func(ctx context.Context, rd *rdd.RDD[kafka.Record[string, string]], _ time.Time) error {
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
	copts := []dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(clock), dstream.WithListener(completedListener{ch: r.completed})}
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
	if err := r.step(next.Sub(r.clock.Now())); err != nil {
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
	b := startBroker(t, kafkatest.Topic("events", 4))
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
	// A batch has one partition per block: at most one per block interval (5 in a
	// 1s batch, the last cut by the batch itself).
	for _, n := range r.blocks {
		if n < 1 || n > 5 {
			t.Errorf("a batch with %d blocks", n)
		}
	}
}

// TestReceiverWriteAheadLogLosesNothing crashes a receiver stream (Run cancelled)
// while blocks are received, stored and committed but not yet processed, and starts
// it again: with the write-ahead log (the Context checkpoints) the logged blocks are
// replayed and every record is read; without it, those records are lost, the data
// loss window the seeds describe.
func TestReceiverWriteAheadLogLosesNothing(t *testing.T) {
	for _, wal := range []bool{true, false} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			b := startBroker(t, kafkatest.Topic("events", 4))
			dir := ""
			if wal {
				dir = t.TempDir()
			}
			clock := dstream.NewManualClock(epoch)
			produce(t, b, "events", 4, 0, 100, "v")
			r := newReceiverRun(t, b, "g", dir, clock)
			ctx, cancel := context.WithCancel(context.Background())
			go func() { r.done <- r.c.Run(ctx) }()
			r.until(func() bool { return r.count() >= 100 })
			// 50 more: received and cut into blocks (committed), but no batch takes
			// them: the clock moves in block intervals, short of the next batch.
			produce(t, b, "events", 4, 100, 50, "v")
			committed := func() int {
				offsets, err := b.Committed(context.Background(), "g", "events")
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, o := range offsets {
					n += int(o)
				}
				return n
			}
			for range 4 {
				if committed() == 150 {
					break
				}
				clock.Advance(200 * time.Millisecond)
				// Give the receivers (real) time to fetch and the cut to commit.
				for deadline := time.Now().Add(2 * time.Second); committed() < 150 && time.Now().Before(deadline); {
					select {
					case <-time.After(20 * time.Millisecond):
					case <-t.Context().Done():
					}
				}
			}
			pending := 150 - r.count()
			if pending == 0 {
				t.Fatal("no block was left unprocessed before the crash")
			}
			cancel() // the crash
			<-r.done
			first := r.read

			r = newReceiverRun(t, b, "g", dir, clock)
			r.start()
			if wal {
				r.until(func() bool { return r.count() >= 50 })
			} else {
				for range 3 {
					r.advance()
				}
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
			case wal && lost > 0:
				t.Errorf("with the write-ahead log, %d records were lost", lost)
			case wal && r.count() == 0:
				t.Error("with the write-ahead log, the restart replayed nothing")
			case !wal && lost == 0:
				t.Errorf("without the write-ahead log, nothing was lost of the %d records stored but not processed", pending)
			}
		})
	}
}

// TestReceiverStreamsShareAGroup runs two receiver streams in one group, in two
// Contexts: the group splits the partitions between them and every record is read.
func TestReceiverStreamsShareAGroup(t *testing.T) {
	b := startBroker(t, kafkatest.Topic("events", 4))
	a := newReceiverRun(t, b, "shared", "", dstream.NewManualClock(epoch))
	c := newReceiverRun(t, b, "shared", "", dstream.NewManualClock(epoch))
	a.start()
	c.start()
	// Both streams' receivers (two each) in the group before any record.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.WaitGroup(ctx, "shared", 4); err != nil {
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
