package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// racingQueue is a checkpointed queue whose first Checkpoint lets the generator
// hand out the next batch before it saves: the moment a checkpoint is written
// while batch t+1 is generated.
type racingQueue struct {
	*dstream.Queue[string]
	clock     *dstream.ManualClock
	generated chan time.Time
	raced     bool
}

func (q *racingQueue) Batch(ctx context.Context, t time.Time) (*rdd.RDD[string], dstream.InputInfo, error) {
	r, info, err := q.Queue.Batch(ctx, t)
	q.generated <- t
	return r, info, err
}

func (q *racingQueue) Checkpoint(from time.Time) ([]byte, error) {
	if !q.raced {
		q.raced = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := q.clock.AwaitWaiters(ctx, 1); err != nil {
			return nil, err
		}
		next := q.clock.Now().Add(interval)
		q.clock.Advance(interval)
		var t time.Time
		for !t.Equal(next) {
			select {
			case t = <-q.generated:
			case <-ctx.Done():
				return nil, errors.New("the next batch was not generated")
			}
		}
	}
	return q.Queue.Checkpoint(from)
}

// seen records the elements each batch's output saw, by batch number.
type seen struct {
	mu sync.Mutex
	m  map[int][]string
}

func (s *seen) add(k int, elems []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int][]string{}
	}
	s.m[k] = append(s.m[k], elems...)
}

func (s *seen) get() map[int][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}

func batchNo(t time.Time) int { return int(t.Sub(epoch) / interval) }

func TestCheckpointKeepsTheBatchGeneratedWhileItIsWritten(t *testing.T) {
	dir := t.TempDir()
	var out seen
	blocked := make(chan struct{})
	build := func(src dstream.Source[string], block int) func(c *dstream.Context) error {
		return func(c *dstream.Context) error {
			in := dstream.FromSource(c, "test.Queue", src)
			dstream.ForeachRDD(in, func(ctx context.Context, r *rdd.RDD[string], bt time.Time) error {
				if batchNo(bt) == block {
					close(blocked)
					<-ctx.Done() // the process dies while this batch runs
					return ctx.Err()
				}
				elems, err := rdd.Collect(ctx, r)
				out.add(batchNo(bt), elems)
				return err
			})
			return nil
		}
	}

	// Run 1: batch 2 is handed out while batch 1's checkpoint is written; the
	// process dies during batch 2.
	h := newHarness(t)
	// The queue comes from a Context that only lends it (one that checkpoints,
	// so that the queue records its batches); the job reads it through q.
	queue := func(batches ...[]string) *dstream.Queue[string] {
		_, q := dstream.QueueStream(dstream.NewContext(dstream.CheckpointDir(t.TempDir())), dstream.OneAtATime, batches...)
		return q
	}
	q := &racingQueue{Queue: queue([]string{"a"}, []string{"b"}), clock: h.clock, generated: make(chan time.Time, 10)}
	c, err := dstream.GetOrCreate(dir, build(q, 2), dstream.BatchInterval(interval), dstream.WithClock(h.clock))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.start(ctx)
	h.batches(1) // batch 1; its checkpoint lets batch 2 be generated
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("batch 2 did not start")
	}
	cancel()
	if err := h.result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("run 1: %v", err)
	}

	// Run 2 resumes: batch 2 is produced again from the checkpoint.
	h = newHarness(t)
	q = &racingQueue{Queue: queue(), clock: h.clock, generated: make(chan time.Time, 10), raced: true}
	c, err = dstream.GetOrCreate(dir, build(q, 0), dstream.BatchInterval(interval), dstream.WithClock(h.clock))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(2)
	want := map[int][]string{1: {"a"}, 2: {"b"}}
	if diff := cmp.Diff(want, out.get()); diff != "" {
		t.Errorf("what the outputs saw (-want +got):\n%s", diff)
	}
}

// unsaveable is a state that msgpack cannot encode: its checkpoint fails.
type unsaveable struct {
	N int
	F func()
}

