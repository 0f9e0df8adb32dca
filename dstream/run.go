package dstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/rdd"
)

// LabelBatch is the profiler label (runtime/pprof) that holds the time of the
// batch a task or output operation works on, formatted as time.RFC3339Nano (as
// BatchError formats it). Run labels with it, and with the label operator
// (rdd.LabelOperator), the work of each batch: its inputs' preparation and commit
// (operator: the input, e.g. "kafka.DirectStream#1"), its stateful streams'
// update (the stream's operator, e.g. "dstream.MapWithState"), its output
// operations (the output's, e.g. "dstream.ForeachRDD") and its checkpoint
// ("dstream.Checkpoint"); their RDD tasks add their stage's operator and their
// partition (see rdd.LabelOperator). Profile a running job by operator with
// `go tool pprof -tagfocus operator=NAME`.
const LabelBatch = "batch"

// BatchError is a failed batch: the error Run returns when an output
// operation (or generating a batch's RDDs) fails.
type BatchError struct {
	// Time is the batch time.
	Time time.Time
	// Op is the output operation or input that failed, e.g. "dstream.ForeachRDD".
	Op string
	// Err is the cause.
	Err error
}

// Error names the batch time, the operation (unless the cause begins with it:
// a panic in the operation's own function) and the cause.
func (e *BatchError) Error() string {
	msg := fmt.Sprint(e.Err)
	if !strings.HasPrefix(msg, e.Op+":") && !strings.HasPrefix(msg, e.Op+" (") {
		msg = e.Op + ": " + msg
	}
	return fmt.Sprintf("dstream: batch %s: %s", errfmt.Time(e.Time), msg)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// batch is a generated batch: its time and one prepared job per output
// operation that has an RDD at that time, in registration order, with the
// output's name and registration index.
type batch struct {
	info BatchInfo
	jobs []func(ctx context.Context) error
	ops  []string
	idx  []int
}

// Run validates the graph, starts the sources, then the services
// (AddService), and runs a batch every batch interval until ctx is cancelled,
// Stop is called or a batch fails; it stops the services, then the sources.
//
// Batches are generated on the clock — the first at the first multiple of
// the batch interval after Run starts — and processed one at a time in
// time order; when processing falls behind, generated batches queue (their
// scheduling delay grows) and are never dropped or reordered.
//
// After Stop, Run finishes the batches already generated and returns nil;
// StopGracefullyOnShutdown and StopGracefullyWhen call Stop on a signal or
// when a context ends. After ctx is cancelled, Run abandons queued batches,
// waits for the one running (which sees the cancelled context) and returns
// ctx's error: cancelling ctx is not a graceful stop. After
// a failure, no later batch is generated and Run returns a *BatchError. A
// source or service that fails to stop is logged and, if nothing else
// failed, its error is Run's.
// Every goroutine Run starts has ended when it returns.
func (c *Context) Run(ctx context.Context) (err error) {
	// runCtx ends with Run; abort (an output added while running) cancels it
	// with its cause, which Run returns.
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return ErrAlreadyRan
	}
	c.started, c.abort = true, abort
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.abort = nil
		c.mu.Unlock()
	}()
	defer c.closeCheckpoints()
	defer c.closeStores()
	g, err := c.prepareRun()
	if err != nil {
		return err
	}
	inputs, services := g.inputs, g.services

	// ended returns why Run ends early: ctx's end, or an abort's cause, else err.
	ended := func(err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if cause := context.Cause(runCtx); cause != nil {
			return cause
		}
		return err
	}
	watchCtx, endWatch := context.WithCancel(runCtx)
	defer c.watchStops(watchCtx, abort)()
	defer endWatch()
	for i, in := range inputs {
		if err := in.start(runCtx); err != nil {
			_ = stopInputs(inputs[:i], c.logger) // logged; the start's failure is the error
			return fmt.Errorf("dstream: starting %s: %w", in.name(), err)
		}
	}
	defer func() {
		// A source that could not stop cleanly (records received but not
		// stored) makes a run that would end well fail.
		if stopErr := stopInputs(inputs, c.logger); err == nil {
			err = stopErr
		}
	}()
	if err := c.startServices(runCtx, services); err != nil {
		return err
	}
	defer func() {
		if stopErr := c.stopServices(services); err == nil {
			err = stopErr
		}
	}()

	q := &batchQueue{ready: make(chan struct{}, 1)}
	genCtx, stopGen := context.WithCancel(runCtx)
	var wg sync.WaitGroup
	wg.Go(func() { q.finish(c.generate(genCtx, runCtx, inputs, g.outputs, q)) })
	defer wg.Wait()
	defer stopGen()
	if k := c.newCompactor(); k != nil {
		compCtx, stopCompactor := context.WithCancel(context.WithoutCancel(runCtx))
		defer stopCompactor() // before wg.Wait: a compaction not started waits for the next run
		wg.Go(func() { k.run(compCtx) })
	}
	wg.Go(func() {
		// Stop ends generation; the processing loop then drains the queue.
		select {
		case <-c.stop:
			stopGen()
		case <-genCtx.Done():
		}
	})

	// A resumed Context reports its catch-up of the batches due since its
	// checkpoint, ending with Run's outcome.
	catchup, caughtUp := c.startCatchup(c.StartTime())
	defer func() { catchup.Done(err) }()
	return ended(c.processAll(runCtx, q, g, catchup, caughtUp))
}

