package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// sTinyBudget is the memory budget of the spilling engines: 64 KiB, of which
// the shuffles get 32 KiB, far less than any input below.
const sTinyBudget = 64 << 10

// sSpillEngine returns an engine of parallelism 4 with the tiny budget and
// its spill directory, which does not exist yet: the first spill makes it.
func sSpillEngine(t *testing.T) (*rdd.Engine, string) {
	dir := filepath.Join(t.TempDir(), "spill")
	return rdd.NewEngine(rdd.Parallelism(4), rdd.MemoryBudget(sTinyBudget), rdd.SpillDir(dir)), dir
}

// sFiles returns the paths under dir.
func sFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if path != dir {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sKeyed returns n pairs over keys distinct keys (string keys, value i for
// record i), in parts partitions.
func sKeyed(e *rdd.Engine, n, keys, parts int) *rdd.RDD[ops.KV[string, int]] {
	data := make([]ops.KV[string, int], n)
	for i := range data {
		data[i] = ops.Pair("k"+strconv.Itoa(i*7919%keys), i)
	}
	return rdd.Parallelize(e, data, parts)
}

// sLines formats each element on a line; sorted, when the operator does not
// define the order.
func sLines[T any](elems []T, sorted bool) []string {
	lines := make([]string, len(elems))
	for i, e := range elems {
		lines[i] = fmt.Sprint(e)
	}
	if sorted {
		slices.Sort(lines)
	}
	return lines
}

// sGroupsSorted formats groups with their values sorted: GroupByKey keeps the
// input order of values only within a map task.
func sGroupsSorted[K comparable](groups []ops.KV[K, []int]) []string {
	for _, g := range groups {
		slices.Sort(g.Value)
	}
	return sLines(groups, true)
}

// sCase is a job over a shuffle, run once without a budget and once with
// the tiny one.
type sCase struct {
	name string
	// run returns the job's result, one element a line: sorted where the
	// operator does not define an order, in order where it does.
	run func(ctx context.Context, e *rdd.Engine) ([]string, error)
}

func sCases() []sCase {
	const n = 40_000
	collect := func(sorted bool) func(ctx context.Context, r *rdd.RDD[string]) ([]string, error) {
		return func(ctx context.Context, r *rdd.RDD[string]) ([]string, error) {
			got, err := rdd.Collect(ctx, r)
			if sorted {
				slices.Sort(got)
			}
			return got, err
		}
	}
	return []sCase{
		{"ReduceByKey many keys", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			// Map tasks pass records through (most keys distinct): raw
			// buckets and reduce-side tables spill.
			got, err := rdd.Collect(ctx, rdd.ReduceByKey(sKeyed(e, n, n/2, 3), ops.Sum[int]))
			return sLines(got, true), err
		}},
		{"ReduceByKey few keys", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			// Map tasks combine (a third of the keys distinct): their
			// tables spill sorted runs.
			got, err := rdd.Collect(ctx, rdd.ReduceByKey(sKeyed(e, n, n/10, 3), ops.Sum[int], rdd.Partitions[string](5)))
			return sLines(got, true), err
		}},
		{"ReduceByKey int keys", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			r := rdd.Map(rdd.Range(e, 0, n, 1, 4), func(i int64) ops.KV[int64, int64] { return ops.Pair(i%40_000, i) })
			got, err := rdd.Collect(ctx, rdd.ReduceByKey(r, ops.Sum[int64]))
			return sLines(got, true), err
		}},
		{"ReduceByKey custom partitioner", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			got, err := rdd.Collect(ctx, rdd.ReduceByKey(sKeyed(e, n, n/10, 3), ops.Sum[int], rdd.WithPartitioner[string](wStrPart(3))))
			return sLines(got, true), err
		}},
		{"ReduceByKey co-partitioned", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			// No shuffle: each partition is combined in place, in a table
			// that spills.
			parted := rdd.PartitionBy(sKeyed(e, n, n/4, 3), rdd.Partitions[string](2))
			got, err := rdd.Collect(ctx, rdd.ReduceByKey(parted, ops.Sum[int], rdd.Partitions[string](2)))
			return sLines(got, true), err
		}},
		{"GroupByKey", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			got, err := rdd.Collect(ctx, rdd.GroupByKey(sKeyed(e, n, n/20, 3)))
			return sGroupsSorted(got), err
		}},
		{"Distinct", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			words := rdd.Map(sKeyed(e, n, n/3, 4), func(kv ops.KV[string, int]) string { return kv.Key })
			return collect(true)(ctx, rdd.Distinct(words))
		}},
		{"CoGroup", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			// Values keep their input order in a group.
			got, err := rdd.Collect(ctx, rdd.CoGroup(sKeyed(e, n, n/4, 3), sKeyed(e, n/2, n/3, 2)))
			return sLines(got, true), err
		}},
		{"Join", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			got, err := rdd.Collect(ctx, rdd.Join(sKeyed(e, n, n/2, 3), sKeyed(e, n/3, n/3, 2)))
			return sLines(got, true), err
		}},
		{"LeftOuterJoin", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			got, err := rdd.Collect(ctx, rdd.LeftOuterJoin(sKeyed(e, n/2, n/2, 3), sKeyed(e, n/3, n/5, 2)))
			return sLines(got, true), err
		}},
		{"SortByKey", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			// Equal keys keep their input order: the order is total.
			got, err := rdd.Collect(ctx, rdd.SortByKey(sKeyed(e, n, n/4, 3), rdd.Ascending))
			return sLines(got, false), err
		}},
		{"SortBy descending", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			r := rdd.Map(rdd.Range(e, 0, n, 1, 3), func(i int64) int64 { return i * 7919 % 100_003 })
			got, err := rdd.Collect(ctx, rdd.SortBy(r, func(i int64) int64 { return i / 3 }, rdd.Descending, rdd.Partitions[int64](4)))
			return sLines(got, false), err
		}},
		{"PartitionBy", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			parts, err := rdd.CollectPartitions(ctx, rdd.PartitionBy(sKeyed(e, n, n, 3), rdd.Partitions[string](4)))
			return sLines(parts, false), err
		}},
		{"Repartition", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			parts, err := rdd.CollectPartitions(ctx, rdd.Repartition(sKeyed(e, n, n, 2), 5))
			return sLines(parts, false), err
		}},
		{"ReduceByKey then GroupByKey", func(ctx context.Context, e *rdd.Engine) ([]string, error) {
			sums := rdd.ReduceByKey(sKeyed(e, n, n/2, 3), ops.Sum[int])
			bySum := rdd.Map(sums, func(kv ops.KV[string, int]) ops.KV[int, int] { return ops.Pair(kv.Value%1000, len(kv.Key)) })
			got, err := rdd.Collect(ctx, rdd.GroupByKey(bySum))
			return sGroupsSorted(got), err
		}},
	}
}

