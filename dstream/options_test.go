package dstream_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// runWith builds a Context of opts (on a manual clock, with a batch interval
// unless opts set one) with one queue stream and an output, and returns what
// Run, over an already cancelled context, returns: the construction errors,
// if any.
func runWith(t *testing.T, opts ...dstream.Opt) error {
	t.Helper()
	base := []dstream.Opt{dstream.WithClock(dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))), dstream.BatchInterval(time.Second)}
	c := dstream.NewContext(append(base, opts...)...)
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return c.Run(ctx)
}

// An invalid value of a Context option is a construction error: Run fails
// before the first batch with an error wrapping ErrInvalid that names the
// option and its value. None is ignored or clamped.
func TestInvalidContextOptions(t *testing.T) {
	var noContext context.Context // (a nil one)
	for _, tt := range []struct {
		opt  dstream.Opt
		want string
	}{
		{dstream.BatchInterval(-time.Second), "dstream.Context: invalid argument: BatchInterval(-1s), want > 0"},
		{dstream.WithClock(nil), "dstream.Context: invalid argument: WithClock(nil), want a clock"},
		{dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(0))), "dstream.Context: WithEngine: rdd.NewEngine: invalid argument: Parallelism(0), want at least 1"},
		{dstream.Remember(0), "dstream.Context: invalid argument: Remember(0s), want > 0"},
		{dstream.Remember(-time.Second), "dstream.Context: invalid argument: Remember(-1s), want > 0"},
		{dstream.CheckpointDir(""), `dstream.Context: invalid argument: CheckpointDir(""), want a directory`},
		{dstream.CheckpointInterval(0), "dstream.Context: invalid argument: CheckpointInterval(0s), want > 0"},
		{dstream.MaxCheckpointFailures(0), "dstream.Context: invalid argument: MaxCheckpointFailures(0), want at least 1"},
		{dstream.WithListener(nil), "dstream.Context: invalid argument: WithListener(nil), want a listener"},
		{dstream.ProgressInterval(-time.Second), "dstream.Context: invalid argument: ProgressInterval(-1s), want > 0"},
		{dstream.StateSnapshotEvery(0), "dstream.Context: invalid argument: StateSnapshotEvery(0), want at least 1"},
		{dstream.StopGracefullyOnShutdown(os.Interrupt, nil), "dstream.Context: invalid argument: StopGracefullyOnShutdown([interrupt <nil>]), want signals, not nil"},
		{dstream.StopGracefullyWhen(noContext), "dstream.Context: invalid argument: StopGracefullyWhen(nil), want a context"},
	} {
		err := runWith(t, tt.opt)
		if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run = %v, want ErrInvalid with %q", err, tt.want)
		}
	}
	// Valid values, and the nil ones that mean the default, are no error.
	err := runWith(t, nil, dstream.Remember(time.Minute), dstream.CheckpointInterval(time.Second), dstream.WithLogger(nil), dstream.WithEngine(nil))
	if err != nil && errors.Is(err, dstream.ErrInvalid) {
		t.Errorf("Run with valid options = %v", err)
	}
}

// A missing batch interval and an invalid one are told apart.
func TestNoBatchInterval(t *testing.T) {
	c := dstream.NewContext()
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	err := c.Run(context.Background())
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "no batch interval: set BatchInterval") {
		t.Errorf("Run without a batch interval = %v", err)
	}
}

// GetOrCreate over an empty directory name is an error, not a Context that
// never checkpoints.
func TestGetOrCreateEmptyDir(t *testing.T) {
	_, err := dstream.GetOrCreate("", func(c *dstream.Context) error {
		in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
		dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
		return nil
	}, dstream.BatchInterval(time.Second))
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), `CheckpointDir(""), want a directory`) {
		t.Errorf("GetOrCreate(\"\") = %v, want ErrInvalid naming the empty directory", err)
	}
}

// A nil listener given to AddListener is reported by Run, not dropped.
func TestAddNilListener(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second))
	c.AddListener(nil)
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "dstream.Context.AddListener: invalid argument: nil listener") {
		t.Errorf("Run = %v, want the nil listener reported", err)
	}
}

