package dstream

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
)

// StopGracefullyOnShutdown makes Run stop gracefully when the process receives one of
// sigs (default: SIGINT and SIGTERM), as Stop does: no batch is generated after the
// current one, the batches already generated run with their output operations (and
// the offset commits queued by them), and Run returns nil. This is Spark's
// spark.streaming.stopGracefullyOnShutdown. A second signal while the graceful stop
// runs stops at once: Run abandons the queued batches, cancels the running one and
// returns an error naming the signal.
//
// The signals are caught only while Run runs (signal.Notify); before and after, they
// have their default effect. None of sigs may be nil. Default: off — a signal
// has its default effect (the process ends) unless the program handles it.
func StopGracefullyOnShutdown(sigs ...os.Signal) Opt {
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	return ctxOpt(func(c *Context) {
		if slices.Contains(sigs, nil) {
			c.invalidOpt("StopGracefullyOnShutdown(%v), want signals, not nil", sigs)
			return
		}
		c.stopSignals = sigs
	})
}

// StopGracefullyWhen makes Run stop gracefully, as Stop does, once ctx is done: the
// batches already generated run with their output operations and commits, and Run
// returns nil. Cancelling the context given to Run instead abandons the queued
// batches. ctx must not be nil. Default: none.
func StopGracefullyWhen(ctx context.Context) Opt {
	return ctxOpt(func(c *Context) {
		if ctx == nil {
			c.invalidOpt("StopGracefullyWhen(nil), want a context")
			return
		}
		c.stopWhen = append(c.stopWhen, ctx)
	})
}

// watchStops watches, until ctx ends, for what stops Run gracefully: a context of
// StopGracefullyWhen done, a signal of StopGracefullyOnShutdown (a second one aborts
// Run). Run calls it before anything is generated, so that no signal goes unhandled,
// and calls the returned wait after ctx ends.
func (c *Context) watchStops(ctx context.Context, abort func(error)) (wait func()) {
	var wg sync.WaitGroup
	for _, w := range c.stopWhen {
		wg.Go(func() {
			select {
			case <-w.Done():
				c.logger.Info("dstream: stopping gracefully: the context of StopGracefullyWhen is done", "cause", context.Cause(w))
				c.Stop()
			case <-ctx.Done():
			}
		})
	}
	if len(c.stopSignals) > 0 {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, c.stopSignals...)
		wg.Go(func() {
			defer signal.Stop(sigs)
			for first := true; ; first = false {
				var sig os.Signal
				select {
				case sig = <-sigs:
				case <-ctx.Done():
					return
				}
				if first {
					c.logger.Info("dstream: stopping gracefully: the generated batches finish first (send the signal again to stop at once)", "signal", sig.String())
					c.Stop()
					continue
				}
				c.logger.Warn("dstream: stopping at once: the queued batches are abandoned", "signal", sig.String())
				abort(fmt.Errorf("dstream: stopped at once by a second %v during a graceful stop: the queued batches were abandoned", sig))
				return
			}
		})
	}
	return wg.Wait
}
