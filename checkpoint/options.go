package checkpoint

import "log/slog"

// An Opt configures a [Store] (see [Open]).
type Opt interface{ applyStore(*storeConfig) }

// A WALOpt configures a [WAL] (see [OpenWAL]).
type WALOpt interface{ applyWAL(*walConfig) }

type storeConfig struct {
	keep   int
	logger *slog.Logger
}

type walConfig struct {
	segmentSize int64
	logger      *slog.Logger
}

type storeOpt func(*storeConfig)

func (o storeOpt) applyStore(c *storeConfig) { o(c) }

type walOpt func(*walConfig)

func (o walOpt) applyWAL(c *walConfig) { o(c) }

// KeepAll makes a Store keep every checkpoint file: Save deletes none, and the owner
// deletes what it no longer needs with PruneBefore (a chain of delta checkpoints
// needs files back to its snapshot, whatever their number).
func KeepAll() Opt { return storeOpt(func(c *storeConfig) { c.keep = -1 }) }

// Keep is how many of the newest checkpoint files a Store keeps; after each save it
// deletes the older ones. It must be at least 1. The default is 3, so that recovery can
// fall back twice when the newest files are damaged.
func Keep(n int) Opt { return storeOpt(func(c *storeConfig) { c.keep = n }) }

// SegmentSize is the size in bytes at which a WAL starts a new segment file: a record
// that would take the current segment past it goes to a new segment (a record larger
// than the size gets a segment of its own). It must be at least 64. The default is
// 64 MiB.
func SegmentSize(bytes int64) WALOpt {
	return walOpt(func(c *walConfig) { c.segmentSize = bytes })
}

// A LoggerOpt sets the logger of a Store or a WAL; it is both an [Opt] and a [WALOpt].
type LoggerOpt struct{ logger *slog.Logger }

func (o LoggerOpt) applyStore(c *storeConfig) { c.logger = o.logger }
func (o LoggerOpt) applyWAL(c *walConfig)     { c.logger = o.logger }

// WithLogger is the logger that a Store or a WAL warns on, for example about a corrupt
// checkpoint it skips or a torn record it cuts off. The default (also for nil) is
// slog.Default().
func WithLogger(l *slog.Logger) LoggerOpt { return LoggerOpt{l} }
