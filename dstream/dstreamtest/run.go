package dstreamtest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/dstream"
)

// epoch is the time the manual clock starts at, truncated to the batch
// interval so that batch times are multiples of it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// A RunOpt configures [Run] and [Run2]: an [Opt], or an option of their
// comparison ([Unordered], [CmpOptions]). Options are made only by this
// package's functions; a nil option is no option (see the package doc,
// "Options").
type RunOpt interface{ applyRun(*config) error }

// An Opt configures the Context of a [Driver] ([NewDriver]) and of the
// helpers built on one ([Run], [Run2], [RunBatches], [RunBatches2]):
// [Interval], [Parallelism], [ContextOptions], [Timeout]. Every Opt is a
// RunOpt.
type Opt interface {
	RunOpt
	contextOpt()
}

// A DriveOpt configures a [Driver] of a Context built elsewhere ([Drive]):
// [Timeout]. Every DriveOpt is an Opt.
type DriveOpt interface {
	Opt
	driveOpt()
}

// setter sets an option in a config, or returns what is wrong with its value.
type setter func(*config) error

// cmpOpt is a RunOpt that is not an Opt.
type cmpOpt setter

func (o cmpOpt) applyRun(c *config) error { return o(c) }

// ctxOpt is an Opt that is not a DriveOpt.
type ctxOpt setter

func (o ctxOpt) applyRun(c *config) error { return o(c) }
func (ctxOpt) contextOpt()                {}

// driverOpt is a DriveOpt.
type driverOpt setter

func (o driverOpt) applyRun(c *config) error { return o(c) }
func (driverOpt) contextOpt()                {}
func (driverOpt) driveOpt()                  {}

type config struct {
	interval    time.Duration
	parallelism int
	unordered   bool
	cmpOpts     []cmp.Option
	ctxOpts     []dstream.Opt
	timeout     time.Duration
	errs        []error // the invalid options, for the Context to report
}

// newConfig applies opts (of any of the option types) to the defaults.
func newConfig[O RunOpt](opts []O) config {
	cfg := config{interval: time.Second, parallelism: 2, timeout: 10 * time.Second}
	for _, o := range opts {
		if RunOpt(o) == nil {
			continue
		}
		if err := o.applyRun(&cfg); err != nil {
			cfg.errs = append(cfg.errs, err)
		}
	}
	return cfg
}

// Interval sets the batch interval of the Context; d must be > 0. Default:
// 1s. It matters to windowed operations, whose lengths and slides are
// multiples of it.
func Interval(d time.Duration) Opt {
	return ctxOpt(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("Interval(%v), want > 0", d)
		}
		c.interval = d
		return nil
	})
}

// Parallelism sets how many tasks the Context's engine runs at once, and
// so the default partition count of every input batch; n must be at least
// 1. Default: 2.
func Parallelism(n int) Opt {
	return ctxOpt(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("Parallelism(%d), want at least 1", n)
		}
		c.parallelism = n
		return nil
	})
}

// Unordered makes [Run] and [Run2] compare each batch as a multiset: the
// order of a batch's elements does not matter (batches are still compared
// in order). Default: each batch is compared in order. Elements are sorted
// by their fmt.Sprint form, so they need not be ordered types.
func Unordered() RunOpt { return cmpOpt(func(c *config) error { c.unordered = true; return nil }) }

// CmpOptions adds go-cmp options to the comparison of [Run] and [Run2],
// e.g. cmp.AllowUnexported or cmpopts.EquateApprox. Default: none besides
// cmpopts.EquateEmpty (a nil batch equals an empty one).
func CmpOptions(opts ...cmp.Option) RunOpt {
	return cmpOpt(func(c *config) error { c.cmpOpts = append(c.cmpOpts, opts...); return nil })
}

// ContextOptions adds options of the Context that [Run], [RunBatches] and
// [NewDriver] build, e.g. dstream.WithListener or dstream.CheckpointDir.
// Default: none. They come after the batch interval and engine (which they
// may replace). They must not set the clock (dstream.WithClock): the
// Driver's manual clock is the Context's.
func ContextOptions(opts ...dstream.Opt) Opt {
	return ctxOpt(func(c *config) error {
		// The options on a Context of their own after a clock of ours, to see
		// whether they set the clock.
		mine := dstream.NewManualClock(epoch)
		if dstream.NewContext(append([]dstream.Opt{dstream.WithClock(mine)}, opts...)...).Clock() != mine {
			return errors.New("ContextOptions(…dstream.WithClock…): the Driver's manual clock is the Context's")
		}
		c.ctxOpts = append(c.ctxOpts, opts...)
		return nil
	})
}

// Timeout bounds every wait of [Run], [RunBatches] and a [Driver]: for
// the scheduler to wait for its next batch, for a batch to complete, for
// Run to return. It is a deadline for a hung test, never a measure of
// speed: a wait past it fails with [ErrTimeout]. d must be > 0. Default:
// 10s.
func Timeout(d time.Duration) DriveOpt {
	return driverOpt(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("Timeout(%v), want > 0", d)
		}
		c.timeout = d
		return nil
	})
}

