package rdd

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/spatedev/spate/internal/shuffleexec"
)

// shuffleDep is a shuffle dependency: a stage boundary. Its map stage
// computes every partition of the parent and buckets the records by output
// partition; the child reads bucket q of every map task to compute its
// partition q.
type shuffleDep interface {
	parent() node
	// runMap runs the map stage and stores its output in the job.
	runMap(j *job) error
}

// job is one action's run: its shuffle outputs live only as long as it.
type job struct {
	ctx    context.Context
	eng    *Engine
	action string
	space  *shuffleexec.Space // the shuffles' spill files and kept map outputs
	mu     sync.Mutex
	outs   map[shuffleDep]any
	stages int
}

// task is what a running task knows: its job, its partition and which
// operator is running user code, for error reports.
type task struct {
	ctx  context.Context
	job  *job
	part int
	cur  *info // operator whose function runs now, set before calling it
	n    uint  // elements since the last cancellation check
}

// spiller returns the memory account of the task of op that computes
// partition p, as a map task or a reduce task (kind), or nil without a
// memory budget. The task closes it with release.
func (tc *task) spiller(op *info, kind string, p int) *shuffleexec.Spiller {
	return tc.job.space.Spiller(fmt.Sprintf("%s-%d-%s-%d", op.name, op.id, kind, p))
}

// release closes sp, logging a spill file it could not delete.
func (tc *task) release(sp *shuffleexec.Spiller) {
	if err := sp.Close(); err != nil {
		tc.job.eng.logger.LogAttrs(tc.ctx, slog.LevelWarn, "rdd: deleting a spill file failed", slog.Any("error", err))
	}
}

// checkEvery is how many elements a source yields between checks of the
// context, so that cancelling an action stops it promptly.
const checkEvery = 1024

// tick counts one element and, every checkEvery, reports the context's error.
func (tc *task) tick() error {
	tc.n++
	if tc.n%checkEvery == 0 {
		return tc.ctx.Err()
	}
	return nil
}

// yieldSlice pushes s to yield, checking for cancellation.
func yieldSlice[T any](tc *task, s []T, yield func(T) bool) error {
	for i := range s {
		if err := tc.tick(); err != nil {
			return err
		}
		if !yield(s[i]) {
			return nil
		}
	}
	return nil
}

func (j *job) output(d shuffleDep) any {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.outs[d]
}

func (j *job) setOutput(d shuffleDep, out any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.outs[d] = out
}

// runJob validates final's lineage, runs the shuffle stages it needs in
// dependency order, then runs fn for each partition in parts (all
// partitions when parts is nil) with bounded parallelism.
func runJob(ctx context.Context, action string, final node, parts []int, fn func(tc *task, p int) error) error {
	if parts == nil && !isNil(final) {
		parts = indexes(final.base().nparts)
	}
	return runJobWaves(ctx, action, final, func(run runFunc) error { return run(parts, fn) })
}

// runFunc runs result tasks for parts within a job.
type runFunc func(parts []int, fn func(tc *task, p int) error) error

// runJobWaves is runJob for actions that run their result tasks in several
// waves (Take): the shuffle stages run once, then drive calls run as often
// as it needs.
func runJobWaves(ctx context.Context, action string, final node, drive func(run runFunc) error) error {
	if err := validate(final); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if ctx == nil {
		return invalid(action, "nil context")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	in := final.base()
	j := &job{ctx: ctx, eng: in.eng, action: action, outs: map[shuffleDep]any{}}
	// The result stage is profiled as the caller's operator, if its context
	// names one (a dstream output operation), else as the action.
	result, ok := pprof.Label(ctx, LabelOperator)
	if !ok {
		result = action
	}
	j.space = j.eng.shufflePool().NewSpace(j.eng.SpillDir())
	start := time.Now()
	tasks := 0
	err := j.plan(final, map[node]bool{})
	if err == nil {
		err = drive(func(parts []int, fn func(tc *task, p int) error) error {
			tasks += len(parts)
			return j.runTasks(action, result, parts, fn)
		})
	}
	// Every task has ended: the spill files go, whatever the outcome.
	if cerr := j.space.Close(); cerr != nil {
		j.eng.logger.LogAttrs(ctx, slog.LevelWarn, "rdd job: deleting its spill files failed",
			slog.String("action", action), slog.Any("error", cerr))
	}
	if j.eng.logger.Enabled(ctx, slog.LevelDebug) {
		j.eng.logger.LogAttrs(ctx, slog.LevelDebug, "rdd job",
			slog.String("action", action), slog.String("rdd", fmt.Sprintf("%s#%d", in.name, in.id)), slog.Int("stages", j.stages+1),
			slog.Int("tasks", tasks), slog.Duration("duration", time.Since(start)), slog.Any("error", err))
	}
	return named(action, err)
}

// plan runs, depth first, every shuffle stage n depends on, skipping
// lineage behind fully persisted nodes.
func (j *job) plan(n node, seen map[node]bool) error {
	if seen[n] {
		return nil
	}
	seen[n] = true
	if n.fullyCached() {
		return nil
	}
	in := n.base()
	for _, p := range in.parents {
		if err := j.plan(p, seen); err != nil {
			return err
		}
	}
	for _, d := range in.shuffles {
		if j.output(d) != nil {
			continue
		}
		if err := j.plan(d.parent(), seen); err != nil {
			return err
		}
		if err := j.ctx.Err(); err != nil {
			return err
		}
		j.stages++
		if err := d.runMap(j); err != nil {
			return err
		}
	}
	return nil
}

// runTasks runs fn for every partition in parts, at most the engine's
// parallelism at once, each task under the profiler labels of its stage's
// operator (label) and its partition. The first failure cancels the others
// and is returned; a panic becomes a *PanicError naming the operator, the
// partition and the stack.
func (j *job) runTasks(op, label string, parts []int, fn func(tc *task, p int) error) error {
	if len(parts) == 0 {
		return j.ctx.Err()
	}
	if len(parts) == 1 || j.eng.parallelism == 1 {
		for _, p := range parts {
			if err := j.runTask(j.ctx, op, label, p, fn); err != nil {
				return err
			}
		}
		return j.ctx.Err()
	}
	g, gctx := errgroup.WithContext(j.ctx)
	g.SetLimit(j.eng.parallelism)
	for _, p := range parts {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return j.runTask(gctx, op, label, p, fn) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return j.ctx.Err()
}

// runTask runs fn for partition p under pprof.Do with the task's labels: a
// pooled goroutine does not inherit them, so every task sets its own.
func (j *job) runTask(ctx context.Context, op, label string, p int, fn func(tc *task, p int) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	pprof.Do(ctx, pprof.Labels(LabelOperator, label, LabelPartition, strconv.Itoa(p)), func(ctx context.Context) {
		err = j.runTaskLabelled(ctx, op, p, fn)
	})
	return err
}

// runTaskLabelled is runTask within its labels.
func (j *job) runTaskLabelled(ctx context.Context, op string, p int, fn func(tc *task, p int) error) (err error) {
	tc := &task{ctx: ctx, job: j, part: p}
	defer func() {
		if v := recover(); v != nil {
			name := op
			if tc.cur != nil {
				name = tc.cur.name
			}
			err = &PanicError{Op: name, Partition: p, Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(tc, p)
}