func TestAStateThatCannotBeSavedLeavesARecoverableCheckpoint(t *testing.T) {
	dir := t.TempDir()
	var out seen
	build := func(push [][]string, q **dstream.Queue[string]) func(c *dstream.Context) error {
		return func(c *dstream.Context) error {
			in, queue := dstream.QueueStream(c, dstream.OneAtATime, push...)
			*q = queue
			pairs := dstream.Map(in, func(w string) ops.KV[string, unsaveable] { return ops.Pair(w, unsaveable{N: 1}) })
			counts := dstream.UpdateStateByKey(pairs, func(vs []unsaveable, st ops.Maybe[unsaveable]) ops.Maybe[unsaveable] {
				n := st.OrElse(unsaveable{}).N
				for _, v := range vs {
					n += v.N
				}
				return ops.Some(unsaveable{N: n})
			})
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, unsaveable]], bt time.Time) error {
				kvs, err := rdd.Collect(ctx, r)
				var s []string
				for _, kv := range kvs {
					s = append(s, kv.Key+"="+strconv.Itoa(kv.Value.N))
				}
				out.add(batchNo(bt), s)
				return err
			})
			return nil
		}
	}
	var q *dstream.Queue[string]
	h := newHarness(t)
	c, err := dstream.GetOrCreate(dir, build([][]string{{"a"}, {"a"}}, &q),
		dstream.BatchInterval(interval), dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(2)

	// Every state save failed: the metadata lists no state, and a restart runs
	// every batch again from the first, on the sources' recorded data.
	h = newHarness(t)
	c, err = dstream.GetOrCreate(dir, build(nil, &q),
		dstream.BatchInterval(interval), dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatalf("resuming: %v", err)
	}
	h.c = c
	h.runBatches(2)
	want := map[int][]string{1: {"a=1", "a=1"}, 2: {"a=2", "a=2"}}
	if diff := cmp.Diff(want, out.get()); diff != "" {
		t.Errorf("what the outputs saw in the two runs (-want +got):\n%s", diff)
	}
}

func TestASecondJobOnACheckpointDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	build := func(c *dstream.Context) error {
		in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
		dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
		return nil
	}
	first, err := dstream.GetOrCreate(dir, build, dstream.BatchInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	_, err = dstream.GetOrCreate(dir, build, dstream.BatchInterval(interval))
	var locked *checkpoint.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, checkpoint.ErrLocked) || locked.PID != os.Getpid() ||
		!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second GetOrCreate on %s: %v; want a *checkpoint.LockedError naming the directory and pid %d", dir, err, os.Getpid())
	}
	// Run releases the directory when it returns.
	first.Stop()
	if err := first.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := dstream.GetOrCreate(dir, build, dstream.BatchInterval(interval))
	if err != nil {
		t.Fatalf("after the first job ended: %v", err)
	}
	again.Stop()
	if err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// infos is a listener that keeps every completed batch's info.
type infos struct {
	dstream.BaseListener
	mu sync.Mutex
	bs []dstream.BatchInfo
}

func (l *infos) OnBatchCompleted(b dstream.BatchInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bs = append(l.bs, b)
}

func (l *infos) get() []dstream.BatchInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.bs)
}

func TestAStateWithNoOutputIsNotComputedNorCheckpointed(t *testing.T) {
	// unused has no output; counts has one. A checkpoint holds counts' state
	// only, and a restart resumes it.
	dir := t.TempDir()
	var states seen
	build := func(push [][]string) func(c *dstream.Context) error {
		return func(c *dstream.Context) error {
			in, _ := dstream.QueueStream(c, dstream.OneAtATime, push...)
			pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
			dstream.Named(dstream.UpdateStateByKey(pairs, sumUpdate), "unused")
			counts := dstream.Named(dstream.UpdateStateByKey(pairs, sumUpdate), "counts")
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
				m, err := rdd.CollectAsMap(ctx, r)
				states.add(batchNo(bt), []string{fmt.Sprint(m)})
				return err
			})
			return nil
		}
	}
	var l infos
	h := newHarness(t)
	c, err := dstream.GetOrCreate(dir, build([][]string{{"a"}, {"a", "b"}}), dstream.BatchInterval(interval),
		dstream.WithClock(h.clock), dstream.CheckpointInterval(interval), dstream.WithListener(&l))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(2)
	for _, b := range l.get() {
		if b.CheckpointErr != nil {
			t.Errorf("batch %v: checkpoint failed: %v", b.Time, b.CheckpointErr)
		}
	}
	h = newHarness(t)
	c, err = dstream.GetOrCreate(dir, build([][]string{{"b"}}), dstream.BatchInterval(interval),
		dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatalf("resuming: %v", err)
	}
	h.c = c
	h.runBatches(3)
	want := map[int][]string{1: {"map[a:1]"}, 2: {"map[a:2 b:1]"}, 3: {"map[a:2 b:2]"}}
	if diff := cmp.Diff(want, states.get()); diff != "" {
		t.Errorf("counts after each batch (-want +got):\n%s", diff)
	}
}

