package dstreamtest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/rdd"
)

// Step returns what listeners heard of the batch: its time, and what each
// input read.
func TestDriverStepReturnsTheBatchInfo(t *testing.T) {
	d := dstreamtest.NewDriver()
	defer d.Close()
	in, _ := dstreamtest.Input(d.Context(), []int{1, 2, 3}, nil, []int{4})
	dstreamtest.Collect(in)
	for k, want := range []int64{3, 0, 1} {
		b, err := d.Step()
		if err != nil {
			t.Fatalf("Step %d: %v", k+1, err)
		}
		if wantT := epoch.Add(time.Duration(k+1) * time.Second); !b.Time.Equal(wantT) || b.NumRecords != want || len(b.Inputs) != 1 {
			t.Errorf("Step %d = %+v, want batch %v of %d records from one input", k+1, b, wantT, want)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
}

// The BatchInfo of a failed batch carries the batch's error, as Step does.
func TestDriverStepReturnsTheFailedBatchInfo(t *testing.T) {
	d := dstreamtest.NewDriver()
	defer d.Close()
	in, _ := dstreamtest.Input(d.Context(), []int{1})
	boom := errors.New("boom")
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return boom })
	b, err := d.Step()
	if !errors.Is(err, boom) || !errors.Is(b.Err, boom) || !b.Time.Equal(epoch.Add(time.Second)) {
		t.Fatalf("Step = %+v, %v; want batch 1's info and error, both wrapping boom", b, err)
	}
	if err := d.Stop(); !errors.Is(err, boom) {
		t.Errorf("Stop = %v, want Run's error wrapping boom", err)
	}
}

