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
// For tests of the Context itself, [Driver.Start] runs it under a context
// of the test's, [Driver.Advance] moves the clock to the next batch
// without waiting for the batch, [Driver.AwaitScheduler] waits until every
// batch due is generated, and [Driver.Wait] and [Driver.Done] tell when
// Run returns.
//
// A Driver needs no *testing.T: its methods return errors, so it serves
// examples, benchmarks and the harnesses of other packages too. Every wait
// is bounded (by [Timeout], 10s by default), a deadline for a hung test,
// never a measure of speed: a wait past it fails with [ErrTimeout]. A
// Driver is not safe for concurrent use, except [Driver.Done].
type Driver struct {
	interval time.Duration
	timeout  time.Duration
	c        *dstream.Context
	clock    *ManualClock

	cancel      context.CancelFunc // cancels Run's context; nil until Run starts
	returned    context.Context    // done once Run has returned
	setReturned context.CancelFunc
	err         error // Run's error, set before returned is done

	mu        sync.Mutex
	want      time.Time         // the batch time the latest Advance moved the clock to
	info      dstream.BatchInfo // what listeners heard of the batch at want, once it completed
	completed time.Time         // the latest batch completed
	failed    error             // the first failed batch's error
	notify    chan struct{}     // signalled on every completed batch

	invalid error // Drive's arguments are unusable: every Start fails with it
}

// ErrTimeout is wrapped by the error of a [Driver]'s wait that passed its
// bound ([Timeout]): the test hangs, whatever the stream does. A test that
// wants Run's error tells the two apart with errors.Is, so that it does
// not take a hang for the error it wants.
var ErrTimeout = errors.New("dstreamtest: timed out")

// NewDriver returns a Driver of a new Context with the batch interval
// ([Interval]), parallelism ([Parallelism]) and Context options
// ([ContextOptions]) of opts, on a manual clock that starts at a fixed
// epoch (2026-01-01T00:00:00Z) truncated to the batch interval: batch k
// (from 1) has time start + k×interval. Its waits are bounded by
// [Timeout].
func NewDriver(opts ...Opt) *Driver { return newDriver(newConfig(opts)) }

// newDriver is NewDriver of cfg.
func newDriver(cfg config) *Driver {
	clock := NewManualClock(cfg.start())
	copts := append([]dstream.Opt{dstream.BatchInterval(cfg.interval),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(cfg.parallelism)))}, cfg.ctxOpts...)
	copts = append(copts, dstream.WithClock(clock))
	return drive(dstream.NewContext(copts...), clock, cfg)
}

// Drive returns a Driver of c, a Context built elsewhere (e.g. by
// dstream.GetOrCreate) whose clock is clock; call it before c's Run
// starts. Advance and Step move clock to c's next batch time. An invalid
// option is a construction error of c (see [Opt]); a nil c or clock is the
// error of every Start, Step and Advance, wrapping dstream.ErrInvalid.
func Drive(c *dstream.Context, clock *ManualClock, opts ...DriveOpt) *Driver {
	return drive(c, clock, newConfig(opts))
}

// drive returns the Driver of c with cfg; c reports cfg's invalid options.
func drive(c *dstream.Context, clock *ManualClock, cfg config) *Driver {
	returned, setReturned := context.WithCancel(context.Background())
	d := &Driver{timeout: cfg.timeout, c: c, clock: clock,
		returned: returned, setReturned: setReturned, notify: make(chan struct{}, 1)}
	if c == nil || clock == nil {
		d.invalid = fmt.Errorf("dstreamtest.Drive: %w: nil Context (%t) or clock (%t), want both", dstream.ErrInvalid, c == nil, clock == nil)
		return d
	}
	if len(cfg.errs) > 0 {
		c.ReportInvalid("dstreamtest", errors.Join(cfg.errs...))
	}
	d.interval = c.BatchInterval()
	c.AddListener(driverListener{d})
	return d
}

// Context returns the Driver's Context, to build the graph on before the
// first Step.
func (d *Driver) Context() *dstream.Context { return d.c }

// Clock returns the Driver's manual clock. Step and Advance move it; a
// test moves it itself only to do what they do not (time passing within a
// batch, say).
func (d *Driver) Clock() *ManualClock { return d.clock }

// Start starts the Context's Run, in a goroutine of its own, under ctx:
// cancelling ctx ends Run (not gracefully), and [Driver.Wait] returns its
// error. Step, Advance and AwaitScheduler start Run under
// context.Background() if it has not started. Start fails if Run has
// started already.
func (d *Driver) Start(ctx context.Context) error {
	if d.invalid != nil {
		return d.invalid
	}
	if d.cancel != nil {
		return errors.New("dstreamtest: Run has started already")
	}
	runCtx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	go func() {
		defer d.setReturned()
		defer cancel()
		d.err = d.c.Run(runCtx)
	}()
	return nil
}

// start starts Run unless it has started.
func (d *Driver) start() error {
	if d.cancel != nil {
		return nil
	}
	return d.Start(context.Background())
}

