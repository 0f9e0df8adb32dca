package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spatedev/spate/internal/argerr"
)

// An Opt configures a [Store] (see [Open]). Opts are made only by this package's
// functions: [Keep], [KeepAll] and [WithLogger]. A nil Opt is no option.
type Opt interface{ applyStore(*storeConfig) error }

// A WALOpt configures a [WAL] (see [OpenWAL]). WALOpts are made only by this
// package's functions: [SegmentSize] and [WithLogger]. A nil WALOpt is no option.
type WALOpt interface{ applyWAL(*walConfig) error }

type storeConfig struct {
	keep   int // -1: KeepAll
	logger *slog.Logger
}

type walConfig struct {
	segmentSize int64
	logger      *slog.Logger
}

// storeOpt is an Opt: it sets its value, or returns what is wrong with it.
type storeOpt func(*storeConfig) error

func (o storeOpt) applyStore(c *storeConfig) error { return o(c) }

// walOpt is a WALOpt: it sets its value, or returns what is wrong with it.
type walOpt func(*walConfig) error

func (o walOpt) applyWAL(c *walConfig) error { return o(c) }

// KeepAll makes a Store keep every checkpoint file: Save deletes none, and the owner
// deletes what it no longer needs with PruneBefore (a chain of delta checkpoints
// needs files back to its snapshot, whatever their number). Default: Keep(3).
func KeepAll() Opt { return storeOpt(func(c *storeConfig) error { c.keep = -1; return nil }) }

// Keep is how many of the newest checkpoint files a Store keeps; after each save it
// deletes the older ones. n must be at least 1. The default is 3, so that recovery
// can fall back twice when the newest files are damaged.
func Keep(n int) Opt {
	return storeOpt(func(c *storeConfig) error {
		if n < 1 {
			return fmt.Errorf("Keep(%d), want at least 1 (KeepAll to keep every file)", n)
		}
		c.keep = n
		return nil
	})
}

// SegmentSize is the size in bytes at which a WAL starts a new segment file: a record
// that would take the current segment past it goes to a new segment (a record larger
// than the size gets a segment of its own). It must be at least 64. The default is
// 64 MiB.
func SegmentSize(bytes int64) WALOpt {
	return walOpt(func(c *walConfig) error {
		if bytes < minSegmentSize {
			return fmt.Errorf("SegmentSize(%d), want at least %d bytes", bytes, minSegmentSize)
		}
		c.segmentSize = bytes
		return nil
	})
}

// A LoggerOpt sets the logger of a Store or a WAL; it is both an [Opt] and a [WALOpt].
type LoggerOpt struct{ logger *slog.Logger }

func (o LoggerOpt) applyStore(c *storeConfig) error { c.logger = o.logger; return nil }
func (o LoggerOpt) applyWAL(c *walConfig) error     { c.logger = o.logger; return nil }

// WithLogger is the logger that a Store or a WAL warns on, for example about a corrupt
// checkpoint it skips or a torn record it cuts off. The default (also for nil) is
// slog.Default().
func WithLogger(l *slog.Logger) LoggerOpt { return LoggerOpt{l} }

// applyOpts applies opts, of op (Open or OpenWAL), to cfg: an invalid one is an error
// naming op, the option and its value, wrapping the module's ErrInvalid
// (rdd.ErrInvalid).
func applyOpts[O any](op string, opts []O, apply func(O) error) error {
	var errs []error
	for _, o := range opts {
		if any(o) == nil {
			continue
		}
		if err := apply(o); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return argerr.Errorf(op, "%w", errors.Join(errs...))
	}
	return nil
}