// runGraph is what Run runs: the graph as it was when Run started.
type runGraph struct {
	inputs   []input
	outputs  []*output
	streams  []stream
	services []Service
}

// prepareRun checks the graph, warns of stateful streams nothing computes,
// fixes the Context's start (and, unless it resumes, its time zero), and
// refuses to start afresh over a checkpoint, which it would overwrite.
func (c *Context) prepareRun() (runGraph, error) {
	if err := c.validate(); err != nil {
		return runGraph{}, err
	}
	used := c.usedStatefuls()
	for _, st := range c.statefuls {
		if !used[st] {
			c.logger.Warn("dstream: a stateful stream has no output operation: it is not computed, and its state is not kept",
				"stream", fmt.Sprint(st))
		}
	}
	_, names, _ := c.stableNames()
	c.mu.Lock()
	g := runGraph{inputs: c.inputs, outputs: c.outputs, streams: c.streams, services: c.services}
	if c.recovery == nil {
		c.zero = c.clock.Now().Truncate(c.interval)
	}
	c.startTime, c.stateNames = c.clock.Now(), names
	c.mu.Unlock()
	if c.ckptDir != "" && !c.ckptChecked {
		if err := c.openCheckpoints(); err != nil {
			return runGraph{}, err
		}
		if _, err := c.ckpt.meta.Latest(); err == nil || !errors.Is(err, checkpoint.ErrNoCheckpoint) {
			return runGraph{}, fmt.Errorf("dstream: %w: %s holds a checkpoint: resume from it with GetOrCreate, or remove it (%v)", ErrInvalid, c.ckptDir, err)
		}
	}
	return g, nil
}

// processAll processes the batches of q in order until generation ends
// (returning its error, nil after Stop) or a batch fails (returning its
// error). An aborted batch (ErrBatchAborted) is logged and generated again.
// After each batch, the streams forget what no later batch needs, and
// catchup (nil unless the Context resumed) counts the batches up to
// caughtUp.
func (c *Context) processAll(runCtx context.Context, q *batchQueue, g runGraph, catchup *ProgressReporter, caughtUp time.Time) error {
	remember := max(c.remember, c.interval)
	for {
		b, genErr, ok := q.next(runCtx)
		if !ok {
			return genErr
		}
		if err := c.process(runCtx, &b, g.inputs, g.services); err != nil {
			if !errors.Is(err, ErrBatchAborted) || runCtx.Err() != nil {
				return err
			}
			c.logger.Warn("dstream: batch aborted: its state changes are rolled back; its records are processed again", "batch", b.info.Time, "error", err)
		}
		if catchup != nil && !b.info.Time.After(caughtUp) {
			catchup.Add(1)
			if b.info.Time.Equal(caughtUp) {
				catchup.Done(nil)
			}
		}
		for _, s := range g.streams {
			s.forget(b.info.Time, remember)
		}
	}
}

// process runs batch b (the steps of "Order of a batch" in the package doc),
// telling the listeners, and returns the first failure as a *BatchError.
func (c *Context) process(ctx context.Context, b *batch, inputs []input, services []Service) error {
	b.info.ProcessingStart = c.clock.Now()
	c.notify("OnBatchStarted", func(l Listener) { l.OnBatchStarted(b.info) })
	if err := c.runBatch(ctx, b, inputs, services); err != nil { // steps 1–5
		b.info.Err = err
	}
	c.settleStores(&b.info) // step 6
	b.info.StateKeys = c.stateKeys()
	if b.info.Err == nil {
		if err := c.fitStates(); err != nil {
			b.info.Err = &BatchError{Time: b.info.Time, Op: "dstream.MemoryBudget", Err: err}
		}
	}
	b.info.ProcessingEnd = c.clock.Now()
	var ckptFailed error
	if b.info.Err == nil && c.ckptDir != "" { // step 7
		ckptFailed = as(ctx, batchLabel(b.info.Time), "dstream.Checkpoint", func(ctx context.Context) error { return c.checkpointBatch(ctx, &b.info) })
	}
	c.completed(b.info, inputs, services) // step 8
	if b.info.Err != nil {
		return b.info.Err
	}
	return ckptFailed
}

