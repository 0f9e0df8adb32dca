package dstreamtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// Driver runs a [dstream.Context] on a [ManualClock] one batch at a time:
// build the graph on [Driver.Context] (with [Input] or any source, custom
// ones included), add an output to read with [Collect], then call
// [Driver.Step] once per batch and read the batch's output as soon as Step
// returns. [Driver.Stop] stops the Context. [Run] and [RunBatches] are
// built on it; use it to feed or check a stream batch by batch.
//
// A Driver needs no *testing.T: its methods return errors, so it serves
// examples, benchmarks and the harnesses of other packages too. Every wait
// is bounded (by 10s), a deadline for a hung test, never a measure of
// speed. A Driver is not safe for concurrent use.
type Driver struct {
	interval time.Duration
	c        *dstream.Context
	clock    *ManualClock
	run      *running

	mu        sync.Mutex
	completed time.Time     // the latest batch completed
	failed    error         // the first failed batch's error
	notify    chan struct{} // signalled on every completed batch
}

// NewDriver returns a Driver of a new Context with the batch interval
// ([Interval]), parallelism ([Parallelism]) and Context options
// ([ContextOptions]) of opts, on a manual clock that starts at a fixed
// epoch (2026-01-01T00:00:00Z) truncated to the batch interval: batch k
// (from 1) has time start + k×interval. Options of the comparison
// ([Unordered], [CmpOptions]) are ignored.
func NewDriver(opts ...Opt) *Driver {
	cfg := newConfig(opts)
	clock := NewManualClock(cfg.start())
	copts := append([]dstream.Opt{dstream.BatchInterval(cfg.interval),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(cfg.parallelism)))}, cfg.ctxOpts...)
	copts = append(copts, dstream.WithClock(clock))
	return Drive(dstream.NewContext(copts...), clock)
}

// Drive returns a Driver of c, a Context built elsewhere (e.g. by
// dstream.GetOrCreate) whose clock is clock. Step moves clock by c's batch
// interval.
func Drive(c *dstream.Context, clock *ManualClock) *Driver {
	d := &Driver{interval: c.BatchInterval(), c: c, clock: clock, notify: make(chan struct{}, 1)}
	c.AddListener(driverListener{d})
	return d
}

// Context returns the Driver's Context, to build the graph on before the
// first Step.
func (d *Driver) Context() *dstream.Context { return d.c }

// Clock returns the Driver's manual clock. Step moves it; a test moves it
// itself only to do what Step does not.
func (d *Driver) Clock() *ManualClock { return d.clock }

// Step runs the next batch and returns its time: on the first call it
// starts the Context's Run; it waits until the scheduler waits for the
// next batch, moves the clock one batch interval and waits until the
// batch due then has completed, so its outputs (see [Collect]) are there
// when Step returns. Step fails if the batch fails, if Run has returned,
// or if a wait passes its bound.
func (d *Driver) Step() (time.Time, error) {
	if d.run == nil {
		if d.interval <= 0 {
			return time.Time{}, fmt.Errorf("dstreamtest: batch interval %v, want > 0", d.interval)
		}
		d.run = startRun(d.c)
	}
	if err := d.run.awaitScheduler(d.clock); err != nil {
		if d.run.returned.Err() != nil { // Run ended before the batch: say why
			return time.Time{}, d.runEnded()
		}
		return time.Time{}, fmt.Errorf("dstreamtest: the scheduler did not wait for the next batch: %w", err)
	}
	d.clock.Advance(d.interval)
	bt := d.clock.Now().Truncate(d.interval)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		d.mu.Lock()
		done, failed := !d.completed.Before(bt), d.failed
		d.mu.Unlock()
		if failed != nil {
			return bt, failed
		}
		if done {
			return bt, nil
		}
		select {
		case <-d.notify:
		case <-d.run.done:
			return bt, d.runEnded()
		case <-timer.C:
			return bt, fmt.Errorf("dstreamtest: batch %s did not complete within %v", bt.Format(time.RFC3339Nano), timeout)
		}
	}
}

// runEnded returns why Run returned before the batch a Step waits for.
func (d *Driver) runEnded() error {
	if err := d.run.wait(); err != nil {
		return err
	}
	return errors.New("dstreamtest: Run returned before the batch")
}

// Stop stops the Context gracefully, waits (bounded) for Run to return and
// returns its error. Stop before any Step returns nil; a second Stop
// returns the first one's error.
func (d *Driver) Stop() error {
	d.c.Stop()
	if d.run == nil {
		return nil
	}
	return d.run.wait()
}

// Close cancels the Context's Run, not gracefully, and waits (bounded) for
// it to return: for a deferred call that makes sure nothing the Driver
// started outlives the test, whatever happened. After Stop it does
// nothing.
func (d *Driver) Close() {
	if d.run != nil {
		d.run.abandon()
	}
}

type driverListener struct{ d *Driver }

func (l driverListener) OnBatchSubmitted(dstream.BatchInfo)   {}
func (l driverListener) OnBatchStarted(dstream.BatchInfo)     {}
func (l driverListener) OnOutputStarted(dstream.OutputInfo)   {}
func (l driverListener) OnOutputCompleted(dstream.OutputInfo) {}

func (l driverListener) OnBatchCompleted(b dstream.BatchInfo) {
	d := l.d
	d.mu.Lock()
	if b.Time.After(d.completed) {
		d.completed = b.Time
	}
	if b.Err != nil && d.failed == nil {
		d.failed = b.Err
	}
	d.mu.Unlock()
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// Input returns an input stream of c and the queue it reads: each batch
// reads the oldest batch pushed (Queue.Push, or batches) and not read yet,
// or nothing. Push a batch before the [Driver.Step] that should read it.
func Input[T any](c *dstream.Context, batches ...[]T) (*dstream.DStream[T], *Queue[T]) {
	return dstream.QueueStream(c, dstream.OneAtATime, batches...)
}

// Output holds the batches of a stream collected by [Collect].
type Output[T any] struct {
	mu      sync.Mutex
	batches map[time.Time][]T
}

// Collect adds an output operation to s that collects every batch's RDD,
// and returns where to read them. Call it before the first Step.
func Collect[T any](s *dstream.DStream[T]) *Output[T] {
	o := &Output[T]{batches: map[time.Time][]T{}}
	dstream.ForeachRDD(s, func(ctx context.Context, r *rdd.RDD[T], bt time.Time) error {
		batch, err := rdd.Collect(ctx, r)
		if err != nil {
			return err
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		o.batches[bt] = batch
		return nil
	})
	return o
}

// At returns the output of the batch at t (the time [Driver.Step]
// returns): nil when it was empty, the stream had no RDD at t (a window
// between slides) or the batch has not run.
func (o *Output[T]) At(t time.Time) []T {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.batches[t]
}
