package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// ckptJob is a job with a queue source and a running word count
// (UpdateStateByKey), run in a Context that checkpoints into dir; each run
// records the state after every batch and how often each batch's output ran.
type ckptJob struct {
	t      *testing.T
	dir    string
	opts   []dstream.Opt
	states map[int]map[string]int // batch → the counts after it
	runs   map[int]int            // batch → how often its output ran
	every  time.Duration          // CheckpointEvery of the state, if not 0
}

func newCkptJob(t *testing.T, opts ...dstream.Opt) *ckptJob {
	return &ckptJob{t: t, dir: t.TempDir(), opts: opts, states: map[int]map[string]int{}, runs: map[int]int{}}
}

// completions is a listener sending the number of every completed batch.
type completions struct{ ch chan int }

func (l completions) OnBatchSubmitted(dstream.BatchInfo)   {}
func (l completions) OnBatchStarted(dstream.BatchInfo)     {}
func (l completions) OnOutputStarted(dstream.OutputInfo)   {}
func (l completions) OnOutputCompleted(dstream.OutputInfo) {}
func (l completions) OnBatchCompleted(b dstream.BatchInfo) {
	l.ch <- int(b.Time.Sub(epoch) / interval)
}

func sumUpdate(values []int, state ops.Maybe[int]) ops.Maybe[int] {
	n := state.OrElse(0)
	for _, v := range values {
		n += v
	}
	return ops.Some(n)
}

// run builds the job with GetOrCreate, queues batches, and moves the clock to
// batch time n (a resumed run's first batches are those after its checkpoint).
// It then stops gracefully or, with crash, once batch n is done, cancels Run: a
// crash that leaves only what the checkpoints saved.
func (j *ckptJob) run(batches [][]string, n int, crash bool) error {
	j.t.Helper()
	h := newHarness(j.t)
	var q *dstream.Queue[string]
	done := make(chan int, 100) // batches completed, their checkpoint written
	c, err := dstream.GetOrCreate(j.dir, func(c *dstream.Context) error {
		in, queue := dstream.QueueStream[string](c, dstream.OneAtATime)
		q = queue
		pairs := dstream.Map(in, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
		counts := dstream.UpdateStateByKey(pairs, sumUpdate)
		if j.every > 0 {
			dstream.CheckpointEvery(counts, j.every)
		}
		dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
			m, err := rdd.CollectAsMap(ctx, r)
			k := int(bt.Sub(epoch) / interval)
			j.states[k] = m
			j.runs[k]++
			return err
		})
		return nil
	}, append([]dstream.Opt{dstream.BatchInterval(interval), dstream.WithClock(h.clock),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))), dstream.WithListener(completions{done})}, j.opts...)...)
	if err != nil {
		return err
	}
	h.c = c
	for _, b := range batches {
		q.Push(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.start(ctx)
	h.batches(n)
	if !crash {
		h.c.Stop()
		return h.result()
	}
	for k := 0; k != n; {
		select {
		case k = <-done:
		case <-time.After(5 * time.Second):
			j.t.Fatalf("batch %d was not processed within 5s", n)
		}
	}
	cancel()
	if err := h.result(); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func TestCheckpointResumesStateExactlyOnce(t *testing.T) {
	// The state is saved after every batch: a restart resumes after the last
	// completed batch and runs nothing twice.
	j := newCkptJob(t, dstream.CheckpointInterval(interval))
	if err := j.run([][]string{{"a", "b"}, {"a"}, {"c"}}, 3, false); err != nil {
		t.Fatal(err)
	}
	// The second run resumes: its clock starts at the same epoch, so its first
	// batches are the ones after the checkpoint (4, 5).
	if err := j.run([][]string{{"a"}, {"b", "b"}}, 5, false); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 3, "b": 3, "c": 1}
	if diff := cmp.Diff(want, j.states[5]); diff != "" {
		t.Errorf("state after batch 5 (-want +got):\n%s", diff)
	}
	for k, n := range j.runs {
		if n != 1 {
			t.Errorf("batch %d's output ran %d times", k, n)
		}
	}
}

func TestCheckpointAfterACrashRunsTheBatchesSinceTheStateAgain(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		name := "newest state valid"
		if corrupt {
			name = "newest state corrupt"
		}
		t.Run(name, func(t *testing.T) {
			// State every 3 batches: saved after batches 1 and 4.
			j := newCkptJob(t, dstream.CheckpointInterval(3*interval))
			in := [][]string{{"a"}, {"b"}, {"a"}, {"c"}, {"a", "a"}}
			if err := j.run(in, 5, true); err != nil {
				t.Fatal(err)
			}
			states, err := filepath.Glob(filepath.Join(j.dir, "state", "*.ckpt"))
			if err != nil || len(states) != 2 {
				t.Fatalf("state checkpoints %v, %v; want 2", states, err)
			}
			resumeAfter := 4
			if corrupt {
				// The newest (batch 4) is damaged: resume from batch 1's, with a warning.
				if err := os.WriteFile(states[1], []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
				resumeAfter = 1
			}
			if err := j.run([][]string{{"b"}}, 6, false); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"a": 4, "b": 2, "c": 1}
			if diff := cmp.Diff(want, j.states[6]); diff != "" {
				t.Errorf("state after batch 6 (-want +got):\n%s", diff)
			}
			for k := 1; k <= 6; k++ {
				want := 1
				if k > resumeAfter && k <= 5 {
					want = 2 // run again after the crash: output is at least once
				}
				if j.runs[k] != want {
					t.Errorf("batch %d's output ran %d times, want %d", k, j.runs[k], want)
				}
			}
		})
	}
}