// AwaitScheduler waits until the scheduler waits for its next batch time:
// Run has started its sources and generated every batch the clock has
// reached (those may still be queued or running). It starts Run if it has
// not started. It fails with Run's error if Run returns meanwhile, and
// with [ErrTimeout] if the wait passes its bound.
func (d *Driver) AwaitScheduler() error {
	if err := d.start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.returned, d.timeout)
	defer cancel()
	if err := d.clock.AwaitWaiters(ctx, 1); err != nil {
		if d.returned.Err() != nil { // Run ended first: say why
			return d.runEnded("the next batch")
		}
		return fmt.Errorf("dstreamtest: the scheduler did not wait for the next batch within %v: %w", d.timeout, ErrTimeout)
	}
	return nil
}

// Advance moves the clock to the next batch time (the clock's time
// truncated to the batch interval, plus the interval) once the scheduler
// waits for it ([Driver.AwaitScheduler]), and returns that time. Unlike
// Step it does not wait for the batch, which runs as Advance returns: for
// a test that acts while batches are queued or running (a Stop, a crash).
// It starts Run if it has not started.
func (d *Driver) Advance() (time.Time, error) {
	if d.invalid != nil {
		return time.Time{}, d.invalid
	}
	if d.interval <= 0 {
		return time.Time{}, fmt.Errorf("dstreamtest: batch interval %v, want > 0", d.interval)
	}
	if err := d.AwaitScheduler(); err != nil {
		return time.Time{}, err
	}
	bt := d.clock.Now().Truncate(d.interval).Add(d.interval)
	d.mu.Lock()
	d.want, d.info = bt, dstream.BatchInfo{}
	d.mu.Unlock()
	d.clock.Set(bt)
	return bt, nil
}

// Step runs the next batch and returns what the Context's listeners heard
// of it when it completed (its Time, the records of each input, its
// delays, its error): it moves the clock as [Driver.Advance] does and
// waits until the batch due then has completed, so its outputs (see
// [Collect]) are there when Step returns. It starts Run on the first call.
// Step fails if a batch failed (with the *dstream.BatchError), if Run has
// returned, or if a wait passes its bound ([ErrTimeout]); the BatchInfo
// has at least the batch's Time whenever the clock moved.
func (d *Driver) Step() (dstream.BatchInfo, error) {
	bt, err := d.Advance()
	if err != nil {
		return dstream.BatchInfo{}, err
	}
	return d.await(bt)
}

// await waits until the batch at bt has completed.
func (d *Driver) await(bt time.Time) (dstream.BatchInfo, error) {
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	ended := false
	for {
		d.mu.Lock()
		done, failed, info := !d.completed.Before(bt), d.failed, d.info
		d.mu.Unlock()
		if !info.Time.Equal(bt) {
			info = dstream.BatchInfo{Time: bt}
		}
		switch {
		case failed != nil:
			return info, failed
		case done:
			return info, nil
		case ended: // (listeners hear of every batch before Run returns)
			return info, d.runEnded("batch " + bt.Format(time.RFC3339Nano))
		}
		select {
		case <-d.notify:
		case <-d.returned.Done():
			ended = true
		case <-timer.C:
			return info, fmt.Errorf("dstreamtest: batch %s did not complete within %v: %w", bt.Format(time.RFC3339Nano), d.timeout, ErrTimeout)
		}
	}
}

// runEnded returns why Run returned before what a wait waited for; Run
// must have returned.
func (d *Driver) runEnded(what string) error {
	if d.err != nil {
		return d.err
	}
	return fmt.Errorf("dstreamtest: Run returned before %s", what)
}

// Wait waits (bounded) for Run to return and returns its error; it does
// not stop the Context (see [Driver.Stop]). Wait before Run started fails.
func (d *Driver) Wait() error {
	if d.cancel == nil {
		return errors.New("dstreamtest: Wait before Run started")
	}
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	select {
	case <-d.returned.Done():
		return d.err
	case <-timer.C:
		return fmt.Errorf("dstreamtest: Run did not return within %v: %w", d.timeout, ErrTimeout)
	}
}

// Done returns a channel that is closed once Run has returned (never
// before Run starts), for a test to select on; [Driver.Wait] then returns
// Run's error.
func (d *Driver) Done() <-chan struct{} { return d.returned.Done() }

// Stop stops the Context gracefully, waits (bounded) for Run to return and
// returns its error. Stop before Run started returns nil; a second Stop
// returns the first one's error.
func (d *Driver) Stop() error {
	if d.c != nil {
		d.c.Stop()
	}
	if d.cancel == nil {
		return nil
	}
	return d.Wait()
}

// Close cancels the Context's Run, not gracefully, and waits (bounded) for
// it to return: for a deferred call that makes sure nothing the Driver
// started outlives the test, whatever happened. After Run returned it does
// nothing.
func (d *Driver) Close() {
	if d.cancel != nil {
		d.cancel()
		_ = d.Wait()
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
	if b.Time.Equal(d.want) {
		d.info = b
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

// At returns the output of the batch at t (the Time of the BatchInfo
// [Driver.Step] returns): nil when it was empty, the stream had no RDD at
// t (a window between slides) or the batch has not run.
func (o *Output[T]) At(t time.Time) []T {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.batches[t]
}
