package rdd_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// An invalid option of NewEngine is the Engine's construction error, named
// with its value: Err returns it, and so does every action on an RDD made on
// the Engine, before anything runs. It is neither ignored nor clamped.
func TestInvalidEngineOptions(t *testing.T) {
	for _, tt := range []struct {
		opt  rdd.EngineOpt
		want string
	}{
		{rdd.Parallelism(0), "Parallelism(0), want at least 1"},
		{rdd.Parallelism(-2), "Parallelism(-2), want at least 1"},
		{rdd.MemoryBudget(-1), "MemoryBudget(-1), want at least 0 (0: no budget)"},
		{rdd.SpillDir(""), `SpillDir(""), want a directory`},
	} {
		eng := rdd.NewEngine(rdd.Parallelism(2), tt.opt)
		_, err := rdd.Collect(context.Background(), rdd.Map(rdd.Parallelize(eng, []int{1, 2, 3}, 0), func(x int) int { return x }))
		if !errors.Is(err, rdd.ErrInvalid) || !strings.Contains(err.Error(), "rdd.NewEngine") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("an action on an Engine with %s: %v, want ErrInvalid naming rdd.NewEngine and %q", tt.want, err, tt.want)
		}
		if got := eng.Err(); got == nil || got.Error() != "rdd.NewEngine: invalid argument: "+tt.want {
			t.Errorf("Err() = %v, want %q", got, tt.want)
		}
	}
	// Valid values, a nil option and a nil logger (the default) are no error.
	eng := rdd.NewEngine(nil, rdd.Parallelism(1), rdd.MemoryBudget(0), rdd.SpillDir(t.TempDir()), rdd.WithLogger(nil))
	if err := eng.Err(); err != nil || eng.Parallelism() != 1 || eng.MemoryBudget() != 0 {
		t.Errorf("valid options: Err() = %v, parallelism %d, budget %d", err, eng.Parallelism(), eng.MemoryBudget())
	}
	if n, err := rdd.Count(context.Background(), rdd.Range(eng, 0, 10, 1, 0)); n != 10 || err != nil {
		t.Errorf("Count on a valid Engine = %d, %v", n, err)
	}
}

// A negative partition count of a source is invalid; 0 means the Engine's
// parallelism.
func TestNegativeSourcePartitions(t *testing.T) {
	eng := rdd.NewEngine(rdd.Parallelism(3))
	for op, r := range map[string]*rdd.RDD[int64]{
		"rdd.Parallelize": rdd.Parallelize(eng, []int64{1, 2}, -1),
		"rdd.Range":       rdd.Range(eng, 0, 10, 1, -1),
	} {
		err := r.Err()
		if !errors.Is(err, rdd.ErrInvalid) || !strings.Contains(err.Error(), op) || !strings.Contains(err.Error(), "partition count -1") {
			t.Errorf("%s with -1 partitions: Err() = %v, want ErrInvalid naming it and the count", op, err)
		}
	}
	if n := rdd.Parallelize(eng, []int{1}, 0).NumPartitions(); n != 3 {
		t.Errorf("Parallelize with 0 partitions: %d, want the parallelism 3", n)
	}
}

// Invalid shuffle options name the option and its value; PartitionedLike of
// a nil RDD is one (it was no option at all), and so is a partitioner of no
// partitions, such as shuffle.NewHash(0) (which was one partition).
func TestInvalidShuffleOptions(t *testing.T) {
	pairs := rdd.Parallelize(rdd.NewEngine(), []ops.KV[string, int]{ops.Pair("a", 1), ops.Pair("b", 2)}, 2)
	for _, tt := range []struct {
		opt  rdd.ShuffleOpt[string]
		want string
	}{
		{rdd.Partitions[string](0), "Partitions(0), want at least 1"},
		{rdd.WithPartitioner[string](nil), "WithPartitioner(nil), want a partitioner"},
		{rdd.WithPartitioner(shuffle.NewHash[string](0)), "WithPartitioner(shuffle.Hash(0)): it has 0 partitions, want at least 1"},
		{rdd.PartitionedLike[string, int](nil), "PartitionedLike(nil), want an RDD"},
	} {
		_, err := rdd.Collect(context.Background(), rdd.ReduceByKey(pairs, ops.Sum[int], tt.opt))
		if !errors.Is(err, rdd.ErrInvalid) || !strings.Contains(err.Error(), "rdd.ReduceByKey") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReduceByKey with %s: %v, want ErrInvalid naming rdd.ReduceByKey and the option", tt.want, err)
		}
		err = rdd.CheckShuffleOpts("my.Operator", tt.opt)
		if err == nil || err.Error() != "my.Operator: invalid argument: "+tt.want || !errors.Is(err, rdd.ErrInvalid) {
			t.Errorf("CheckShuffleOpts(%s) = %v", tt.want, err)
		}
	}
	err := rdd.CheckShuffleOpts("my.Operator", rdd.Partitions[int](2), rdd.WithPartitioner(shuffle.NewHash[int](3)))
	if !errors.Is(err, rdd.ErrInvalid) || !strings.Contains(err.Error(), "Partitions(2) conflicts with a partitioner of 3 partitions") {
		t.Errorf("CheckShuffleOpts of conflicting options = %v", err)
	}
	if err := rdd.CheckShuffleOpts[int]("my.Operator", nil, rdd.Partitions[int](3), rdd.WithPartitioner(shuffle.NewHash[int](3))); err != nil {
		t.Errorf("CheckShuffleOpts of valid options = %v", err)
	}
	if n := shuffle.NewHash[int](0).NumPartitions(); n != 0 {
		t.Errorf("NewHash(0).NumPartitions() = %d, want 0 (not made 1)", n)
	}
}
