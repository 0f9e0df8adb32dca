package dstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
)

// CheckpointDir turns on checkpointing into dir: after every batch the Context saves
// where its sources are (and the batches they would have to produce again), and on a
// checkpoint interval the state of its stateful streams. Resume from it with
// GetOrCreate; Run refuses to start over a directory that already holds a checkpoint.
// While Run runs, the directory is locked: another job on it fails to start.
// Default: "", no checkpoints.
func CheckpointDir(dir string) Opt { return func(c *Context) { c.ckptDir = dir } }

// CheckpointInterval sets how often the state of the stateful streams
// (UpdateStateByKey, MapWithState) is saved, for those that do not set their own with
// CheckpointEvery; after a restart, the batches since the last saved state run again.
// Default: each stream's own, as in Spark: for UpdateStateByKey the larger of its slide
// (the batch interval) and 10s, for MapWithState 10 times its slide.
func CheckpointInterval(d time.Duration) Opt { return func(c *Context) { c.ckptInterval = d } }

// defaultMaxCheckpointFailures is MaxCheckpointFailures' default.
const defaultMaxCheckpointFailures = 3

// MaxCheckpointFailures sets how many batches in a row may fail to write their
// checkpoint before Run fails: each failure is logged and reported to listeners
// (BatchInfo.CheckpointErr), and the next batch tries again; at the n-th in a row
// Run returns a *BatchError (Op "dstream.Checkpoint") naming the directory and the
// last cause. Spark only logs a failed checkpoint write, and a job can run for hours
// with nothing to resume from; Spate stops it. n must be at least 1. Default: 3.
func MaxCheckpointFailures(n int) Opt {
	return func(c *Context) {
		if n < 1 {
			c.invalidf("dstream.MaxCheckpointFailures", "%d, want at least 1", n)
			return
		}
		c.maxCkptFailures = n
	}
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
// checkpoint does not hold, is an error reported by Run.
func Named[T any](s *DStream[T], name string) *DStream[T] {
	if s == nil || s.ctx == nil {
		return s
	}
	switch st := stateOf(&s.streamInfo); {
	case st != nil:
		st.ckptName = name
	case s.ctx.isInput(&s.streamInfo):
		s.ckptName = name
	default:
		s.ctx.invalidf("dstream.Named", "%v is neither a source nor a stream with state: a checkpoint holds nothing of it to name %q", s, name)
	}
	return s
}

// isInput reports whether s is one of the Context's input streams.
func (c *Context) isInput(s *streamInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.inputs {
		if in.info() == s {
			return true
		}
	}
	return false
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

// stateCodec saves and restores a stateful stream's state.
type stateCodec struct {
	typ string
	// slides is the stream's default state checkpoint interval in slides
	// (MapWithState: 10); 0: the larger of its slide and 10s.
	slides int
	// save returns the state at batch t: a snapshot if base is zero, else the
	// keys changed since the save at base (see stateHeader); saved is called once
	// that is durable.
	save  func(ctx context.Context, t, base time.Time) ([]byte, error)
	saved func()
	// merge makes a snapshot of a snapshot and the deltas after it, oldest
	// first; restore sets the state of batch t from them, telling progress how
	// many more bytes of chain it has restored as it goes.
	merge   func(chain [][]byte) ([]byte, error)
	restore func(t time.Time, chain [][]byte, progress func(bytes int64)) error
}

// recovery is what GetOrCreate found to resume from.
type recovery struct {
	zero    time.Time
	state   time.Time // the batch the restored state is of: later ones run again
	history time.Time // batches after it and up to state are read again, without output
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

// namedInput is a checkpointed source and its name.
type namedInput struct {
	name string
	in   input
	src  CheckpointedSource
}

// checkpointNames returns the Context's sources and the stateful streams with
// state, by checkpoint name, or an error if names collide or a source cannot be
// checkpointed.
func (c *Context) checkpointNames() ([]namedInput, map[string]*streamInfo, error) {
	inputNames, stateNames, errs := c.stableNames()
	var inputs []namedInput
	for i, in := range c.inputs {
		src, ok := in.checkpointed()
		if !ok {
			errs = append(errs, fmt.Errorf("source %s cannot be checkpointed (it does not implement dstream.CheckpointedSource)", inputNames[i]))
			continue
		}
		inputs = append(inputs, namedInput{inputNames[i], in, src})
	}
	states := map[string]*streamInfo{}
	for in, n := range stateNames {
		if in.codec != nil { // (a windowed reduce's is not checkpointed)
			states[n] = in
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("dstream: %w: checkpointing: %w", ErrInvalid, errors.Join(errs...))
	}
	return inputs, states, nil
}

// stableNames names the Context's sources (in order) and its stateful streams with
// state (those an output computes) as checkpoints and changelogs know them: the
// name given by Named, else the operator's name and its rank among the streams of
// that operator. errs lists the names that collide.
func (c *Context) stableNames() (inputs []string, states map[*streamInfo]string, errs []error) {
	count := map[string]int{}
	name := func(in *streamInfo) string {
		if in.ckptName != "" {
			return in.ckptName
		}
		count[in.name]++
		return fmt.Sprintf("%s#%d", in.name, count[in.name])
	}
	seen := map[string]bool{}
	for _, in := range c.inputs {
		n := name(in.info())
		if seen[n] {
			errs = append(errs, fmt.Errorf("two sources named %q", n))
		}
		seen[n] = true
		inputs = append(inputs, n)
	}
	states = map[*streamInfo]string{}
	used := c.usedStatefuls()
	for _, s := range c.statefuls {
		in := s.info()
		if in.codec == nil && !in.tasked || !used[s] {
			continue // no output computes it (it has no state), or its state is not saved
		}
		n := name(in)
		if seen[n] {
			errs = append(errs, fmt.Errorf("two streams named %q", n))
		}
		seen[n] = true
		states[in] = n
	}
	return inputs, states, errs
}

// usedStatefuls returns the stateful streams that an output operation is computed
// from: the others are never computed (as in Spark, a stream no output reads is not
// part of the job).
func (c *Context) usedStatefuls() map[statefulStream]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	used := map[statefulStream]bool{}
	for _, o := range c.outputs {
		for _, st := range o.states {
			used[st] = true
		}
	}
	return used
}

// history is how long before a resumed batch the graph reads batches: the longest
// time a stream keeps its past RDDs for its windows.
func (c *Context) history() time.Duration {
	h := time.Duration(0)
	for _, s := range c.streams {
		h = max(h, s.info().keep)
	}
	return h
}

// recover loads the newest checkpoint of the directory, if any, checks it against
// the graph and prepares Run to resume from it.
func (c *Context) recover() error {
	c.ckptChecked = true
	if err := c.openCheckpoints(); err != nil {
		return err
	}
	meta, err := c.ckpt.meta.Latest()
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return nil // a fresh start
	}
	if err != nil {
		return fmt.Errorf("dstream.GetOrCreate: %w", err)
	}
	entry, ok := meta.Source(ctxEntry)
	var cm ckptMeta
	if !ok {
		return fmt.Errorf("dstream.GetOrCreate: checkpoint of %v in %s has no %s entry", errfmt.Time(meta.Time), c.ckptDir, ctxEntry)
	}
	if err := checkpoint.Decode(entry.Data, &cm); err != nil {
		return fmt.Errorf("dstream.GetOrCreate: checkpoint of %v: %w", errfmt.Time(meta.Time), err)
	}
	if meta.Interval != c.interval {
		return fmt.Errorf("dstream.GetOrCreate: %w: the checkpoint's batch interval is %v, the Context's %v", ErrInvalid, meta.Interval, c.interval)
	}
	inputs, states, err := c.checkpointNames()
	if err != nil {
		return err
	}
	var diffs []string
	found := map[string]bool{ctxEntry: true}
	for _, in := range inputs {
		e, ok := meta.Source(in.name)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("source %s is not in the checkpoint", in.name))
		case e.Type != in.in.sourceType():
			diffs = append(diffs, fmt.Sprintf("source %s was a %s, is a %s", in.name, e.Type, in.in.sourceType()))
		}
		found[in.name] = true
	}
	for _, e := range meta.Sources {
		if !found[e.Name] {
			diffs = append(diffs, fmt.Sprintf("source %s (%s) of the checkpoint is not in the graph", e.Name, e.Type))
		}
	}
	stateTime := meta.Time
	var st *checkpoint.Checkpoint      // the newest of chain
	var chain []*checkpoint.Checkpoint // the restored state: a snapshot and the deltas after it
	if len(states) > 0 && len(cm.StateTimes) == 0 {
		// Stopped before the first state was saved: every batch runs again from
		// the first, on the initial state, from the sources' recorded data.
		stateTime = cm.Zero
	} else if len(states) > 0 {
		// The newest state the sources' saved batches go back to, whose files
		// can be read, from its snapshot on; else an older one.
		var errs []string
		for _, at := range slices.Backward(cm.StateTimes) {
			if chain, err = stateChain(c.ckpt.state, at); err == nil {
				break
			}
			c.logger.Warn("dstream: a saved state cannot be read: falling back to an older one", "dir", c.ckptDir, "state", at, "error", err)
			errs = append(errs, err.Error())
		}
		if chain == nil {
			return fmt.Errorf("dstream.GetOrCreate: %w: none of the states the checkpoint of %v lists (%v) can be read: %s",
				checkpoint.ErrCorrupt, errfmt.Time(meta.Time), cm.StateTimes, strings.Join(errs, "; "))
		}
		st = chain[len(chain)-1]
		stateTime = st.Time
		for n, in := range states {
			e, ok := st.State(n)
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("stateful stream %s is not in the checkpoint", n))
			case e.Type != in.codec.typ:
				diffs = append(diffs, fmt.Sprintf("stateful stream %s was a %s, is a %s", n, e.Type, in.codec.typ))
			}
		}
		for _, e := range st.States {
			if _, ok := states[e.Name]; !ok {
				diffs = append(diffs, fmt.Sprintf("stateful stream %s (%s) of the checkpoint is not in the graph", e.Name, e.Type))
			}
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return fmt.Errorf("dstream.GetOrCreate: %w: the graph does not match the checkpoint of %v in %s:\n  %s",
			ErrInvalid, errfmt.Time(meta.Time), c.ckptDir, strings.Join(diffs, "\n  "))
	}
	// Batch times are derived from the zero time, as in the run that saved them
	// (times are map keys), in the clock's location, as in a fresh start (decoded
	// times are in time.Local).
	c.zero = cm.Zero.In(c.clock.Now().Location())
	stateTime = c.zero.Add(stateTime.Sub(c.zero))
	for _, in := range inputs {
		e, _ := meta.Source(in.name)
		if err := in.src.Restore(e.Data); err != nil {
			return fmt.Errorf("dstream.GetOrCreate: restoring source %s: %w", in.name, err)
		}
	}
	if chain != nil {
		if err := c.restoreStates(states, chain, stateTime); err != nil {
			return err
		}
	}
	history := stateTime.Add(-c.history())
	if history.Before(c.zero) {
		history = c.zero
	}
	history = history.Add(-history.Sub(c.zero) % c.interval)
	c.recovery = &recovery{zero: c.zero, state: stateTime, history: history}
	if len(states) > 0 {
		c.ckpt.ledger.times = slices.DeleteFunc(slices.Clone(cm.StateTimes), func(t time.Time) bool { return t.After(stateTime) })
	}
	if chain != nil {
		c.ckpt.ledger.base, c.ckpt.ledger.deltas = stateTime, len(chain)-1
	}
	c.logger.Info("dstream: resuming from a checkpoint", "dir", c.ckptDir, "last_completed", meta.Time,
		"state", stateTime, "last_generated", cm.LastGenerated)
	return nil
}

