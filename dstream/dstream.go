package dstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/rdd"
)

// ErrNilRDD is wrapped by the error that fails a batch when a stream that should
// have an RDD at the batch time has none: a Transform function, or a source, returned
// nil. (Spark fails the batch too: "Transform function must not return null".)
var ErrNilRDD = errors.New("nil RDD")

// stream is the untyped view of a DStream that the scheduler walks.
type stream interface {
	info() *streamInfo
	// forget drops the RDDs the stream no longer needs at batch time now.
	forget(now time.Time, remember time.Duration)
}

type streamInfo struct {
	ctx  *Context
	id   int
	name string
	// slide is how often the stream has an RDD: the batch interval for
	// inputs and per-batch operators, a window's slide for windows (and
	// what is derived from them). 0 means the batch interval.
	slide time.Duration
	// keep is how long past RDDs must stay, for the windows over this
	// stream or over streams derived from it (0: only the Context's
	// remember duration).
	keep time.Duration
	// parents are the streams this one's RDDs are computed from.
	parents []stream
	// stateful marks a stream whose RDD for a batch is built on its own
	// RDD for the previous slide (UpdateStateByKey, MapWithState,
	// ReduceByKeyAndWindowInv): the outputs computed from it build its RDD
	// at every one of its slides (see addOutput).
	stateful bool
	// ckptName is the name the stream is saved under in checkpoints (Named).
	ckptName string
	// ckptEvery is how often the stream's state is saved at least
	// (CheckpointEvery); 0: the Context's CheckpointInterval.
	ckptEvery time.Duration
	// codec saves and restores a stateful stream's state in checkpoints.
	codec *stateCodec
	// tasked marks a stateful stream whose state is not checkpointed but moves
	// with its tasks (a windowed reduce's, see TaskPartitioner): it is named
	// as the checkpointed ones are, for the changelogs.
	tasked bool
	// store is set on a stateful stream whose state is in a state store: the
	// Context calls it around each batch's update, and settles the batch.
	store storeHooks
	// stateOwner is, for a stream derived from a state (a view of it), the
	// stream that holds the state (see stateOf).
	stateOwner *streamInfo
}

// keepFor makes s, and every stream it is computed from, keep its RDDs for
// at least d (a window over s reads s's past RDDs, which read their
// parents' RDDs for the same times).
func keepFor(s stream, d time.Duration) {
	in := s.info()
	if in.keep < d {
		in.keep = d
	}
	for _, p := range in.parents {
		keepFor(p, d)
	}
}

// slideOr returns the stream's slide, defaulting to the batch interval.
func (s *streamInfo) slideOr() time.Duration {
	if s.slide > 0 {
		return s.slide
	}
	return s.ctx.interval
}

// validAt reports whether the stream has an RDD at batch time t: t is a
// whole number of slides after the Context's zero time.
func (s *streamInfo) validAt(t time.Time) bool {
	d := t.Sub(s.ctx.zero)
	return d > 0 && d%s.slideOr() == 0
}

func (s *streamInfo) info() *streamInfo { return s }

// DStream is a discretized stream: a sequence of RDDs of T, one per batch
// interval. Transformations (top-level functions such as [Map]) return a new
// DStream whose RDD for a batch is computed from its parents' RDDs for that
// batch; nothing runs until [Context.Run]. A DStream computes each batch's
// RDD once and keeps it while windows or Remember need it.
type DStream[T any] struct {
	streamInfo
	compute func(ctx context.Context, t time.Time) (*rdd.RDD[T], error)

	mu        sync.Mutex
	generated map[time.Time]*rdd.RDD[T]
	// times holds generated's batch times, oldest first, so that forget
	// drops from the front: it costs what it forgets, not the batches
	// generated and still queued (a backlog).
	times []time.Time
}

// Name returns the name of the operator that made the stream, e.g.
// "dstream.Map".
func (s *DStream[T]) Name() string { return s.name }

// Context returns the Context the stream belongs to; nil for a nil stream.
func (s *DStream[T]) Context() *Context {
	if s == nil {
		return nil
	}
	return s.ctx
}

// String returns the stream's name and id.
func (s *DStream[T]) String() string { return fmt.Sprintf("%s#%d", s.name, s.id) }

// newStream registers a stream named name on c.
func newStream[T any](c *Context, name string, compute func(ctx context.Context, t time.Time) (*rdd.RDD[T], error)) *DStream[T] {
	s := &DStream[T]{streamInfo: streamInfo{ctx: c, name: name}, compute: compute, generated: map[time.Time]*rdd.RDD[T]{}}
	s.id = c.register(s)
	return s
}

