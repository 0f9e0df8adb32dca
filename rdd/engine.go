package rdd

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/spatedev/spate/internal/argerr"
	"github.com/spatedev/spate/internal/shuffleexec"
)

// Engine is the local partitioned executor: it runs the tasks of a job, one
// per partition, on a bounded number of goroutines. RDDs are created against
// an Engine (see [Parallelize]) and every action on them runs on it. An
// Engine holds no goroutines between actions and is safe for concurrent use:
// several actions may run at once, each bounded by the parallelism.
type Engine struct {
	parallelism  int
	logger       *slog.Logger
	nextID       atomic.Int64
	memoryBudget int64 // MemoryBudget, if budgetSet
	budgetSet    bool
	spillDir     string
	err          error // construction error: an invalid option
	poolOnce     sync.Once
	pool         *shuffleexec.Pool // the shuffles' half of the budget
}

// An EngineOpt configures an [Engine] (see [NewEngine]). EngineOpts are made
// only by this package's functions: [Parallelism], [WithLogger],
// [MemoryBudget] and [SpillDir]. A nil EngineOpt is no option.
type EngineOpt interface{ applyEngine(*Engine) error }

// engineOpt is an EngineOpt: it sets its value, or returns what is wrong with
// it.
type engineOpt func(*Engine) error

func (o engineOpt) applyEngine(e *Engine) error { return o(e) }

// Parallelism sets how many tasks run at once, the default partition count
// of [Parallelize] and [Range], and bounds that of wide operators (at most 4
// times the parallelism: see [Partitions]). n must be at least 1. Default:
// runtime.GOMAXPROCS(0).
func Parallelism(n int) EngineOpt {
	return engineOpt(func(e *Engine) error {
		if n < 1 {
			return fmt.Errorf("Parallelism(%d), want at least 1", n)
		}
		e.parallelism = n
		return nil
	})
}

// WithLogger sets the logger for job and stage events (at debug level) and
// spill warnings. Default (and nil): slog.Default().
func WithLogger(l *slog.Logger) EngineOpt {
	return engineOpt(func(e *Engine) error {
		if l != nil {
			e.logger = l
		}
		return nil
	})
}

// NewEngine returns an Engine configured by opts. An invalid option (see
// each) is the Engine's construction error: [Engine.Err] returns it, and so
// does every action on an RDD made on the Engine, before running anything
// (as for an RDD built with an invalid argument: see the package doc). The
// Engine then has the default of what the option would have set.
func NewEngine(opts ...EngineOpt) *Engine {
	e := &Engine{parallelism: runtime.GOMAXPROCS(0), logger: slog.Default()}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyEngine(e); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		e.err = argerr.Errorf("rdd.NewEngine", "%w", errors.Join(errs...))
	}
	return e
}

// Err returns the Engine's construction error: the options of NewEngine
// that were invalid, wrapping ErrInvalid. It is nil for a valid Engine.
func (e *Engine) Err() error { return e.err }

// Parallelism returns how many tasks the engine runs at once.
func (e *Engine) Parallelism() int { return e.parallelism }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.logger }

var defaultEngine = sync.OnceValue(func() *Engine { return NewEngine() })

// Default returns the process-wide default Engine (parallelism
// GOMAXPROCS, slog.Default()). Sources given a nil Engine use it.
func Default() *Engine { return defaultEngine() }

func orDefault(e *Engine) *Engine {
	if e == nil {
		return Default()
	}
	return e
}
