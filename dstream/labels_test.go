package dstream_test

import (
	"bytes"
	"context"
	"iter"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/pprof/profile"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/proflabels"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// ctxLabels returns the operator, batch and partition labels of ctx.
func ctxLabels(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"operator", "batch", "partition"} {
		if v, ok := pprof.Label(ctx, k); ok {
			out[k] = v
		}
	}
	return out
}

// Everything a batch runs is labelled for the profiler with the batch time; an
// output operation with its name, which its RDDs' result tasks keep (a shuffle's
// map tasks take the wide operator's), and every task with its partition.
func TestBatchesRunUnderProfilerLabels(t *testing.T) {
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1, 2, 3, 4}, []int{5, 6, 7, 8})
	var mu sync.Mutex
	got := map[string]map[string]bool{} // what ran → the labels seen, as "operator batch partition"
	record := func(what string, l map[string]string, err error) {
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if got[what] == nil {
			got[what] = map[string]bool{}
		}
		got[what][l["operator"]+" "+l["batch"]+" "+l["partition"]] = true
	}
	pairs := dstream.Map(in, func(x int) ops.KV[int, int] {
		l, err := proflabels.Goroutine()
		record("map", l, err)
		return ops.Pair(x%2, x)
	})
	sums := dstream.ReduceByKey(pairs, ops.Sum[int], rdd.Partitions[int](2))
	dstream.ForeachRDD(sums, func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], bt time.Time) error {
		l, err := proflabels.Goroutine()
		record("output goroutine", l, err)
		record("output context", ctxLabels(ctx), nil)
		return rdd.ForeachPartition(ctx, r, func(ctx context.Context, p int, in iter.Seq[ops.KV[int, int]]) error {
			for range in {
			}
			l, err := proflabels.Goroutine()
			record("task goroutine", l, err)
			record("task context", ctxLabels(ctx), nil)
			return nil
		})
	})
	h.runBatches(2)
	want := map[string]map[string]bool{}
	for _, bt := range batchTimes(2) {
		b := bt.Format(time.RFC3339Nano)
		add := func(what, label string) {
			if want[what] == nil {
				want[what] = map[string]bool{}
			}
			want[what][label] = true
		}
		for _, p := range []string{"0", "1"} {
			add("map", "rdd.ReduceByKey "+b+" "+p)
			add("task goroutine", "dstream.ForeachRDD "+b+" "+p)
			add("task context", "dstream.ForeachRDD "+b+" "+p)
		}
		add("output goroutine", "dstream.ForeachRDD "+b+" ")
		add("output context", "dstream.ForeachRDD "+b+" ")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels, as \"operator batch partition\" (-want +got):\n%s", diff)
	}
}

// burn spins the CPU until d has passed.
//
//go:noinline
func burn(d time.Duration) int {
	n := 0
	for start := time.Now(); time.Since(start) < d; {
		for i := range 10000 {
			n += i * i % 7
		}
	}
	return n
}