func TestCheckpointRejectsAChangedGraph(t *testing.T) {
	j := newCkptJob(t)
	if err := j.run([][]string{{"a"}}, 1, false); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	_, err := dstream.GetOrCreate(j.dir, func(c *dstream.Context) error {
		in, _ := dstream.QueueStream[string](c, dstream.OneAtATime)
		pairs := dstream.Map(in, func(w string) ops.KV[string, int64] { return ops.Pair(w, int64(1)) })
		counts := dstream.Named(dstream.UpdateStateByKey(pairs, func(v []int64, s ops.Maybe[int64]) ops.Maybe[int64] { return s }), "totals")
		dstream.ForeachRDD(counts, func(context.Context, *rdd.RDD[ops.KV[string, int64]], time.Time) error { return nil })
		return nil
	}, dstream.BatchInterval(interval), dstream.WithClock(h.clock))
	if !errors.Is(err, dstream.ErrInvalid) {
		t.Fatalf("GetOrCreate with another graph = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"stateful stream totals is not in the checkpoint", "stateful stream dstream.UpdateStateByKey#1 (ops.KV[string,int]) of the checkpoint is not in the graph"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// A graph without any stateful stream: the saved state is not dropped silently.
	_, err = dstream.GetOrCreate(j.dir, func(c *dstream.Context) error {
		in, _ := dstream.QueueStream[string](c, dstream.OneAtATime)
		dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[string], time.Time) error { return nil })
		return nil
	}, dstream.BatchInterval(interval), dstream.WithClock(h.clock))
	if want := "stateful stream dstream.UpdateStateByKey#1 (ops.KV[string,int]) of the checkpoint is not in the graph"; !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("GetOrCreate with no stateful stream = %v, want ErrInvalid saying %q", err, want)
	}

	// Run over a directory with a checkpoint, without GetOrCreate: refused.
	c := dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(h.clock), dstream.CheckpointDir(j.dir))
	in, _ := dstream.QueueStream[string](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[string], time.Time) error { return nil })
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "GetOrCreate") {
		t.Errorf("Run over a checkpoint = %v, want an error pointing to GetOrCreate", err)
	}
}