// runBatch runs steps 1 to 5 of batch b (see "Order of a batch" in the package doc),
// until the first failure, which it returns as a *BatchError.
func (c *Context) runBatch(ctx context.Context, b *batch, inputs []input, services []Service) error {
	t, bl := b.info.Time, batchLabel(b.info.Time)
	for _, in := range inputs {
		if err := in.prepare(ctx, t); err != nil {
			return &BatchError{Time: t, Op: in.name(), Err: err}
		}
	}
	for _, st := range c.statefuls {
		if err := as(ctx, bl, st.info().name, func(ctx context.Context) error { return st.materializeAt(ctx, t) }); err != nil {
			return &BatchError{Time: t, Op: st.info().name, Err: err}
		}
	}
	for _, v := range c.views {
		if err := as(ctx, bl, v.info().name, func(ctx context.Context) error { return v.materializeView(ctx, t) }); err != nil {
			return &BatchError{Time: t, Op: fmt.Sprint(v), Err: err}
		}
	}
	for i, job := range b.jobs {
		o := OutputInfo{Batch: t, Index: b.idx[i], Op: b.ops[i], Start: c.clock.Now()}
		c.notify("OnOutputStarted", func(l Listener) { l.OnOutputStarted(o) })
		err := as(ctx, bl, b.ops[i], job)
		o.End, o.Err = c.clock.Now(), err
		c.notify("OnOutputCompleted", func(l Listener) { l.OnOutputCompleted(o) })
		if err != nil {
			return &BatchError{Time: t, Op: b.ops[i], Err: err}
		}
	}
	for _, in := range inputs {
		if err := in.commit(ctx, t); err != nil {
			return &BatchError{Time: t, Op: in.name(), Err: err}
		}
	}
	for _, s := range services {
		if bc, ok := s.(BatchCommitter); ok {
			if err := bc.CommitBatch(ctx, t); err != nil {
				return &BatchError{Time: t, Op: s.String(), Err: err}
			}
		}
	}
	return nil
}

// settleStores has the state stores keep the batch's changes as its version if it has
// not failed, else roll them back (step 6 of "Order of a batch"). A store that
// fails to keep them fails the batch: the stores after it roll back.
func (c *Context) settleStores(info *BatchInfo) {
	for _, st := range c.statefuls {
		h := st.info().store
		if h == nil {
			continue
		}
		if err := h.settle(info.Time, info.Err == nil); err != nil && info.Err == nil {
			info.Err = &BatchError{Time: info.Time, Op: st.info().name, Err: err}
		}
	}
}

// completed tells the listeners, the services, then the sources that the batch
// completed, failed or not (step 8 of "Order of a batch").
func (c *Context) completed(info BatchInfo, inputs []input, services []Service) {
	c.notify("OnBatchCompleted", func(l Listener) { l.OnBatchCompleted(info) })
	for _, s := range services {
		if bc, ok := s.(BatchCompleter); ok {
			bc.BatchCompleted(info)
		}
	}
	for _, in := range inputs {
		in.completed(info)
	}
}

// as runs f with ctx, and the goroutine, labelled for the profiler with the batch
// (batchLabel) and operator op (see LabelBatch).
func as(ctx context.Context, batch, op string, f func(ctx context.Context) error) (err error) {
	pprof.Do(ctx, pprof.Labels(LabelBatch, batch, rdd.LabelOperator, op), func(ctx context.Context) { err = f(ctx) })
	return err
}

// batchLabel is the value of LabelBatch for batch time t.
func batchLabel(t time.Time) string { return errfmt.Time(t) }

// notify calls f for every listener, in order. A listener that panics is
// logged and skipped: a listener watches the job, it does not fail it.
func (c *Context) notify(event string, f func(Listener)) {
	c.mu.Lock()
	listeners := c.listeners
	c.mu.Unlock()
	for i, l := range listeners {
		func() {
			defer func() {
				if v := recover(); v != nil {
					c.logger.Error("dstream: a listener panicked; the job goes on", "listener", fmt.Sprintf("%T", l),
						"index", i, "event", event, "panic", v, "stack", string(debug.Stack()))
				}
			}()
			f(l)
		}()
	}
}