// TestShuffleSpillMatchesMemory runs every shuffle shape with a memory
// budget far below its data: the result is the one without a budget, the
// shuffle really spilled, and no spill file outlives the job.
func TestShuffleSpillMatchesMemory(t *testing.T) {
	for _, c := range sCases() {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			want, err := c.run(ctx, rdd.NewEngine(rdd.Parallelism(4), rdd.MemoryBudget(0)))
			if err != nil {
				t.Fatal(err)
			}
			e, dir := sSpillEngine(t)
			got, err := c.run(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			if e.ShuffleSpilledBytes() == 0 {
				t.Error("nothing spilled under the tiny budget")
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("result under the tiny budget differs from the one without (-without +with):\n%s", diff)
			}
			if files := sFiles(t, dir); len(files) > 0 {
				t.Errorf("spill files left after the job: %v", files)
			}
		})
	}
}

// TestShuffleSpillGroupOrder checks that GroupByKey keeps each key's values
// in input order within each map task when the shuffle spills.
func TestShuffleSpillGroupOrder(t *testing.T) {
	const n, parts = 120_000, 3
	e, _ := sSpillEngine(t)
	got := wCollect(t, rdd.GroupByKey(sKeyed(e, n, n/20, parts)))
	if e.ShuffleSpilledBytes() == 0 {
		t.Fatal("nothing spilled")
	}
	total := 0
	for _, g := range got {
		last := map[int]int{} // input partition → last value seen
		for _, v := range g.Value {
			p := v * parts / n // Parallelize splits contiguously
			if prev, ok := last[p]; ok && v < prev {
				t.Fatalf("key %s: value %d after %d, from the same map task", g.Key, v, prev)
			}
			last[p] = v
		}
		total += len(g.Value)
	}
	if total != n {
		t.Errorf("%d values grouped, want %d", total, n)
	}
}