// A clock between two batch times moves to the next one, not one interval
// on: the batch due is the one Step returns, at the clock's time.
func TestDriverStepMovesTheClockToTheNextBatchTime(t *testing.T) {
	clock := dstreamtest.NewManualClock(epoch.Add(300 * time.Millisecond))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	in, _ := dstreamtest.Input(c, []int{1}, []int{2})
	out := dstreamtest.Collect(in)
	d := dstreamtest.Drive(c, clock)
	defer d.Close()
	for k := range 2 {
		b, err := d.Step()
		if err != nil {
			t.Fatal(err)
		}
		want := epoch.Add(time.Duration(k+1) * time.Second)
		if !b.Time.Equal(want) || !clock.Now().Equal(want) || len(out.At(want)) != 1 {
			t.Errorf("Step %d = batch %v, clock %v, output %v; want batch and clock at %v, one element", k+1, b.Time, clock.Now(), out.At(want), want)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Advance returns while the batch's output still runs; a graceful Stop
// then finishes it.
func TestDriverAdvanceDoesNotWaitForTheBatch(t *testing.T) {
	d := dstreamtest.NewDriver()
	defer d.Close()
	in, _ := dstreamtest.Input(d.Context(), []int{1})
	entered, release := make(chan struct{}), make(chan struct{})
	out := dstreamtest.Collect(dstream.Transform(in, func(r *rdd.RDD[int], _ time.Time) *rdd.RDD[int] {
		return rdd.Map(r, func(x int) int {
			close(entered)
			<-release
			return x
		})
	}))
	bt, err := d.Advance()
	if err != nil {
		t.Fatal(err)
	}
	if want := epoch.Add(time.Second); !bt.Equal(want) {
		t.Errorf("Advance = %v, want %v", bt, want)
	}
	select {
	case <-entered:
	case <-d.Done():
		t.Fatalf("Run returned before the batch ran: %v", d.Wait())
	}
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop() }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := out.At(bt); len(got) != 1 {
		t.Errorf("batch 1 = %v after Stop, want [1]: a graceful stop finishes it", got)
	}
}

// AwaitScheduler returns once every batch the clock reached is generated.
func TestDriverAwaitScheduler(t *testing.T) {
	d := dstreamtest.NewDriver()
	defer d.Close()
	generated := make(chan time.Time, 10)
	in, _ := dstreamtest.Input(d.Context(), []int{1}, []int{2}, []int{3})
	dstream.ForeachRDD(dstream.Transform(in, func(r *rdd.RDD[int], bt time.Time) *rdd.RDD[int] {
		generated <- bt
		return r
	}), func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	if err := d.AwaitScheduler(); err != nil { // starts Run
		t.Fatal(err)
	}
	d.Clock().Advance(3 * time.Second)
	if err := d.AwaitScheduler(); err != nil {
		t.Fatal(err)
	}
	if n := len(generated); n != 3 {
		t.Errorf("%d batches generated when AwaitScheduler returned, want the 3 due", n)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Start runs the Context under the test's context: cancelling it ends Run,
// which Wait and Done tell.
func TestDriverStartCancel(t *testing.T) {
	d := dstreamtest.NewDriver()
	defer d.Close()
	if err := d.Wait(); err == nil || !strings.Contains(err.Error(), "before Run started") {
		t.Errorf("Wait before Start = %v, want an error", err)
	}
	in, _ := dstreamtest.Input[int](d.Context())
	dstreamtest.Collect(in)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err == nil {
		t.Error("a second Start succeeded, want an error")
	}
	if _, err := d.Step(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Done():
		t.Fatalf("Done before cancel (Run = %v)", d.Wait())
	default:
	}
	cancel()
	if err := d.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
	}
	select {
	case <-d.Done():
	default:
		t.Error("Done not closed once Run returned")
	}
	if _, err := d.Step(); !errors.Is(err, context.Canceled) {
		t.Errorf("Step after Run returned = %v, want Run's error", err)
	}
}

// A batch that does not complete within Timeout fails Step with
// ErrTimeout, naming the batch; a Timeout that is not positive is a
// construction error of the Context, which the first Step fails with.
func TestDriverTimeout(t *testing.T) {
	d := dstreamtest.NewDriver(dstreamtest.Timeout(50 * time.Millisecond))
	defer d.Close()
	in, _ := dstreamtest.Input(d.Context(), []int{1})
	release := make(chan struct{})
	dstream.ForeachRDD(in, func(ctx context.Context, _ *rdd.RDD[int], _ time.Time) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	_, err := d.Step()
	close(release)
	if !errors.Is(err, dstreamtest.ErrTimeout) || !strings.Contains(err.Error(), "2026-01-01T00:00:01Z") {
		t.Errorf("Step of a hung batch = %v, want ErrTimeout naming the batch", err)
	}

	d = dstreamtest.NewDriver(dstreamtest.Timeout(0))
	defer d.Close()
	in, _ = dstreamtest.Input[int](d.Context())
	dstreamtest.Collect(in)
	if _, err := d.Step(); !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "Timeout(0s)") {
		t.Errorf("Step with Timeout(0) = %v, want an error naming Timeout", err)
	}
}

// Drive of a nil Context or clock is an error of every Start, Advance and
// Step, never a nil dereference.
func TestDriveOfNilIsAnError(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second))
	for name, d := range map[string]*dstreamtest.Driver{
		"nil Context": dstreamtest.Drive(nil, dstreamtest.NewManualClock(time.Unix(0, 0))),
		"nil clock":   dstreamtest.Drive(c, nil),
	} {
		if err := d.Start(context.Background()); !errors.Is(err, dstream.ErrInvalid) {
			t.Errorf("%s: Start = %v, want ErrInvalid", name, err)
		}
		if _, err := d.Advance(); !errors.Is(err, dstream.ErrInvalid) {
			t.Errorf("%s: Advance = %v, want ErrInvalid", name, err)
		}
		if _, err := d.Step(); !errors.Is(err, dstream.ErrInvalid) {
			t.Errorf("%s: Step = %v, want ErrInvalid", name, err)
		}
		if err := d.Stop(); err != nil {
			t.Errorf("%s: Stop = %v, want nil (Run never started)", name, err)
		}
		d.Close()
	}
}