// restoreStates restores every state of states from chain, the state checkpoints of
// stateTime, reporting its progress in bytes of the saved states (Progress, op
// "dstream.restore").
func (c *Context) restoreStates(states map[string]*streamInfo, chain []*checkpoint.Checkpoint, stateTime time.Time) (err error) {
	datas := make(map[string][][]byte, len(states))
	var size int64
	for n := range states {
		d, err := chainData(chain, n)
		if err != nil {
			return fmt.Errorf("dstream.GetOrCreate: restoring the state of %s at %v: %w", n, errfmt.Time(stateTime), err)
		}
		datas[n] = d
		for _, b := range d {
			size += int64(len(b))
		}
	}
	progress := c.StartProgress("dstream.restore", c.ckptDir, size, "bytes")
	defer func() { progress.Done(err) }()
	for _, n := range slices.Sorted(maps.Keys(states)) {
		if err := states[n].codec.restore(stateTime, datas[n], progress.Add); err != nil {
			return fmt.Errorf("dstream.GetOrCreate: restoring the state of %s at %v: %w", n, errfmt.Time(stateTime), err)
		}
	}
	return nil
}

// startCatchup starts the progress report (op "dstream.catchup") of the batches a
// resumed Context has due at now, when Run starts: those after its restored state,
// to the last batch time at or before now, which it returns. It returns nil if the
// Context did not resume or has no batch due.
func (c *Context) startCatchup(now time.Time) (*ProgressReporter, time.Time) {
	if c.recovery == nil {
		return nil, time.Time{}
	}
	last := now.Add(-now.Sub(c.zero) % c.interval)
	n := int64(last.Sub(c.recovery.state) / c.interval)
	if n < 1 {
		return nil, time.Time{}
	}
	return c.StartProgress("dstream.catchup", c.ckptDir, n, "batches"), last
}

// resumed reports whether batch time t is at or before the batch the Context
// resumed from: its RDDs come from history, and a stream built on its previous
// RDD starts afresh after it.
func (c *Context) resumed(t time.Time) bool {
	return c.recovery != nil && !t.After(c.recovery.state)
}