// A CPU profile of a running job splits by operator: the samples of an
// operator's function carry its stage's operator, the batch and the partition
// (what `go tool pprof -tagfocus` selects on).
func TestCPUProfileSplitsByOperator(t *testing.T) {
	var buf bytes.Buffer
	// Each round burns the CPU longer, until the profile holds samples of burn
	// (a loaded machine may give it few).
	for round, d := 0, 200*time.Millisecond; ; round, d = round+1, 2*d {
		buf.Reset()
		if err := pprof.StartCPUProfile(&buf); err != nil {
			t.Fatalf("this test needs the CPU profiler, which is in use (go test -cpuprofile?): %v", err)
		}
		h := newHarness(t)
		in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1, 2})
		pairs := dstream.Map(in, func(x int) ops.KV[int, int] { return ops.Pair(x, burn(d)) })
		dstream.ForeachRDD(dstream.ReduceByKey(pairs, ops.Sum[int], rdd.Partitions[int](2)), func(ctx context.Context, r *rdd.RDD[ops.KV[int, int]], _ time.Time) error {
			_, err := rdd.Count(ctx, r)
			return err
		})
		h.runBatches(1)
		pprof.StopCPUProfile()
		p, err := profile.ParseData(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		batch := batchTimes(1)[0].Format(time.RFC3339Nano)
		burnt, labelled := 0, 0
		parts := map[string]bool{}
		var bad map[string][]string
		for _, s := range p.Sample {
			if !inStack(s, "dstream_test.burn") {
				continue
			}
			burnt++
			l := func(k string) string {
				if len(s.Label[k]) == 0 {
					return ""
				}
				return s.Label[k][0]
			}
			if l("operator") == "rdd.ReduceByKey" && l("batch") == batch && (l("partition") == "0" || l("partition") == "1") {
				labelled++
				parts[l("partition")] = true
			} else {
				bad = s.Label
			}
		}
		if labelled < burnt {
			t.Errorf("%d of %d samples of burn lack its labels, e.g. %v: want operator rdd.ReduceByKey, batch %s and partition 0 or 1",
				burnt-labelled, burnt, bad, batch)
		}
		if burnt > 0 || round == 4 {
			if burnt == 0 {
				t.Fatalf("no sample of burn in the profile after 5 rounds (the last burnt %v per task)", d)
			}
			t.Logf("%d samples of burn, %d labelled, partitions %v", burnt, labelled, parts)
			return
		}
	}
}

// inStack reports whether a function whose name ends in fn is on s's stack.
func inStack(s *profile.Sample, fn string) bool {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil && strings.HasSuffix(line.Function.Name, fn) {
				return true
			}
		}
	}
	return false
}

// labelledSource is a checkpointed Source that takes part in each batch's
// preparation and commit, and records the profiler labels it runs under.
type labelledSource struct {
	eng *rdd.Engine
	mu  sync.Mutex
	got map[string]bool // "call operator batch"
}

func (s *labelledSource) record(call string, l map[string]string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.got[call+" "+err.Error()] = true
		return
	}
	s.got[call+" "+l["operator"]+" "+l["batch"]] = true
}

func (s *labelledSource) Start(context.Context) error { return nil }
func (s *labelledSource) Stop() error                 { return nil }
func (s *labelledSource) Batch(_ context.Context, t time.Time) (*rdd.RDD[int], dstream.InputInfo, error) {
	return rdd.Parallelize(s.eng, []int{1}, 1), dstream.InputInfo{Records: 1}, nil
}
func (s *labelledSource) PrepareBatch(ctx context.Context, _ time.Time) error {
	s.record("prepare", ctxLabels(ctx), nil)
	return nil
}
func (s *labelledSource) CommitBatch(ctx context.Context, _ time.Time) error {
	s.record("commit", ctxLabels(ctx), nil)
	return nil
}
func (s *labelledSource) Checkpoint(time.Time) ([]byte, error) {
	l, err := proflabels.Goroutine()
	s.record("checkpoint", l, err)
	return nil, nil
}
func (s *labelledSource) Restore([]byte) error { return nil }

// A source's preparation and commit of a batch run under its name and the batch,
// and the batch's checkpoint as "dstream.Checkpoint".
func TestSourcesAndCheckpointsRunUnderProfilerLabels(t *testing.T) {
	h := newHarness(t, dstream.CheckpointDir(t.TempDir()))
	src := &labelledSource{eng: h.c.Engine(), got: map[string]bool{}}
	in := dstream.FromSource[int](h.c, "test.Source", src)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	h.runBatches(1)
	b := batchTimes(1)[0].Format(time.RFC3339Nano)
	want := map[string]bool{
		"prepare test.Source#1 " + b:         true,
		"commit test.Source#1 " + b:          true,
		"checkpoint dstream.Checkpoint " + b: true,
	}
	if diff := cmp.Diff(want, src.got); diff != "" {
		t.Errorf("labels, as \"call operator batch\" (-want +got):\n%s", diff)
	}
}