func TestRunFailsAfterMaxCheckpointFailuresInARow(t *testing.T) {
	dir := t.TempDir()
	var l infos
	h := newHarness(t, dstream.CheckpointDir(dir), dstream.CheckpointInterval(interval),
		dstream.MaxCheckpointFailures(2), dstream.WithListener(&l))
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []string{"a"}, []string{"b"}, []string{"c"})
	pairs := dstream.Map(in, func(w string) ops.KV[string, unsaveable] { return ops.Pair(w, unsaveable{N: 1}) })
	counts := dstream.UpdateStateByKey(pairs, func(vs []unsaveable, st ops.Maybe[unsaveable]) ops.Maybe[unsaveable] {
		return ops.Some(unsaveable{N: st.OrElse(unsaveable{}).N + len(vs)})
	})
	dstream.ForeachRDD(counts, func(context.Context, *rdd.RDD[ops.KV[string, unsaveable]], time.Time) error { return nil })
	h.start(context.Background())
	h.batches(2)
	err := h.result()
	var be *dstream.BatchError
	if !errors.As(err, &be) || be.Op != "dstream.Checkpoint" || !be.Time.Equal(epoch.Add(2*interval)) ||
		!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "2 batches in a row") {
		t.Fatalf("Run: %v; want a *BatchError of dstream.Checkpoint at batch 2 naming %s", err, dir)
	}
	bs := l.get()
	if len(bs) != 2 {
		t.Fatalf("%d batches completed, want 2", len(bs))
	}
	for _, b := range bs {
		if b.Err != nil || b.CheckpointErr == nil || !strings.Contains(b.CheckpointErr.Error(), "msgpack") {
			t.Errorf("batch %v: Err %v, CheckpointErr %v; want the batch done and its checkpoint failed", b.Time, b.Err, b.CheckpointErr)
		}
	}
}

func TestMaxCheckpointFailuresMustBePositive(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(interval), dstream.MaxCheckpointFailures(0))
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	if err := c.Run(context.Background()); !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "MaxCheckpointFailures") {
		t.Fatalf("Run: %v; want ErrInvalid naming MaxCheckpointFailures", err)
	}
}

func TestResumedBatchTimesAreInTheClocksLocation(t *testing.T) {
	zone := time.FixedZone("UTC+3", 3*3600)
	dir := t.TempDir()
	var locs []*time.Location
	run := func(n int) {
		clock := dstream.NewManualClock(epoch.In(zone))
		h := &harness{t: t, clock: clock}
		c, err := dstream.GetOrCreate(dir, func(c *dstream.Context) error {
			in, _ := dstream.QueueStream(c, dstream.OneAtATime, []int{1})
			dstream.ForeachRDD(in, func(_ context.Context, _ *rdd.RDD[int], bt time.Time) error {
				locs = append(locs, bt.Location())
				return nil
			})
			return nil
		}, dstream.BatchInterval(interval), dstream.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		h.c = c
		h.runBatches(n)
	}
	run(1)
	run(2) // resumed: batch 2
	if len(locs) != 2 || locs[0] != zone || locs[1] != zone {
		t.Errorf("batch time locations %v; want both %v", locs, zone)
	}
}

func TestNamedOnMapWithStateNamesItsState(t *testing.T) {
	dir := t.TempDir()
	var out seen
	build := func(push [][]string, name string) func(c *dstream.Context) error {
		return func(c *dstream.Context) error {
			in, _ := dstream.QueueStream(c, dstream.OneAtATime, push...)
			pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
			mapped, _ := dstream.MapWithState(pairs, dstream.NewStateSpec(func(_ time.Time, k string, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[string] {
				n, _ := st.Get()
				n += v.OrElse(0)
				if err := st.Update(n); err != nil {
					return ops.None[string]()
				}
				return ops.Some(k + "=" + strconv.Itoa(n))
			}))
			dstream.ForeachRDD(dstream.Named(mapped, name), func(ctx context.Context, r *rdd.RDD[string], bt time.Time) error {
				got, err := rdd.Collect(ctx, r)
				out.add(batchNo(bt), got)
				return err
			})
			return nil
		}
	}
	h := newHarness(t)
	c, err := dstream.GetOrCreate(dir, build([][]string{{"a"}}, "counts"), dstream.BatchInterval(interval),
		dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(1)
	// Renamed: the checkpoint's state is not this graph's.
	_, err = dstream.GetOrCreate(dir, build(nil, "renamed"), dstream.BatchInterval(interval), dstream.WithClock(h.clock))
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "stateful stream counts (") || !strings.Contains(err.Error(), "stateful stream renamed is not in the checkpoint") {
		t.Fatalf("GetOrCreate with the state renamed: %v; want the difference listed", err)
	}
	h = newHarness(t)
	c, err = dstream.GetOrCreate(dir, build([][]string{{"a"}}, "counts"), dstream.BatchInterval(interval),
		dstream.WithClock(h.clock), dstream.CheckpointInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.runBatches(2)
	if diff := cmp.Diff(map[int][]string{1: {"a=1"}, 2: {"a=2"}}, out.get()); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

func TestNamedOnAStreamWithoutStateIsAnError(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(interval))
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(dstream.Named(dstream.Map(in, func(x int) int { return x }), "doubled"),
		func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	if err := c.Run(context.Background()); !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), `dstream.Named: invalid argument: dstream.Map#2 is neither a source nor a stream with state`) {
		t.Fatalf("Run: %v; want ErrInvalid from Named", err)
	}
}
