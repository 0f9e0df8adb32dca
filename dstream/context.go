package dstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/rdd"
)

// ErrInvalid is wrapped by the error Run returns when the graph was built
// with an invalid argument (a nil function, a missing batch interval, no
// output operation, an invalid option). A nil *DStream (or *Context) given to
// an operator makes a stream of no Context; an output operation on such a
// stream is reported, naming where it was called, by the next Context to run
// in the process (there is no other Context to tell). An output operation
// added after Run started fails that Run.
//
// It is [rdd.ErrInvalid], so errors.Is(err, rdd.ErrInvalid) and
// errors.Is(err, dstream.ErrInvalid) agree, whichever package built the error.
// Sources and sinks outside this package report theirs with
// [Context.ReportInvalid].
var ErrInvalid = rdd.ErrInvalid

// ErrAlreadyRan is returned by Run on a Context that has already run (or is
// running): a Context runs once; build a new one (or use GetOrCreate) to run again.
var ErrAlreadyRan = errors.New("dstream: Context already ran")

// Context is Spark's StreamingContext: it owns the batch interval, the clock,
// the graph of DStreams and the scheduler. Build the graph first (sources,
// transformations, output operations); nothing runs before Run. A Context
// runs once.
type Context struct {
	interval time.Duration
	clock    Clock
	// intervalSet: BatchInterval was given (validate tells a missing interval
	// from an invalid one).
	intervalSet bool
	eng         *rdd.Engine
	logger      *slog.Logger
	remember    time.Duration
	listeners   []Listener // under mu; appended to a clipped copy
	// startTime is when Run started; stateNames names the stateful streams with
	// state, fixed when Run starts (stableNames). Under mu.
	startTime  time.Time
	stateNames map[*streamInfo]string

	mu      sync.Mutex
	nextID  int
	errs    []error
	inputs  []input
	streams []stream
	outputs []*output
	// services are started and stopped by Run (AddService).
	services []Service
	// statefuls are the stateful streams, in creation order (parents first).
	statefuls []statefulStream
	// views are the streams that read a state store (see newStoreView).
	views []viewStream
	// stores are the stateful streams' stores (see addStores).
	stores []stateMemory

	ckptDir         string
	ckptInterval    time.Duration
	maxCkptFailures int           // MaxCheckpointFailures; 0: the default
	snapshotEvery   int           // StateSnapshotEvery; 0: the default
	progressEvery   time.Duration // ProgressInterval; 0: the default
	ckptFailures    int           // batches in a row whose checkpoint failed (processing loop only)
	ckpt            *ckptState    // the open checkpoint stores
	ckptChecked     bool          // GetOrCreate looked for a checkpoint to resume from
	recovery        *recovery     // what GetOrCreate resumes from, or nil
	lastGen         time.Time     // the last batch generated (guarded by mu)
	started         bool
	abort           func(error) // fails a running Run (guarded by mu; nil when not running)
	zero            time.Time   // the time before the first batch, set by Run
	stop            chan struct{}
	stopSignals     []os.Signal       // StopGracefullyOnShutdown
	stopWhen        []context.Context // StopGracefullyWhen
	stopped         sync.Once
}

// An Opt configures a Context (see NewContext and GetOrCreate). Opts are made
// only by this package's functions (BatchInterval, WithClock, WithEngine,
// CheckpointDir, WithListener, …). A nil Opt is no option. An invalid value
// (see each option) is a construction error: Run, and GetOrCreate, fail with
// it before the first batch, naming the option and its value.
type Opt interface{ applyContext(*Context) }

// ctxOpt is an Opt.
type ctxOpt func(*Context)

func (o ctxOpt) applyContext(c *Context) { o(c) }

// invalidOpt records the invalid value of a Context option, e.g.
// c.invalidOpt("Remember(%v), want > 0", d), for Run to fail with.
func (c *Context) invalidOpt(format string, args ...any) {
	c.invalidf("dstream.Context", format, args...)
}

// BatchInterval sets the time between batches. d must be > 0. Required: there
// is no default, and Run fails if it is not set.
func BatchInterval(d time.Duration) Opt {
	return ctxOpt(func(c *Context) { c.interval, c.intervalSet = d, true })
}

// WithClock sets the clock batches are scheduled by; it must not be nil.
// Default: RealClock(). Tests pass a *ManualClock.
func WithClock(clock Clock) Opt {
	return ctxOpt(func(c *Context) {
		if clock == nil {
			c.invalidOpt("WithClock(nil), want a clock")
			return
		}
		c.clock = clock
	})
}

