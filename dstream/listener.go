package dstream

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// BatchInfo describes one batch, as the listeners see it.
type BatchInfo struct {
	// Time is the batch time.
	Time time.Time
	// Inputs is what each input read for the batch, by input stream
	// (name#id).
	Inputs map[string]InputInfo
	// NumRecords is the sum of the inputs' records (inputs that cannot
	// tell count 0).
	NumRecords int64
	// SubmissionTime is when the batch was generated and queued.
	SubmissionTime time.Time
	// ProcessingStart and ProcessingEnd bound its processing (zero until
	// then).
	ProcessingStart, ProcessingEnd time.Time
	// Err is the batch's failure, if it failed.
	Err error
	// CheckpointErr is why the batch's checkpoint could not be written, when
	// the Context checkpoints and the batch succeeded but its checkpoint
	// failed: a restart would resume from an older checkpoint (see
	// MaxCheckpointFailures).
	CheckpointErr error
	// CheckpointDuration is how long writing the batch's checkpoint took (0: none
	// written).
	CheckpointDuration time.Duration
	// StateKeys is how many keys each stateful stream holds after the batch (in
	// this process), by the name checkpoints and changelogs know it by (see
	// Named); set when the batch completes.
	StateKeys map[string]int64
}

// SchedulingDelay is how long the batch waited in the queue before its
// processing started.
func (b BatchInfo) SchedulingDelay() time.Duration {
	if b.ProcessingStart.IsZero() {
		return 0
	}
	return b.ProcessingStart.Sub(b.SubmissionTime)
}

// ProcessingDelay is how long its output operations took.
func (b BatchInfo) ProcessingDelay() time.Duration {
	if b.ProcessingEnd.IsZero() {
		return 0
	}
	return b.ProcessingEnd.Sub(b.ProcessingStart)
}

// TotalDelay is the scheduling delay plus the processing delay.
func (b BatchInfo) TotalDelay() time.Duration { return b.SchedulingDelay() + b.ProcessingDelay() }

// OutputInfo describes one output operation of one batch.
type OutputInfo struct {
	// Batch is the batch time.
	Batch time.Time
	// Index is the output operation's position in registration order.
	Index int
	// Op names the output operation, e.g. "dstream.ForeachRDD".
	Op string
	// Start and End bound its run (End is zero until it completes).
	Start, End time.Time
	// Err is its failure, if it failed.
	Err error
}

// Listener receives the scheduler's events: Spark's StreamingListener. The
// calls come from the scheduler's goroutines, in order for any one batch
// (submitted, started, output started/completed for each output in order,
// completed); a listener must not block for long, since the next batch
// waits for it. A listener that panics is logged (with the event and the
// stack) and the job goes on, as Spark's listener bus does.
type Listener interface {
	OnBatchSubmitted(BatchInfo)
	OnBatchStarted(BatchInfo)
	OnBatchCompleted(BatchInfo)
	OnOutputStarted(OutputInfo)
	OnOutputCompleted(OutputInfo)
}

// Progress is how far long work has gone: a restore of state (from a checkpoint,
// from a changelog), the catch-up of batches queued while a job was down. Work
// that reports progress reports it when it starts, at a steady pace while it runs,
// and when it ends (Done true).
type Progress struct {
	// Op names the work, e.g. "kafka.restore", "dstream.catchup".
	Op string
	// Subject says what it works on: a state and task, a changelog partition, a
	// checkpoint directory.
	Subject string
	// Completed is how many units are done, of Total (0: not known).
	Completed, Total int64
	// Unit names the units ("records", "batches").
	Unit string
	// Started is when the work started, and At when this report was made, by
	// the Context's clock.
	Started, At time.Time
	// Done reports the work's end; Err is its failure, if it failed.
	Done bool
	Err  error
}

// ETA estimates how much longer the work takes after At, at the rate it has
// gone since it started; ok is false when that cannot be told (the total is not
// known, nothing is done yet, no time has passed) or the work is done.
func (p Progress) ETA() (d time.Duration, ok bool) {
	elapsed := p.At.Sub(p.Started)
	if p.Done || p.Total <= 0 || p.Completed <= 0 || elapsed <= 0 {
		return 0, false
	}
	left := max(p.Total-p.Completed, 0)
	return time.Duration(float64(elapsed) * float64(left) / float64(p.Completed)), true
}