// An invalid shuffle option of a per-batch operator is a construction error
// reported by Run before the first batch, naming the operator and the option,
// not a failure of the first batch's job.
func TestInvalidShuffleOptionsFailRun(t *testing.T) {
	pairs := func(c *dstream.Context) *dstream.DStream[ops.KV[string, int]] {
		s, _ := dstream.QueueStream[ops.KV[string, int]](c, dstream.OneAtATime)
		return s
	}
	zero := rdd.Partitions[string](0)
	for _, tt := range []struct {
		op    string
		build func(c *dstream.Context)
	}{
		{"dstream.ReduceByKey", func(c *dstream.Context) { discard(dstream.ReduceByKey(pairs(c), ops.Sum[int], zero)) }},
		{"dstream.GroupByKey", func(c *dstream.Context) { discard(dstream.GroupByKey(pairs(c), zero)) }},
		{"dstream.CombineByKey", func(c *dstream.Context) { discard(dstream.CombineByKey(pairs(c), ops.Reducing(ops.Sum[int]), zero)) }},
		{"dstream.Join", func(c *dstream.Context) { discard(dstream.Join(pairs(c), pairs(c), zero)) }},
		{"dstream.LeftOuterJoin", func(c *dstream.Context) { discard(dstream.LeftOuterJoin(pairs(c), pairs(c), zero)) }},
		{"dstream.RightOuterJoin", func(c *dstream.Context) { discard(dstream.RightOuterJoin(pairs(c), pairs(c), zero)) }},
		{"dstream.FullOuterJoin", func(c *dstream.Context) { discard(dstream.FullOuterJoin(pairs(c), pairs(c), zero)) }},
		{"dstream.CoGroup", func(c *dstream.Context) { discard(dstream.CoGroup(pairs(c), pairs(c), zero)) }},
		{"dstream.Distinct", func(c *dstream.Context) { discard(dstream.Distinct(dstream.Keys(pairs(c)), zero)) }},
		{"dstream.CountByValue", func(c *dstream.Context) { discard(dstream.CountByValue(dstream.Keys(pairs(c)), zero)) }},
		{"dstream.ReduceByKeyAndWindow", func(c *dstream.Context) {
			discard(dstream.ReduceByKeyAndWindow(pairs(c), ops.Sum[int], 2*time.Second, time.Second, zero))
		}},
		{"dstream.ReduceByKeyAndWindowInv", func(c *dstream.Context) {
			discard(dstream.ReduceByKeyAndWindowInv(pairs(c), ops.SumInv[int](), 2*time.Second, time.Second, nil, zero))
		}},
		{"dstream.GroupByKeyAndWindow", func(c *dstream.Context) {
			discard(dstream.GroupByKeyAndWindow(pairs(c), 2*time.Second, time.Second, zero))
		}},
		{"dstream.UpdateStateByKey", func(c *dstream.Context) {
			discard(dstream.UpdateStateByKey(pairs(c), func(vs []int, st ops.Maybe[int]) ops.Maybe[int] { return st }, zero))
		}},
		{"dstream.UpdateStateByKeyWith", func(c *dstream.Context) {
			discard(dstream.UpdateStateByKeyWith(pairs(c), dstream.NewUpdateSpec(func(_ time.Time, _ string, _ []int, st ops.Maybe[int]) ops.Maybe[int] { return st }), zero))
		}},
		{"dstream.MapWithState", func(c *dstream.Context) {
			mapped, _ := dstream.MapWithState(pairs(c), dstream.NewStateSpec(func(time.Time, string, ops.Maybe[int], *dstream.State[int]) ops.Maybe[int] { return ops.None[int]() }), zero)
			discard(mapped)
		}},
		{"dstream.Repartition", func(c *dstream.Context) {
			discard(dstream.Repartition(dstream.Keys(pairs(c)), 4, rdd.Partitions[string](3)))
		}},
	} {
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
		tt.build(c)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.Run(ctx)
		want := "Partitions(0), want at least 1"
		if tt.op == "dstream.Repartition" {
			want = "Partitions(3) conflicts with the partition count 4"
		}
		if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), tt.op+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Run = %v, want ErrInvalid naming it and %q", tt.op, err, want)
		}
	}
}

// A StateSpec's invalid settings are construction errors of MapWithState,
// named; the zero StateSpec has no function.
func TestMapWithStateInvalidSpec(t *testing.T) {
	f := func(time.Time, string, ops.Maybe[int], *dstream.State[int]) ops.Maybe[int] { return ops.None[int]() }
	run := func(spec dstream.StateSpec[string, int, int, int]) error {
		c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
		in, _ := dstream.QueueStream[ops.KV[string, int]](c, dstream.OneAtATime)
		mapped, _ := dstream.MapWithState(in, spec)
		discard(mapped)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return c.Run(ctx)
	}
	for _, tt := range []struct {
		spec dstream.StateSpec[string, int, int, int]
		want string
	}{
		{dstream.StateSpec[string, int, int, int]{}, "nil function"},
		{dstream.NewStateSpec[string, int, int, int](nil), "nil function"},
		{dstream.NewStateSpec(f).Timeout(0), "StateSpec.Timeout(0s), want > 0"},
		{dstream.NewStateSpec(f).Timeout(-time.Second), "StateSpec.Timeout(-1s), want > 0"},
		{dstream.NewStateSpec(f).InitialState(nil), "StateSpec.InitialState(nil), want an RDD"},
	} {
		err := run(tt.spec)
		if want := "dstream.MapWithState: invalid argument: " + tt.want; !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("Run = %v, want ErrInvalid with %q", err, want)
		}
	}
	// A spec is a value: setting a copy leaves the original as it was.
	base := dstream.NewStateSpec(f)
	_ = base.Timeout(-1)
	if err := run(base.Timeout(time.Minute)); errors.Is(err, dstream.ErrInvalid) {
		t.Errorf("Run = %v: the invalid copy's setting leaked into the original", err)
	}
}

// Named with an empty name is an error reported by Run (it kept the default
// name).
func TestNamedEmpty(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	discard(dstream.Named(in, ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "dstream.Named: invalid argument: ") || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("Run = %v, want ErrInvalid naming dstream.Named and the empty name", err)
	}
}
