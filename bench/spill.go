package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// spillState measures a MapWithState whose state is larger than its memory budget: 2M
// int keys (an initial state) under a 64 MiB engine budget (32 MiB for the state
// stores, while the state takes about 80 MiB in memory), then batches of 10k records
// over 10k keys, half of them cold (spilled). It prints
//
//	spill: state_keys=2000000 budget_mb=64 ms_per_batch=<ms> first_ms=<ms> spilled=<entries> rss_mb=<peak RSS of the process>
//
// ms_per_batch is the median of the batches after the first, which loads the initial
// state and spills most of it (first_ms).
func spillState(scale float64, rounds int) (string, error) {
	keys := max(int(2_000_000*scale), 10_000)
	budget := max(int64(64<<20*scale), 1<<20)
	batches := max(rounds, 3) + 1
	dir, err := os.MkdirTemp("", "spate-bench-spill")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	eng := rdd.NewEngine(rdd.Parallelism(2), rdd.MemoryBudget(budget), rdd.SpillDir(dir))
	pairs := make([]ops.KV[int, int], keys)
	for i := range pairs {
		pairs[i] = ops.Pair(i, 1)
	}
	input := make([][]ops.KV[int, int], batches)
	for b := range input {
		input[b] = make([]ops.KV[int, int], 10_000)
		for i := range input[b] {
			k := i % 5000 // hot: stays in memory
			if i%2 == 1 {
				k = (b*5000 + i*97) % keys // cold: likely spilled
			}
			input[b][i] = ops.Pair(k, 1)
		}
	}
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	timer := &batchTimer{done: make(chan struct{}, batches)}
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock), dstream.WithEngine(eng), dstream.WithListener(timer))
	in, _ := dstream.QueueStream(c, dstream.OneAtATime, input...)
	mapped, _ := dstream.MapWithState(in, dstream.NewStateSpec(func(_ time.Time, _ int, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
		n, _ := st.Get()
		_ = st.Update(n + v.OrElse(0))
		return ops.Some(n)
	}).InitialState(rdd.Parallelize(eng, pairs, 2)))
	spilled := 0
	dstream.ForeachRDD(mapped, func(ctx context.Context, r *rdd.RDD[int], _ time.Time) error {
		n, err := rdd.Count(ctx, r)
		if err == nil && n != 10_000 {
			err = fmt.Errorf("%d records mapped, want 10000", n)
		}
		return err
	})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for range batches {
		if err := clock.AwaitWaiters(ctx, 1); err != nil {
			return "", err
		}
		clock.Advance(time.Second)
		<-timer.done
	}
	files, _ := os.ReadDir(dir)
	spilled = len(files)
	c.Stop()
	if err := <-done; err != nil {
		return "", err
	}
	if spilled == 0 {
		return "", fmt.Errorf("no spill file: the state was not beyond the budget")
	}
	times := slices.Clone(timer.times[1:])
	slices.Sort(times)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return fmt.Sprintf("spill: state_keys=%d budget_mb=%d ms_per_batch=%.2f first_ms=%.0f spill_files=%d rss_mb=%d",
		keys, budget>>20, ms(times[len(times)/2]), ms(timer.times[0]), spilled, ru.Maxrss>>10), nil
}

// spillShufflePair measures a shuffle far beyond its memory budget: ReduceByKey(Sum)
// over 50M distinct int64 keys (rdd.Range mapped to pairs (i, 1), so that the input
// is generated as it is read, not held), under a 512 MiB engine budget (MemoryBudget:
// 256 MiB for the shuffles), counted. Without a budget the same job peaks at about
// 2.6 GB of RSS. It runs in a child process of its own, so that rss_mb is the peak
// RSS of that process while the job runs; one round, no warm-up (a round takes
// minutes). It prints
//
//	spill: keys=50000000 budget_mb=512 spate_s=<wall s> cpu_s=<CPU s> rss_mb=<peak RSS>
//
// -quick runs it on 1% of the keys with 1% of the budget.
var spillShufflePair = &paired{
	roles:    []string{"spate"},
	setup:    setupSpillShuffle,
	rounds:   func(int) int { return 1 },
	noWarmup: true,
	format: func(r *pairResult) string {
		s := r.role("spate")
		return fmt.Sprintf("spill: keys=%d budget_mb=%d spate_s=%.1f cpu_s=%.1f rss_mb=%.0f",
			r.records, shuffleSpillBudget(r.records)>>20, s.median("wall").Seconds(), s.median("cpu").Seconds(), s.rssMB())
	},
}

// shuffleSpillBudget is the engine budget of spillShufflePair for keys keys: 512 MiB
// for 50M.
func shuffleSpillBudget(keys int) int64 {
	return max(int64(keys)*(512<<20)/50_000_000, 1<<20)
}

func setupSpillShuffle(scale float64, role string) (int, contender, error) {
	if role != "spate" {
		return 0, nil, fmt.Errorf("no role %q", role)
	}
	keys := int(50_000_000 * scale)
	eng := rdd.NewEngine(rdd.Parallelism(2), rdd.MemoryBudget(shuffleSpillBudget(keys)))
	return keys, func(ctx context.Context) (outcome, error) {
		spilled := eng.ShuffleSpilledBytes()
		pairs := rdd.Map(rdd.Range(eng, 0, int64(keys), 1, 0), func(i int64) ops.KV[int64, int64] { return ops.Pair(i, int64(1)) })
		n, err := rdd.Count(ctx, rdd.ReduceByKey(pairs, ops.Sum[int64]))
		spilled = eng.ShuffleSpilledBytes() - spilled
		return outcome{check: func() error {
			if n != int64(keys) {
				return fmt.Errorf("%d keys reduced, want %d", n, keys)
			}
			if spilled == 0 {
				return fmt.Errorf("nothing spilled: the shuffle was not beyond the budget")
			}
			return nil
		}}, err
	}, nil
}