// ProgressListener is implemented by a Listener that hears the progress of long
// work (Progress), which Spark's listeners do not. OnProgress is called from the
// goroutine doing the work, which may hold the state it restores: it must return
// promptly and not call into the Context's streams or states.
type ProgressListener interface {
	OnProgress(Progress)
}

// ReportProgress tells the listeners that implement ProgressListener how far long
// work has gone. Sources call it; it may be called from any goroutine.
func (c *Context) ReportProgress(p Progress) {
	c.notify("OnProgress", func(l Listener) {
		if pl, ok := l.(ProgressListener); ok {
			pl.OnProgress(p)
		}
	})
}

// BaseListener implements every Listener method as a no-op: embed it to
// implement only some.
type BaseListener struct{}

// OnBatchSubmitted does nothing.
func (BaseListener) OnBatchSubmitted(BatchInfo) {}

// OnBatchStarted does nothing.
func (BaseListener) OnBatchStarted(BatchInfo) {}

// OnBatchCompleted does nothing.
func (BaseListener) OnBatchCompleted(BatchInfo) {}

// OnOutputStarted does nothing.
func (BaseListener) OnOutputStarted(OutputInfo) {}

// OnOutputCompleted does nothing.
func (BaseListener) OnOutputCompleted(OutputInfo) {}

// WithListener adds a listener; it must not be nil. Listeners are called in
// the order added. Default: none.
func WithListener(l Listener) Opt {
	return ctxOpt(func(c *Context) {
		if l == nil {
			c.invalidOpt("WithListener(nil), want a listener")
			return
		}
		c.AddListener(l)
	})
}

// AddListener adds a listener to c, before or while it runs (Spark's
// addStreamingListener): it hears the events after it is added. Listeners are
// called in the order added. A nil l is a construction error (see
// ReportInvalid).
func (c *Context) AddListener(l Listener) {
	if l == nil {
		c.invalidf("dstream.Context.AddListener", "nil listener")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(slices.Clip(c.listeners), l) // (notify holds the slice it read)
}

// SlogListener returns a listener that logs every completed batch (at info
// level, or error level for a failed one) with its records and delays, and
// the other events at debug level, to l (nil: slog.Default()).
func SlogListener(l *slog.Logger) Listener {
	if l == nil {
		l = slog.Default()
	}
	return slogListener{l}
}

type slogListener struct{ l *slog.Logger }

func batchAttrs(b BatchInfo) []slog.Attr {
	return []slog.Attr{slog.Time("batch", b.Time), slog.Int64("records", b.NumRecords),
		slog.Duration("scheduling_delay", b.SchedulingDelay()), slog.Duration("processing_delay", b.ProcessingDelay()),
		slog.Duration("total_delay", b.TotalDelay())}
}

func (s slogListener) OnBatchSubmitted(b BatchInfo) {
	s.l.LogAttrs(context.Background(), slog.LevelDebug, "batch submitted", slog.Time("batch", b.Time), slog.Int64("records", b.NumRecords))
}

func (s slogListener) OnBatchStarted(b BatchInfo) {
	s.l.LogAttrs(context.Background(), slog.LevelDebug, "batch started", slog.Time("batch", b.Time), slog.Duration("scheduling_delay", b.SchedulingDelay()))
}

func (s slogListener) OnBatchCompleted(b BatchInfo) {
	if b.Err != nil {
		s.l.LogAttrs(context.Background(), slog.LevelError, "batch failed", append(batchAttrs(b), slog.Any("error", b.Err))...)
		return
	}
	s.l.LogAttrs(context.Background(), slog.LevelInfo, "batch completed", batchAttrs(b)...)
}

func (s slogListener) OnOutputStarted(o OutputInfo) {
	s.l.LogAttrs(context.Background(), slog.LevelDebug, "output started", slog.Time("batch", o.Batch), slog.Int("index", o.Index), slog.String("op", o.Op))
}

func (s slogListener) OnOutputCompleted(o OutputInfo) {
	s.l.LogAttrs(context.Background(), slog.LevelDebug, "output completed", slog.Time("batch", o.Batch), slog.Int("index", o.Index),
		slog.String("op", o.Op), slog.Duration("duration", o.End.Sub(o.Start)), slog.Any("error", o.Err))
}