// WithEngine sets the executor that runs every batch's RDDs. An Engine built
// with an invalid option (see rdd.Engine.Err) is invalid. Default (and nil):
// a new rdd.Engine with GOMAXPROCS parallelism and the Context's logger.
func WithEngine(e *rdd.Engine) Opt {
	return ctxOpt(func(c *Context) {
		if e != nil && e.Err() != nil {
			c.report(fmt.Errorf("dstream.Context: WithEngine: %w", e.Err()))
		}
		c.eng = e
	})
}

// WithLogger sets the logger for batch events. Default (and nil):
// slog.Default().
func WithLogger(l *slog.Logger) Opt { return ctxOpt(func(c *Context) { c.logger = l }) }

// Remember sets how long, at least, every stream keeps the RDDs of past
// batches (Spark's ssc.remember); d must be > 0. Default: one batch interval,
// or what the graph's windows need, whichever is longer (a shorter d changes
// nothing).
func Remember(d time.Duration) Opt {
	return ctxOpt(func(c *Context) {
		if d <= 0 {
			c.invalidOpt("Remember(%v), want > 0", d)
			return
		}
		c.remember = d
	})
}

// NewContext returns a Context configured by opts. It starts nothing.
func NewContext(opts ...Opt) *Context {
	c := &Context{clock: RealClock(), logger: slog.Default(), stop: make(chan struct{})}
	for _, o := range opts {
		if o != nil {
			o.applyContext(c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.eng == nil {
		c.eng = rdd.NewEngine(rdd.WithLogger(c.logger))
	}
	return c
}

// BatchInterval returns the time between batches.
func (c *Context) BatchInterval() time.Duration { return c.interval }

// Engine returns the executor that runs the batches' RDDs.
func (c *Context) Engine() *rdd.Engine { return c.eng }

// Clock returns the clock batches are scheduled by.
func (c *Context) Clock() Clock { return c.clock }

// ReportInvalid records a construction error of op, an operator, source or
// sink built on c outside this package (e.g. "kafka.WriteToKafka"): Run then
// fails before the first batch with an error naming op and wrapping both
// ErrInvalid and err. It is how such code reports an invalid argument or
// option, as this package's own operators do, instead of panicking or
// failing later. On a nil c (an operator given a nil Context or a stream of
// none) the error is reported by the next Context to run in the process; after
// Run started it fails that Run.
func (c *Context) ReportInvalid(op string, err error) {
	if err == nil {
		err = errors.New("invalid")
	}
	c.report(fmt.Errorf("%s: %w: %w", op, ErrInvalid, err))
}

// invalidf records a construction error, reported by Run.
func (c *Context) invalidf(op, format string, args ...any) error {
	err := fmt.Errorf("%s: %w: %s", op, ErrInvalid, fmt.Sprintf(format, args...))
	c.report(err)
	return err
}

// report records err, a construction error, for Run to fail with: on a nil c
// for the next Context to run, on a running c by failing its Run.
func (c *Context) report(err error) {
	if c == nil {
		orphans.mu.Lock()
		orphans.errs = append(orphans.errs, err)
		orphans.mu.Unlock()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
	if c.started && c.abort != nil {
		c.abort(err)
	}
}

// register adds a stream to the graph and returns its id.
func (c *Context) register(s stream) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	c.streams = append(c.streams, s)
	return c.nextID
}

// Stop ends Run gracefully: no batch is generated after the current one,
// and the batches already generated, with their output operations, finish
// before Run returns (with nil). Stop may be called from any goroutine,
// more than once, and before Run (Run then returns at once).
func (c *Context) Stop() { c.stopped.Do(func() { close(c.stop) }) }

// Stopping returns a channel that is closed when Stop is called: a source
// whose reads can block (a fetch from a broker) selects on it to give up
// waiting, so that a graceful stop is not held up by an unreachable system.
func (c *Context) Stopping() <-chan struct{} { return c.stop }

// validate returns every construction error, and the graph-level ones.
func (c *Context) validate() error {
	orphaned := takeOrphanOutputs()
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := append(slices.Clone(c.errs), orphaned...)
	switch {
	case !c.intervalSet:
		errs = append(errs, fmt.Errorf("dstream.Context: %w: no batch interval: set BatchInterval", ErrInvalid))
	case c.interval <= 0:
		errs = append(errs, fmt.Errorf("dstream.Context: %w: BatchInterval(%v), want > 0", ErrInvalid, c.interval))
	}
	if len(c.outputs) == 0 {
		errs = append(errs, fmt.Errorf("dstream.Context: %w: no output operation (ForeachRDD, Print, …): nothing would run", ErrInvalid))
	}
	return errors.Join(errs...)
}
