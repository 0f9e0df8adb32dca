package dstream

import (
	"fmt"
	"slices"
	"time"
)

// CheckpointDir turns on checkpointing into dir: after every batch the Context saves
// where its sources are (and the batches they would have to produce again), and on a
// checkpoint interval the state of its stateful streams. Resume from it with
// GetOrCreate; Run refuses to start over a directory that already holds a checkpoint.
// While Run runs, the directory is locked: another job on it fails to start.
// dir must not be empty. Default: none, no checkpoints.
func CheckpointDir(dir string) Opt {
	return ctxOpt(func(c *Context) {
		if dir == "" {
			c.invalidOpt(`CheckpointDir(""), want a directory`)
			return
		}
		c.ckptDir = dir
	})
}

// CheckpointInterval sets how often the state of the stateful streams
// (UpdateStateByKey, MapWithState) is saved, for those that do not set their own with
// CheckpointEvery; after a restart, the batches since the last saved state run again.
// Default: each stream's own, as in Spark: for UpdateStateByKey the larger of its slide
// (the batch interval) and 10s, for MapWithState 10 times its slide. d must be
// > 0.
func CheckpointInterval(d time.Duration) Opt {
	return ctxOpt(func(c *Context) {
		if d <= 0 {
			c.invalidOpt("CheckpointInterval(%v), want > 0", d)
			return
		}
		c.ckptInterval = d
	})
}

// defaultMaxCheckpointFailures is MaxCheckpointFailures' default.
const defaultMaxCheckpointFailures = 3

// MaxCheckpointFailures sets how many batches in a row may fail to write their
// checkpoint before Run fails: each failure is logged and reported to listeners
// (BatchInfo.CheckpointErr), and the next batch tries again; at the n-th in a row
// Run returns a *BatchError (Op "dstream.Checkpoint") naming the directory and the
// last cause. Spark only logs a failed checkpoint write, and a job can run for hours
// with nothing to resume from; Spate stops it. n must be at least 1. Default: 3.
func MaxCheckpointFailures(n int) Opt {
	return ctxOpt(func(c *Context) {
		if n < 1 {
			c.invalidOpt("MaxCheckpointFailures(%d), want at least 1", n)
			return
		}
		c.maxCkptFailures = n
	})
}

// CheckpointEvery sets how often, at least, the state of the stateful stream s
// (UpdateStateByKey, MapWithState) is saved in checkpoints (Spark's
// DStream.checkpoint(interval)), and returns s. On either stream MapWithState returns,
// it applies to the state both derive from. All states are saved together, at one
// batch, so that a restart resumes every one of them from the same batch: the
// shortest interval of the graph's stateful streams applies. Default: the Context's
// CheckpointInterval, if set, else the stream's own (see CheckpointInterval).
//
// Unlike Spark, which can checkpoint any stream's RDDs, Spate checkpoints only state:
// on a stream that holds none it is an error, reported by Run.
func CheckpointEvery[T any](s *DStream[T], d time.Duration) *DStream[T] {
	const op = "dstream.CheckpointEvery"
	if s != nil && s.ctx != nil {
		st := stateOf(&s.streamInfo)
		switch {
		case st == nil:
			s.ctx.invalidf(op, "%v holds no state to checkpoint: call it on a stream UpdateStateByKey or MapWithState returns", s)
		case d <= 0:
			s.ctx.invalidf(op, "interval %v, want > 0", d)
		default:
			st.ckptEvery = d
		}
	}
	return s
}

// CheckpointDir returns the directory the Context checkpoints into, "" if none.
func (c *Context) CheckpointDir() string { return c.ckptDir }

// Named gives s the name it is saved under in checkpoints, and returns s. Sources and
// stateful streams (UpdateStateByKey, MapWithState) are matched by name when a graph is
// rebuilt from a checkpoint; stateful streams are known by it in their tasks' changelogs
// too (see TaskStates), the windowed reduces (ReduceByKeyAndWindow,
// ReduceByKeyAndWindowInv, CountByValueAndWindow) included. Default: the operator's name and its rank among the
// streams of that operator, in creation order ("dstream.UpdateStateByKey#1"), which
// stays the same when stateless operators are added or changed. On either stream
// MapWithState returns, it names their state. Naming another stream, which a
// checkpoint does not hold, or naming it "", is an error reported by Run.
func Named[T any](s *DStream[T], name string) *DStream[T] {
	if s == nil || s.ctx == nil {
		return s
	}
	switch st := stateOf(&s.streamInfo); {
	case name == "":
		s.ctx.invalidf("dstream.Named", "%v: empty name, want one (or no Named, for the default)", s)
	case st != nil:
		st.ckptName = name
	case s.ctx.isInput(&s.streamInfo):
		s.ckptName = name
	default:
		s.ctx.invalidf("dstream.Named", "%v is neither a source nor a stream with state: a checkpoint holds nothing of it to name %q", s, name)
	}
	return s
}

// CheckpointedSource is implemented by a Source whose batches can be checkpointed: it
// can say what it needs to produce its batches from a given time on again, exactly,
// and to go on after them; and it can be given that back after a restart, before
// Start.
type CheckpointedSource interface {
	// Checkpoint returns the data to produce again every batch it produced at or
	// after from — including those the generator produced while the Context was
	// writing the checkpoint — and to continue after the last batch it produced:
	// what it saves and where it goes on must be taken under one lock, so that no
	// batch handed out is left out. Batches before from are no longer needed.
	// BatchLog keeps this.
	Checkpoint(from time.Time) ([]byte, error)
	// Restore takes what Checkpoint returned, before Start: Batch must then produce
	// the recorded batches again at their times, and continue after the last one.
	Restore(data []byte) error
}

// CheckpointCleaner is implemented by a CheckpointedSource that keeps data of its own
// that only checkpoints make unnecessary, such as a write-ahead log: the Context calls
// CheckpointSaved once the checkpoint that holds what Checkpoint last returned is
// durable, and only then may the source drop what that checkpoint no longer needs. If
// the save fails, CheckpointSaved is not called, and the next Checkpoint call starts
// afresh.
type CheckpointCleaner interface {
	CheckpointSaved()
}

// GetOrCreate returns a Context that checkpoints into dir, with the graph build
// makes: if dir holds a checkpoint, the Context resumes from it (Spark's
// StreamingContext.getOrCreate). Checkpoints hold data, not code: build runs every
// time, and the sources' positions and the stateful streams' state are restored by
// name (see Named). A graph whose sources or stateful streams differ from the
// checkpoint's, in name or type, is an error that lists every difference; other
// changes (functions, stateless operators, outputs) are fine. On Run, the batches
// after the restored state run again, from the sources' recorded data (their
// outputs run again: output is at least once; state is exactly once); windows read
// again the batches they need from before; new batches follow.
//
// The directory is locked (checkpoint.Lock) from GetOrCreate until Run returns: a
// second job on it, in this process or another, gets an error naming the directory
// and the holder's pid.
func GetOrCreate(dir string, build func(c *Context) error, opts ...Opt) (*Context, error) {
	c := NewContext(append(slices.Clone(opts), CheckpointDir(dir))...)
	if build == nil {
		return nil, fmt.Errorf("dstream.GetOrCreate: %w: nil build function", ErrInvalid)
	}
	if err := build(c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := c.recover(); err != nil {
		c.closeCheckpoints()
		return nil, err
	}
	return c, nil
}
