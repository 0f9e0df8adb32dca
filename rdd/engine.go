package rdd

import (
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

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
	poolOnce     sync.Once
	pool         *shuffleexec.Pool // the shuffles' half of the budget
}

// EngineOpt configures an [Engine].
type EngineOpt func(*Engine)

// Parallelism sets how many tasks run at once, the default partition count
// of [Parallelize] and [Range], and bounds that of wide operators (at most 4
// times the parallelism: see [Partitions]). Default: runtime.GOMAXPROCS(0).
// Values below 1 keep the default.
func Parallelism(n int) EngineOpt {
	return func(e *Engine) {
		if n >= 1 {
			e.parallelism = n
		}
	}
}

// WithLogger sets the logger for job and stage events (at debug level).
// Default: slog.Default().
func WithLogger(l *slog.Logger) EngineOpt {
	return func(e *Engine) {
		if l != nil {
			e.logger = l
		}
	}
}

// NewEngine returns an Engine configured by opts.
func NewEngine(opts ...EngineOpt) *Engine {
	e := &Engine{parallelism: runtime.GOMAXPROCS(0), logger: slog.Default()}
	for _, o := range opts {
		if o != nil {
			o(e)
		}
	}
	return e
}

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
