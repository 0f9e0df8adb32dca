package dstream_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// waitResult waits (bounded) for the result of a WaitUntil started in a
// goroutine.
func waitResult(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("WaitUntil did not return within 5s")
		return nil
	}
}

// startWait runs c.WaitUntil(ctx, at) in a goroutine and waits until it is
// blocked (waiters is how many should be blocked then).
func startWait(t *testing.T, ctx context.Context, c *dstream.ManualClock, at time.Time, waiters int) <-chan error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- c.WaitUntil(ctx, at) }()
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.AwaitWaiters(actx, waiters); err != nil {
		t.Fatalf("AwaitWaiters(%d): %v", waiters, err)
	}
	return ch
}

func TestManualClockMoves(t *testing.T) {
	c := dstream.NewManualClock(epoch)
	if got := c.Now(); !got.Equal(epoch) {
		t.Fatalf("Now = %v, want %v", got, epoch)
	}
	c.Advance(3 * time.Second)
	c.Advance(-time.Hour) // ignored
	if got, want := c.Now(), epoch.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now = %v, want %v", got, want)
	}
	c.Set(epoch) // a clock never goes back
	if got, want := c.Now(), epoch.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("after Set to the past: Now = %v, want %v", got, want)
	}
	c.Set(epoch.Add(time.Minute))
	if got, want := c.Now(), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after Set: Now = %v, want %v", got, want)
	}
}

func TestManualClockWaitUntilDueReturnsAtOnce(t *testing.T) {
	c := dstream.NewManualClock(epoch)
	for _, at := range []time.Time{epoch.Add(-time.Second), epoch} {
		if err := c.WaitUntil(context.Background(), at); err != nil {
			t.Fatalf("WaitUntil(%v) = %v", at, err)
		}
	}
	if n := c.Waiters(); n != 0 {
		t.Fatalf("Waiters = %d, want 0", n)
	}
}

func TestManualClockWakesWaitersWhenTheirTimeComes(t *testing.T) {
	leakcheck.Check(t)
	c := dstream.NewManualClock(epoch)
	ctx := context.Background()
	early := startWait(t, ctx, c, epoch.Add(2*time.Second), 1)
	late := startWait(t, ctx, c, epoch.Add(5*time.Second), 2)

	c.Advance(time.Second) // due: nobody
	if n := c.Waiters(); n != 2 {
		t.Fatalf("after 1s: Waiters = %d, want 2", n)
	}
	c.Advance(time.Second) // due: early, exactly at its time
	if err := waitResult(t, early); err != nil {
		t.Fatalf("early waiter: %v", err)
	}
	if n := c.Waiters(); n != 1 {
		t.Fatalf("after 2s: Waiters = %d, want 1", n)
	}
	c.Set(epoch.Add(10 * time.Second)) // past late's time
	if err := waitResult(t, late); err != nil {
		t.Fatalf("late waiter: %v", err)
	}
	if n := c.Waiters(); n != 0 {
		t.Fatalf("at the end: Waiters = %d, want 0", n)
	}
}

func TestManualClockWaitUntilCancelled(t *testing.T) {
	leakcheck.Check(t)
	c := dstream.NewManualClock(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	ch := startWait(t, ctx, c, epoch.Add(time.Hour), 1)
	cancel()
	if err := waitResult(t, ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitUntil after cancel = %v, want context.Canceled", err)
	}
	if n := c.Waiters(); n != 0 {
		t.Fatalf("Waiters after cancel = %d, want 0", n)
	}
}

func TestManualClockAwaitWaitersHonoursContext(t *testing.T) {
	c := dstream.NewManualClock(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.AwaitWaiters(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("AwaitWaiters with no waiter and a cancelled context = %v, want context.Canceled", err)
	}
	if err := c.AwaitWaiters(ctx, 0); err != nil {
		t.Fatalf("AwaitWaiters(0) = %v, want nil", err)
	}
}

func TestRealClock(t *testing.T) {
	leakcheck.Check(t)
	c := dstream.RealClock()
	if err := c.WaitUntil(context.Background(), c.Now().Add(-time.Second)); err != nil {
		t.Fatalf("WaitUntil(past) = %v", err)
	}
	at := c.Now().Add(10 * time.Millisecond)
	if err := c.WaitUntil(context.Background(), at); err != nil {
		t.Fatalf("WaitUntil(+10ms) = %v", err)
	}
	if now := c.Now(); now.Before(at) {
		t.Fatalf("WaitUntil returned at %v, before %v", now, at)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitUntil(ctx, c.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitUntil(+1h) with a cancelled context = %v, want context.Canceled", err)
	}
}

// cmpSorted compares string slices as sets with multiplicity.
var cmpSorted = cmp.Transformer("sorted", func(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
})