// generate produces a batch at every batch time until waitCtx ends (Stop),
// and returns the error that stopped it, if a batch could not be generated.
// A batch whose time has come is generated whole (see "Order of a batch" in
// the package doc), with ctx, which only Run's end cancels.
func (c *Context) generate(waitCtx, ctx context.Context, inputs []input, outputs []*output, q *batchQueue) error {
	t := c.zero.Add(c.interval)
	if c.recovery != nil {
		t = c.recovery.history.Add(c.interval)
	}
	for {
		if err := c.clock.WaitUntil(waitCtx, t); err != nil {
			return nil // stopped or cancelled: not a failure
		}
		failed := func(op string, err error) error {
			if ctx.Err() != nil {
				return nil
			}
			return &BatchError{Time: t, Op: op, Err: err}
		}
		if c.resumed(t) {
			// Resuming: the batches up to the restored state are read again for
			// the windows that need them, without output.
			for _, in := range inputs {
				if _, err := in.generate(ctx, t); err != nil {
					return failed(in.name(), err)
				}
			}
			t = t.Add(c.interval)
			continue
		}
		b := batch{info: BatchInfo{Time: t, Inputs: make(map[string]InputInfo, len(inputs))}}
		for _, in := range inputs {
			read, err := in.generate(ctx, t)
			if err != nil {
				return failed(in.name(), err)
			}
			b.info.Inputs[in.name()] = read
			b.info.NumRecords += max(read.Records, 0)
		}
		for i, o := range outputs {
			job, err := o.prepare(ctx, t)
			if err != nil {
				return failed(o.name, err)
			}
			if job != nil {
				b.jobs, b.ops, b.idx = append(b.jobs, job), append(b.ops, o.name), append(b.idx, i)
			}
		}
		c.mu.Lock()
		c.lastGen = t
		c.mu.Unlock()
		b.info.SubmissionTime = c.clock.Now()
		c.notify("OnBatchSubmitted", func(l Listener) { l.OnBatchSubmitted(b.info) })
		q.push(b)
		t = t.Add(c.interval)
	}
}

// stopInputs stops every input, logs their failures and returns them joined.
func stopInputs(inputs []input, logger *slog.Logger) error {
	var errs []error
	for _, in := range inputs {
		if err := in.stop(); err != nil {
			logger.Warn("dstream: stopping input failed", "input", in.name(), "error", err)
			errs = append(errs, fmt.Errorf("dstream: stopping %s: %w", in.name(), err))
		}
	}
	return errors.Join(errs...)
}

// batchQueue is the unbounded queue of generated batches between the
// generator and the processing loop.
type batchQueue struct {
	mu      sync.Mutex
	batches []batch
	done    bool
	err     error
	ready   chan struct{} // signalled on push and finish
}

func (q *batchQueue) push(b batch) {
	q.mu.Lock()
	q.batches = append(q.batches, b)
	q.mu.Unlock()
	q.signal()
}

func (q *batchQueue) finish(err error) {
	q.mu.Lock()
	q.done, q.err = true, err
	q.mu.Unlock()
	q.signal()
}

func (q *batchQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// next returns the oldest batch; ok is false once the generator has
// finished and the queue is empty, or ctx is done (then queued batches are
// abandoned). genErr is the generator's failure, if any.
func (q *batchQueue) next(ctx context.Context) (b batch, genErr error, ok bool) {
	for {
		q.mu.Lock()
		if len(q.batches) > 0 && ctx.Err() == nil {
			b = q.batches[0]
			q.batches = q.batches[1:]
			q.mu.Unlock()
			return b, nil, true
		}
		if q.done || ctx.Err() != nil {
			err := q.err
			q.mu.Unlock()
			return batch{}, err, false
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
		}
	}
}

// stateKeys returns how many keys each named stateful stream holds (see
// BatchInfo.StateKeys), nil if none.
func (c *Context) stateKeys() map[string]int64 {
	var out map[string]int64
	for _, st := range c.statefuls {
		in := st.info()
		name, ok := c.stateNames[in]
		if !ok || in.store == nil {
			continue
		}
		if out == nil {
			out = map[string]int64{}
		}
		out[name] = in.store.keys()
	}
	return out
}

// StartTime returns when Run started, by c's clock (zero before).
func (c *Context) StartTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startTime
}
