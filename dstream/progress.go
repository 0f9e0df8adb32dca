package dstream

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// defaultProgressInterval is ProgressInterval's default.
const defaultProgressInterval = 5 * time.Second

// ProgressInterval sets how often, at most, long work (a restore of state, the
// catch-up of batches due after downtime; see Progress and StartProgress) logs
// its progress and reports it to listeners while it runs, by the Context's clock.
// It always logs and reports when it starts and when it ends. d must be > 0.
// Default: 5s.
func ProgressInterval(d time.Duration) Opt {
	return ctxOpt(func(c *Context) {
		if d <= 0 {
			c.invalidOpt("ProgressInterval(%v), want > 0", d)
			return
		}
		c.progressEvery = d
	})
}

// ProgressReporter logs the progress of one piece of long work through the
// Context's logger and reports it to the Context's listeners (ReportProgress):
// when it starts (StartProgress), then at most every ProgressInterval as work is
// added (Add), and when it ends (Done). Each log line says how much is done, the
// percentage and the time left (ETA) when the total is known. It is safe for
// concurrent use; listeners hear its reports in order, and must not call back
// into it. Its methods do nothing on a nil *ProgressReporter.
//
// Spark logs no progress of its recovery; Spate's restores (from a checkpoint,
// from Kafka changelogs) and its catch-up after downtime report theirs.
type ProgressReporter struct {
	c     *Context
	every time.Duration
	mu    sync.Mutex
	p     Progress
	last  time.Time // of the last report
}

// StartProgress starts reporting the progress of work op (e.g. "kafka.restore")
// on subject, of total units named unit ("records", "batches"; total 0: not
// known): it logs the start and reports it, and returns the reporter of the
// work, whose Done must be called when it ends.
func (c *Context) StartProgress(op, subject string, total int64, unit string) *ProgressReporter {
	now := c.clock.Now()
	r := &ProgressReporter{c: c, every: c.progressEvery, last: now,
		p: Progress{Op: op, Subject: subject, Total: total, Unit: unit, Started: now, At: now}}
	if r.every <= 0 {
		r.every = defaultProgressInterval
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report("started")
	return r
}

// Add counts n more units done and, if ProgressInterval has passed since the
// last report, logs and reports the progress. It reads the clock: call it per
// chunk of work (a fetch, a file, some thousands of records), not per record.
// Nothing is reported between two calls: work that stalls reports nothing until
// it moves on or ends; nor once the total is reached, which Done reports.
func (r *ProgressReporter) Add(n int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p.Done {
		return
	}
	r.p.Completed += n
	if r.p.Total > 0 && r.p.Completed >= r.p.Total {
		return // all done: Done reports it
	}
	now := r.c.clock.Now()
	if now.Sub(r.last) < r.every {
		return
	}
	r.last, r.p.At = now, now
	r.report("progress")
}

// Done ends the work, a failure if err is not nil: it logs and reports the end
// (Progress.Done), once; later calls, and Adds, do nothing.
func (r *ProgressReporter) Done(err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p.Done {
		return
	}
	now := r.c.clock.Now()
	r.last, r.p.At, r.p.Done, r.p.Err = now, now, true, err
	switch {
	case err != nil:
		r.report("failed")
	case r.p.Total > 0 && r.p.Completed < r.p.Total:
		r.report("ended early")
	default:
		r.report("done")
	}
}

// report logs the progress, as an event ("started", "progress", "done", …), and
// reports it to the listeners. r.mu is held.
func (r *ProgressReporter) report(event string) {
	p := r.p
	attrs := []slog.Attr{slog.String("subject", p.Subject), slog.Int64("completed", p.Completed)}
	if p.Total > 0 {
		attrs = append(attrs, slog.Int64("total", p.Total),
			slog.Float64("percent", math.Round(1000*float64(p.Completed)/float64(p.Total))/10))
	}
	attrs = append(attrs, slog.String("unit", p.Unit), slog.Duration("elapsed", p.At.Sub(p.Started)))
	if eta, ok := p.ETA(); ok {
		attrs = append(attrs, slog.Duration("eta", eta.Round(100*time.Millisecond)))
	}
	level := slog.LevelInfo
	if p.Err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.Any("error", p.Err))
	}
	r.c.logger.LogAttrs(context.Background(), level, fmt.Sprintf("%s: %s", p.Op, event), attrs...)
	r.c.ReportProgress(p)
}
