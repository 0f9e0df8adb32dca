package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// checkpointBench measures the state checkpoints of a MapWithState job holding 1M int
// keys (an initial state), checkpointed after every batch: the first save is a
// snapshot of every key; each later batch changes 10k keys, and its save is a delta
// of those. It prints
//
//	checkpoint: keys=1000000 changed=10000 write_ms=<ms> snapshot_ms=<ms> restore_ms=<ms> bytes=<delta file> snapshot_bytes=<snapshot file>
//
// write_ms is the median time of a delta save (the end of a batch's output to the
// batch's completion, which waits for its checkpoint: encoding, temp file, fsync,
// rename, fsync of the directory), snapshot_ms the first save's; restore_ms is the
// time GetOrCreate takes to read the snapshot and the deltas and rebuild the stores.
func checkpointBench(scale float64, rounds int) (string, error) {
	keys := max(int(1_000_000*scale), 1000)
	changed := max(int(10_000*scale), 100)
	batches := max(rounds, 3) + 1
	dir, err := os.MkdirTemp("", "spate-bench-checkpoint")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	pairs := make([]ops.KV[int, int], keys)
	for i := range pairs {
		pairs[i] = ops.Pair(i, 1)
	}
	input := make([][]ops.KV[int, int], batches)
	for b := range input {
		input[b] = make([]ops.KV[int, int], changed)
		for i := range input[b] {
			input[b][i] = ops.Pair((b*changed+i)%keys, 1)
		}
	}
	build := func(push [][]ops.KV[int, int]) func(c *dstream.Context) error {
		return func(c *dstream.Context) error {
			in, _ := dstream.QueueStream(c, dstream.OneAtATime, push...)
			mapped, _ := dstream.MapWithState(in, dstream.NewStateSpec(func(_ time.Time, _ int, v ops.Maybe[int], st *dstream.State[int]) ops.Maybe[int] {
				n, _ := st.Get()
				_ = st.Update(n + v.OrElse(0))
				return ops.None[int]()
			}).InitialState(rdd.Parallelize(c.Engine(), pairs, 2)))
			dstream.ForeachRDD(mapped, func(ctx context.Context, r *rdd.RDD[int], _ time.Time) error {
				_, err := rdd.Count(ctx, r)
				return err
			})
			return nil
		}
	}
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	timer := &saveTimer{done: make(chan struct{}, batches)}
	opts := []dstream.Opt{dstream.BatchInterval(time.Second), dstream.WithClock(clock),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))), dstream.CheckpointInterval(time.Second),
		dstream.StateSnapshotEvery(1000)}
	c, err := dstream.GetOrCreate(dir, build(input), append(opts, dstream.WithListener(timer))...)
	if err != nil {
		return "", err
	}
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
	c.Stop()
	if err := <-done; err != nil {
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(dir, "state", "*.ckpt"))
	if err != nil || len(files) != batches {
		return "", fmt.Errorf("%d state files, want %d (%v)", len(files), batches, err)
	}
	slices.Sort(files)
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return -1
		}
		return fi.Size()
	}

	start := time.Now()
	restored, err := dstream.GetOrCreate(dir, build(nil), opts...)
	if err != nil {
		return "", err
	}
	restore := time.Since(start)
	restored.Stop()
	if err := restored.Run(ctx); err != nil {
		return "", err
	}
	deltas := slices.Clone(timer.saves[1:])
	slices.Sort(deltas)
	return fmt.Sprintf("checkpoint: keys=%d changed=%d write_ms=%.2f snapshot_ms=%.1f restore_ms=%.1f bytes=%d snapshot_bytes=%d",
		keys, changed, ms(deltas[len(deltas)/2]), ms(timer.saves[0]), ms(restore), size(files[len(files)-1]), size(files[0])), nil
}

// saveTimer is a listener timing each batch's checkpoint: from the end of its last
// output to its completion, which waits for the checkpoint.
type saveTimer struct {
	dstream.BaseListener
	mu    sync.Mutex
	last  time.Time
	saves []time.Duration
	done  chan struct{}
}

func (s *saveTimer) OnOutputCompleted(dstream.OutputInfo) {
	s.mu.Lock()
	s.last = time.Now()
	s.mu.Unlock()
}

func (s *saveTimer) OnBatchCompleted(dstream.BatchInfo) {
	s.mu.Lock()
	s.saves = append(s.saves, time.Since(s.last))
	s.mu.Unlock()
	s.done <- struct{}{}
}