// TestCheckpointWindowsReadTheirHistoryAgain restarts a job with a window of 3
// batches: its first windows after the restart still hold the batches from before.
func TestCheckpointWindowsReadTheirHistoryAgain(t *testing.T) {
	dir := t.TempDir()
	got := map[int][]string{}
	run := func(batches [][]string, n int) {
		h := newHarness(t)
		var q *dstream.Queue[string]
		c, err := dstream.GetOrCreate(dir, func(c *dstream.Context) error {
			in, queue := dstream.QueueStream[string](c, dstream.OneAtATime)
			q = queue
			w := dstream.Window(in, 3*interval, interval)
			counts := dstream.ReduceByKeyAndWindowInv(dstream.Map(in, func(s string) ops.KV[string, int] { return ops.Pair(s, 1) }),
				ops.SumInv[int](), 3*interval, interval, func(kv ops.KV[string, int]) bool { return kv.Value != 0 })
			dstream.ForeachRDD(w, func(ctx context.Context, r *rdd.RDD[string], bt time.Time) error {
				xs, err := rdd.Collect(ctx, r)
				slices.Sort(xs)
				got[int(bt.Sub(epoch)/interval)] = xs
				return err
			})
			dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], bt time.Time) error {
				m, err := rdd.CollectAsMap(ctx, r)
				var xs []string
				for k, n := range m {
					for range n {
						xs = append(xs, k)
					}
				}
				slices.Sort(xs)
				if k := int(bt.Sub(epoch) / interval); !slices.Equal(xs, got[k]) {
					return fmt.Errorf("batch %d: incremental window %v, window %v", k, xs, got[k])
				}
				return err
			})
			return nil
		}, dstream.BatchInterval(interval), dstream.WithClock(h.clock), dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
		if err != nil {
			t.Fatal(err)
		}
		h.c = c
		for _, b := range batches {
			q.Push(b)
		}
		h.runBatches(n)
	}
	run([][]string{{"a"}, {"b"}, {"c"}, {"d"}}, 4)
	run([][]string{{"e"}, {"f"}}, 6)
	want := map[int][]string{1: {"a"}, 2: {"a", "b"}, 3: {"a", "b", "c"}, 4: {"b", "c", "d"}, 5: {"c", "d", "e"}, 6: {"d", "e", "f"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
}

// TestCheckpointResumesAfterACompatibleCodeChange restarts with other functions and
// more stateless operators (before and after the state): the names of the source and
// the stateful stream are the same, so the job resumes with its state.
func TestCheckpointResumesAfterACompatibleCodeChange(t *testing.T) {
	j := newCkptJob(t, dstream.CheckpointInterval(interval))
	if err := j.run([][]string{{"a", "b"}, {"a"}}, 2, false); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	got := map[string]int{}
	c, err := dstream.GetOrCreate(j.dir, func(c *dstream.Context) error {
		in, q := dstream.QueueStream[string](c, dstream.OneAtATime)
		q.Push([]string{"A", "skip", "c"})
		upper := dstream.Map(dstream.Filter(in, func(w string) bool { return w != "skip" }), strings.ToLower)
		pairs := dstream.Map(upper, func(w string) ops.KV[string, int] { return ops.Pair(w, 10) })
		counts := dstream.UpdateStateByKey(pairs, func(vs []int, st ops.Maybe[int]) ops.Maybe[int] {
			n := st.OrElse(0) // a new function: adds tens
			for _, v := range vs {
				n += v
			}
			return ops.Some(n)
		})
		doubled := dstream.Filter(counts, func(kv ops.KV[string, int]) bool { return kv.Value > 0 })
		dstream.ForeachRDD(doubled, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
			m, err := rdd.CollectAsMap(ctx, r)
			maps.Copy(got, m)
			return err
		})
		return nil
	}, dstream.BatchInterval(interval), dstream.WithClock(h.clock))
	if err != nil {
		t.Fatalf("GetOrCreate after a compatible change: %v", err)
	}
	h.c = c
	h.runBatches(3)
	if diff := cmp.Diff(map[string]int{"a": 12, "b": 1, "c": 10}, got); diff != "" {
		t.Errorf("state after the restart (-want +got):\n%s", diff)
	}
}

// TestCheckpointEveryOverridesTheContextInterval saves a stream's state after every
// batch although the Context's interval is 10 batches: after a crash nothing runs again.
func TestCheckpointEveryOverridesTheContextInterval(t *testing.T) {
	j := newCkptJob(t, dstream.CheckpointInterval(10*interval))
	j.every = interval
	if err := j.run([][]string{{"a"}, {"b"}, {"a"}}, 3, true); err != nil {
		t.Fatal(err)
	}
	if err := j.run([][]string{{"c"}}, 4, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"a": 2, "b": 1, "c": 1}, j.states[4]); diff != "" {
		t.Errorf("state after batch 4 (-want +got):\n%s", diff)
	}
	for k, n := range j.runs {
		if n != 1 {
			t.Errorf("batch %d's output ran %d times: the state was not saved after every batch", k, n)
		}
	}
}
