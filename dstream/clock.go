package dstream

import (
	"context"
	"sync"
	"time"
)

// Clock tells a Context the time and waits for batch times. The real clock
// is the default; tests use a [ManualClock] so that batches are generated
// without real time passing.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// WaitUntil blocks until Now() is at or after t, or ctx is done, in
	// which case it returns ctx's error.
	WaitUntil(ctx context.Context, t time.Time) error
}

// RealClock returns the wall clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

// Now returns the wall-clock time.
func (realClock) Now() time.Time { return time.Now() }

// WaitUntil sleeps on a timer until t.
func (realClock) WaitUntil(ctx context.Context, t time.Time) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// ManualClock is a Clock that moves only when told to: Advance and Set wake
// the goroutines waiting for the times they pass. It is safe for concurrent
// use. Tests drive a Context with it and use AwaitWaiters to know that the
// scheduler has reached its next wait before moving time on, so no test
// needs to sleep.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[*manualWaiter]struct{}
	changed chan struct{} // closed and replaced whenever waiters change
}

type manualWaiter struct {
	until time.Time
	done  chan struct{}
}

// NewManualClock returns a ManualClock that reads start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, waiters: map[*manualWaiter]struct{}{}, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (a negative d does nothing) and
// wakes the waiters whose time has come.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.setLocked(c.now.Add(d))
	}
}

// Set moves the clock to t if t is later than its time (a clock never goes
// back) and wakes the waiters whose time has come.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.setLocked(t)
	}
}

func (c *ManualClock) setLocked(t time.Time) {
	c.now = t
	for w := range c.waiters {
		if !w.until.After(t) {
			close(w.done)
			delete(c.waiters, w)
		}
	}
	c.notifyLocked()
}

func (c *ManualClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// WaitUntil blocks until the clock reads t or later, or ctx is done.
func (c *ManualClock) WaitUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	if !t.After(c.now) {
		c.mu.Unlock()
		return nil
	}
	w := &manualWaiter{until: t, done: make(chan struct{})}
	c.waiters[w] = struct{}{}
	c.notifyLocked()
	c.mu.Unlock()

	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, waiting := c.waiters[w]; !waiting {
			return nil // woken while being cancelled: the time has come
		}
		delete(c.waiters, w)
		c.notifyLocked()
		return ctx.Err()
	}
}

// Waiters returns how many goroutines are blocked in WaitUntil.
func (c *ManualClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// AwaitWaiters blocks until at least n goroutines are blocked in WaitUntil,
// or ctx is done.
func (c *ManualClock) AwaitWaiters(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		count, changed := len(c.waiters), c.changed
		c.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