// rddAt returns the stream's RDD for batch time t, computing it once, or
// nil if the stream has no RDD at t (t is not a multiple of its slide, or
// is not after the Context's zero time).
func (s *DStream[T]) rddAt(ctx context.Context, t time.Time) (*rdd.RDD[T], error) {
	if !s.validAt(t) {
		return nil, nil
	}
	s.mu.Lock()
	r, ok := s.generated[t]
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	// Computed without the lock: an incremental window's RDD at t is built
	// on the same stream's RDD at an earlier time.
	r, err := s.compute(ctx, t)
	if err != nil {
		return nil, err
	}
	if r == nil {
		// Only a stream between its slides has no RDD, and that is known
		// above: a nil here would make every stream built on this one skip
		// the batch, and a union drop its other inputs' records.
		return nil, fmt.Errorf("%s: %w: no RDD for batch %s (a Transform function or a source returned nil; return an empty RDD for an empty batch)",
			s, ErrNilRDD, errfmt.Time(t))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.generated[t]; ok {
		return prev, nil
	}
	s.record(t, r)
	return r, nil
}

// record stores r as the stream's RDD for batch time t: every RDD in
// generated goes through it, so that forget finds it in times. Batches are
// generated in time order, so t is almost always the latest time and is
// appended. s.mu is held.
func (s *DStream[T]) record(t time.Time, r *rdd.RDD[T]) {
	if _, ok := s.generated[t]; ok {
		s.generated[t] = r
		return
	}
	s.generated[t] = r
	if n := len(s.times); n == 0 || t.After(s.times[n-1]) {
		s.times = append(s.times, t)
		return
	}
	i, _ := slices.BinarySearchFunc(s.times, t, time.Time.Compare)
	s.times = slices.Insert(s.times, i, t)
}

// markStateful marks s stateful and registers it with its Context, which
// computes its RDD of every batch fully, before the batch's outputs (step 2 of
// "Order of a batch" in the package doc).
func markStateful[T any](s *DStream[T]) {
	s.stateful = true
	s.ctx.mu.Lock()
	defer s.ctx.mu.Unlock()
	s.ctx.statefuls = append(s.ctx.statefuls, s)
}

// materializeAt computes the stream's RDD for batch time t fully, if it has
// one and it is not computed yet (it is persisted).
func (s *DStream[T]) materializeAt(ctx context.Context, t time.Time) error {
	s.mu.Lock()
	r := s.generated[t]
	s.mu.Unlock()
	if r == nil || r.Computed() {
		return nil
	}
	if s.store != nil {
		if err := s.store.begin(t); err != nil {
			return err
		}
	}
	if _, err := rdd.Count(ctx, r); err != nil {
		return err
	}
	if s.store != nil {
		return s.store.end(t)
	}
	return nil
}

// prepareAt builds the stream's RDD for batch time t, if it has one, as
// rddAt does (no job runs).
func (s *DStream[T]) prepareAt(ctx context.Context, t time.Time) error {
	_, err := s.rddAt(ctx, t)
	return err
}

// forget drops (and unpersists) the RDDs older than the stream must keep
// at batch time now: remember is the Context's remember duration.
func (s *DStream[T]) forget(now time.Time, remember time.Duration) {
	before := now.Add(-max(remember, s.keep))
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for ; i < len(s.times) && !s.times[i].After(before); i++ {
		if r := s.generated[s.times[i]]; r != nil {
			r.Unpersist()
		}
		delete(s.generated, s.times[i])
	}
	s.times = s.times[i:]
}

// Source is what an input stream reads batches from: the queue stream, the
// Kafka streams. The Context starts every source before the first batch and
// stops it after the last.
type Source[T any] interface {
	// Start prepares the source; ctx ends when Run ends.
	Start(ctx context.Context) error
	// Batch returns the RDD for batch time t and what it read (for metrics
	// and listeners). It is called once per batch, in time order. A nil RDD
	// with a nil error is a failure of the batch: a source with nothing to
	// read returns an empty RDD.
	Batch(ctx context.Context, t time.Time) (r *rdd.RDD[T], info InputInfo, err error)
	// Stop releases what Start took. It is called once, after the last
	// batch.
	Stop() error
}

// InputInfo is what an input read for one batch (Spark's StreamInputInfo).
type InputInfo struct {
	// Records is how many records the batch holds; -1 when the source
	// cannot tell.
	Records int64
	// Unavailable, when not nil, says why the input read nothing, or less
	// than there was to read, for this batch: the system it reads from was
	// unreachable or busy (brokers down, a consumer group rebalancing). The
	// batch runs with what was read; a source that stays unavailable for
	// longer than it allows fails a batch instead.
	Unavailable error
	// Partitions, for a source that reads a partitioned log (Kafka), is what the
	// batch reads of each partition it owns, in the order of the batch RDD's
	// partitions for a direct stream; nil for other sources.
	Partitions []PartitionInfo
}

// PartitionInfo is what a batch reads of one partition of a log: the offsets
// [From, Until), and where the log ended when the batch was planned, so that
// End - Until is the partition's lag after the batch.
type PartitionInfo struct {
	// Topic and Partition name the partition.
	Topic     string
	Partition int
	// From and Until bound the offsets the batch reads.
	From, Until int64
	// End is the log's end offset when the batch was planned (-1: unknown, for a
	// batch produced again from a checkpoint).
	End int64
	// RateLimit is the most records per second rate control let the batch read
	// from the partition (backpressure, MaxRatePerPartition), if it held the batch
	// back; 0: not limited.
	RateLimit float64
}

// Lag is how many records of the partition were left to read after the batch
// (0 when End is unknown).
func (p PartitionInfo) Lag() int64 {
	if p.End < 0 {
		return 0
	}
	return max(p.End-p.Until, 0)
}

// BatchCompleter is implemented by a Source that needs to know when each
// batch has been processed, with its delays: rate control (a PID rate
// estimator), offset bookkeeping. The Context calls BatchCompleted after
// the listeners' OnBatchCompleted (step 8 of "Order of a batch" in the package
// doc), in batch order, from the goroutine that processes batches, so it must
// not block.
type BatchCompleter interface {
	BatchCompleted(info BatchInfo)
}

// input is the untyped view of an input stream.
type input interface {
	start(ctx context.Context) error
	stop() error
	name() string
	completed(info BatchInfo)
	// prepare and commit call the source's PrepareBatch and CommitBatch, if it
	// has them, labelled for the profiler with the input's name (see LabelBatch).
	prepare(ctx context.Context, t time.Time) error
	commit(ctx context.Context, t time.Time) error
	info() *streamInfo
	// checkpointed returns the source's checkpoint methods, if it has them.
	checkpointed() (CheckpointedSource, bool)
	// sourceType names the source's type, for checkpoints.
	sourceType() string
	// generate computes the input's RDD for batch time t, so that every
	// input is read at every batch time, in time order, whether or not an
	// output needs it at that time. It returns what the batch read.
	generate(ctx context.Context, t time.Time) (InputInfo, error)
}

type sourceInput[T any] struct {
	s    *DStream[T]
	src  Source[T]
	read InputInfo // of the last batch read
}

func (in *sourceInput[T]) start(ctx context.Context) error { return in.src.Start(ctx) }
func (in *sourceInput[T]) stop() error                     { return in.src.Stop() }
func (in *sourceInput[T]) name() string                    { return in.s.String() }
func (in *sourceInput[T]) info() *streamInfo               { return in.s.info() }
func (in *sourceInput[T]) checkpointed() (CheckpointedSource, bool) {
	cs, ok := in.src.(CheckpointedSource)
	return cs, ok
}
func (in *sourceInput[T]) sourceType() string { return fmt.Sprintf("%T", in.src) }
func (in *sourceInput[T]) completed(info BatchInfo) {
	if bc, ok := in.src.(BatchCompleter); ok {
		bc.BatchCompleted(info)
	}
}
func (in *sourceInput[T]) prepare(ctx context.Context, t time.Time) error {
	if bp, ok := in.src.(BatchPreparer); ok {
		return as(ctx, batchLabel(t), in.name(), func(ctx context.Context) error { return bp.PrepareBatch(ctx, t) })
	}
	return nil
}
func (in *sourceInput[T]) commit(ctx context.Context, t time.Time) error {
	if bc, ok := in.src.(BatchCommitter); ok {
		return as(ctx, batchLabel(t), in.name(), func(ctx context.Context) error { return bc.CommitBatch(ctx, t) })
	}
	return nil
}
func (in *sourceInput[T]) generate(ctx context.Context, t time.Time) (InputInfo, error) {
	in.read = InputInfo{}
	_, err := in.s.rddAt(ctx, t)
	return in.read, err
}

// FromSource returns the input stream of src, named name (for example
// "kafka.DirectStream").
func FromSource[T any](c *Context, name string, src Source[T]) *DStream[T] {
	if c == nil {
		return orphan[T](name)
	}
	if src == nil {
		c.invalidf(name, "nil source")
		return newStream(c, name, func(context.Context, time.Time) (*rdd.RDD[T], error) {
			return nil, fmt.Errorf("%s: nil source", name)
		})
	}
	var last time.Time
	in := &sourceInput[T]{src: src}
	s := newStream(c, name, func(ctx context.Context, t time.Time) (*rdd.RDD[T], error) {
		// A source is read once per batch, in time order: a batch asked
		// for again after it was forgotten must not read the next data.
		if !t.After(last) {
			return nil, fmt.Errorf("%s: batch %v asked for after batch %v (it was forgotten too early)", name, errfmt.Time(t), errfmt.Time(last))
		}
		last = t
		r, info, err := src.Batch(ctx, t)
		in.read = info
		return r, err
	})
	in.s = s
	c.mu.Lock()
	c.inputs = append(c.inputs, in)
	c.mu.Unlock()
	return s
}