// TestShuffleSpillFilesRemovedOnFailure fails or cancels jobs once they have
// spilled: every spill file goes with the job.
func TestShuffleSpillFilesRemovedOnFailure(t *testing.T) {
	const n = 100_000
	boom := errors.New("boom")
	t.Run("error", func(t *testing.T) {
		e, dir := sSpillEngine(t)
		sums := rdd.ReduceByKey(sKeyed(e, n, n/2, 3), ops.Sum[int])
		err := rdd.ForeachPartition(t.Context(), sums, func(_ context.Context, _ int, in iter.Seq[ops.KV[string, int]]) error {
			seen := 0
			for range in {
				if seen++; seen == 100 {
					return boom
				}
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("ForeachPartition = %v, want %v", err, boom)
		}
		if e.ShuffleSpilledBytes() == 0 {
			t.Error("nothing spilled before the failure")
		}
		if files := sFiles(t, dir); len(files) > 0 {
			t.Errorf("spill files left after the failed job: %v", files)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		e, dir := sSpillEngine(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sorted := rdd.SortByKey(sKeyed(e, n, n, 3), rdd.Ascending)
		err := rdd.Foreach(ctx, sorted, func(context.Context, ops.KV[string, int]) error {
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Foreach = %v, want context.Canceled", err)
		}
		if e.ShuffleSpilledBytes() == 0 {
			t.Error("nothing spilled before the cancellation")
		}
		if files := sFiles(t, dir); len(files) > 0 {
			t.Errorf("spill files left after the cancelled job: %v", files)
		}
	})
}

// TestShuffleSpillDirUnusable fails a job whose spill directory cannot be
// made: the error is a *TaskError of the shuffle's operator wrapping a
// *shuffle.SpillError that names the directory.
func TestShuffleSpillDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "spill") // under a regular file: cannot be made
	e := rdd.NewEngine(rdd.Parallelism(2), rdd.MemoryBudget(sTinyBudget), rdd.SpillDir(dir))
	_, err := rdd.Collect(t.Context(), rdd.ReduceByKey(sKeyed(e, 50_000, 50_000, 2), ops.Sum[int]))
	var te *rdd.TaskError
	var se *shuffle.SpillError
	if !errors.As(err, &te) || te.Op != "rdd.ReduceByKey" || !errors.As(err, &se) {
		t.Fatalf("Collect = %v, want a *TaskError of rdd.ReduceByKey wrapping a *shuffle.SpillError", err)
	}
	if se.Path != dir || !strings.Contains(err.Error(), dir) {
		t.Errorf("the error %q names %q, want the spill directory %q", err, se.Path, dir)
	}
}

// TestShuffleSpillUnencodable shuffles records that cannot be written to a
// spill file (their values hold a pointer) under the tiny budget: they stay
// in memory, the result is complete, and the engine's logger warns once
// for their type.
func TestShuffleSpillUnencodable(t *testing.T) {
	var logs strings.Builder
	dir := t.TempDir()
	e := rdd.NewEngine(rdd.Parallelism(4), rdd.MemoryBudget(sTinyBudget), rdd.SpillDir(dir),
		rdd.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	const n = 50_000
	ptrs := rdd.Map(sKeyed(e, n, n/2, 3), func(kv ops.KV[string, int]) ops.KV[string, *int] { return ops.Pair(kv.Key, &kv.Value) })
	for range 2 {
		groups := wCollect(t, rdd.GroupByKey(ptrs))
		total := 0
		for _, g := range groups {
			total += len(g.Value)
		}
		if len(groups) != n/2 || total != n {
			t.Fatalf("%d groups of %d values, want %d of %d", len(groups), total, n/2, n)
		}
	}
	if got := strings.Count(logs.String(), "cannot spill"); got != 1 {
		t.Errorf("%d warnings, want one for the type:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "ops.KV[string,[]*int]") {
		t.Errorf("the warning does not name the type:\n%s", logs.String())
	}
	if e.ShuffleSpilledBytes() != 0 {
		t.Errorf("%d bytes spilled, want none", e.ShuffleSpilledBytes())
	}
}