// Run tests op batch by batch: it feeds input[k] as batch k+1 of a queue
// stream, applies op, runs max(len(input), len(want)) batches on a manual
// clock and compares the output of each with want. A batch beyond the end
// of input is empty; a batch beyond the end of want, or a nil one, is
// expected to be empty. Each differing batch is reported with t.Errorf,
// naming the batch number (from 1) and time, with a diff (-want +got); a
// failing Run, or op returning nil, is reported with t.Fatalf.
func Run[T, U any](t testing.TB, input [][]T, op func(*dstream.DStream[T]) *dstream.DStream[U], want [][]U, opts ...RunOpt) {
	t.Helper()
	cfg := newConfig(opts)
	got := runInput(t, cfg, input, op, max(len(input), len(want)))
	compare(t, cfg, want, got)
}

// Run2 is [Run] for an operation of two input streams, fed from a and b;
// it runs max(len(a), len(b), len(want)) batches.
func Run2[A, B, U any](t testing.TB, a [][]A, b [][]B, op func(*dstream.DStream[A], *dstream.DStream[B]) *dstream.DStream[U], want [][]U, opts ...RunOpt) {
	t.Helper()
	cfg := newConfig(opts)
	got := runInput2(t, cfg, a, b, op, max(len(a), len(b), len(want)))
	compare(t, cfg, want, got)
}

// RunBatches feeds input[k] as batch k+1 of a queue stream, applies op,
// runs nbatches batches on a manual clock and returns the output of each:
// element k is batch k+1's, nil when the batch was empty or op's stream
// had no RDD at its time (a window between slides). A failing Run, or op
// returning nil, is reported with t.Fatalf.
func RunBatches[T, U any](t testing.TB, input [][]T, op func(*dstream.DStream[T]) *dstream.DStream[U], nbatches int, opts ...Opt) [][]U {
	t.Helper()
	return runInput(t, newConfig(opts), input, op, nbatches)
}

// runInput is RunBatches with cfg.
func runInput[T, U any](t testing.TB, cfg config, input [][]T, op func(*dstream.DStream[T]) *dstream.DStream[U], nbatches int) [][]U {
	t.Helper()
	if op == nil {
		t.Fatalf("dstreamtest: nil op")
	}
	return runBatches(t, cfg, nbatches, func(c *dstream.Context) *dstream.DStream[U] {
		in, _ := Input(c, input...)
		return op(in)
	})
}

// RunBatches2 is [RunBatches] for an operation of two input streams, fed
// from a and b.
func RunBatches2[A, B, U any](t testing.TB, a [][]A, b [][]B, op func(*dstream.DStream[A], *dstream.DStream[B]) *dstream.DStream[U], nbatches int, opts ...Opt) [][]U {
	t.Helper()
	return runInput2(t, newConfig(opts), a, b, op, nbatches)
}

// runInput2 is RunBatches2 with cfg.
func runInput2[A, B, U any](t testing.TB, cfg config, a [][]A, b [][]B, op func(*dstream.DStream[A], *dstream.DStream[B]) *dstream.DStream[U], nbatches int) [][]U {
	t.Helper()
	if op == nil {
		t.Fatalf("dstreamtest: nil op")
	}
	return runBatches(t, cfg, nbatches, func(c *dstream.Context) *dstream.DStream[U] {
		inA, _ := Input(c, a...)
		inB, _ := Input(c, b...)
		return op(inA, inB)
	})
}

// batchTime returns the time of batch k (from 1) of a run with cfg.
func (cfg config) batchTime(k int) time.Time {
	return cfg.start().Add(time.Duration(k) * cfg.interval)
}

// start is the manual clock's initial time, aligned to the batch interval.
func (cfg config) start() time.Time { return epoch.Truncate(cfg.interval) }

// runBatches builds a Driver with cfg, the graph with build, collects the
// output of nbatches batches and returns it by batch number.
func runBatches[U any](t testing.TB, cfg config, nbatches int, build func(*dstream.Context) *dstream.DStream[U]) [][]U {
	t.Helper()
	d := newDriver(cfg)
	defer d.Close() // on t.Fatalf (runtime.Goexit): nothing started may outlive the helper
	s := build(d.Context())
	if s == nil {
		t.Fatalf("dstreamtest: op returned a nil stream")
	}
	out := Collect(s)
	for range nbatches {
		if _, err := d.Step(); err != nil {
			if be := (*dstream.BatchError)(nil); errors.As(err, &be) {
				t.Fatalf("dstreamtest: Run: %v", err)
			}
			t.Fatalf("%v", err)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("dstreamtest: Run: %v", err)
	}
	batches := make([][]U, nbatches)
	for k := range batches {
		batches[k] = out.At(cfg.batchTime(k + 1))
	}
	return batches
}

// compare reports, with t.Errorf, every batch of got that differs from
// want.
func compare[U any](t testing.TB, cfg config, want, got [][]U) {
	t.Helper()
	opts := append([]cmp.Option{cmpopts.EquateEmpty()}, cfg.cmpOpts...)
	if cfg.unordered {
		opts = append(opts, cmpopts.SortSlices(func(a, b U) bool { return fmt.Sprint(a) < fmt.Sprint(b) }))
	}
	for k := range max(len(want), len(got)) {
		var w, g []U
		if k < len(want) {
			w = want[k]
		}
		if k < len(got) {
			g = got[k]
		}
		if diff := cmp.Diff(w, g, opts...); diff != "" {
			t.Errorf("batch %d (time %s): output mismatch (-want +got):\n%s",
				k+1, cfg.batchTime(k+1).Format(time.RFC3339Nano), diff)
		}
	}
}
