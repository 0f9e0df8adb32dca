package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/rdd"
)

// DirectStream is a Kafka direct stream (Spark's createDirectStream): every batch, one
// offset range per assigned partition, read in parallel, one RDD partition per range.
//
// Stream gives the records as a plain DStream for transformations, which carry no
// offsets. The offset ranges of a batch, and committing them, are reachable only here,
// on the stream itself: ForeachBatch hands each batch with its ranges, and CommitAsync
// commits them — so code after a shuffle, where RDD partition i is no longer Kafka
// partition i, cannot ask for them by mistake.
type DirectStream[K, V any] struct {
	cfg      config
	strategy ConsumerStrategy
	keys     Deserializer[K]
	values   Deserializer[V]
	sctx     *dstream.Context
	stream   *dstream.DStream[Record[K, V]]

	// Set by start, used by the generator (Batch), the processing loop
	// (BatchCompleted, ForeachBatch) and the committer.
	cl      *Client
	asg     assigner
	commits *committer

	// Used by Start and then by the generator (Batch) only.
	out          outage    // while the stream cannot read
	missingSince time.Time // since when subscribed topics are missing; zero: none is

	mu      sync.Mutex
	pos     map[TopicPartition]int64 // the next offset to read, per partition read before
	est     *pidEstimator
	rate    float64 // the estimator's latest rate; 0: none yet
	batches int     // batches generated
	ranges  map[time.Time][]OffsetRange
	// planned is what the last batch planned saw of each partition: its end and
	// the rate limit applied, for the batch's InputInfo.
	planned map[TopicPartition]plannedPart
	gens    map[time.Time]groupGen // the generation each batch was planned in
	held    map[time.Time]int32    // the batches a generation waits for (member.hold)
	// reported is the last generation whose first processed batch was reported
	// to OnRebalance.
	reported int32
	// changes, set by Keyed under Subscribe, keeps the state of the stateful
	// streams over it in changelog topics.
	changes *changelogs
	// onStart are called by Start with every topic's partition count, before the
	// first batch (Keyed fixes its task count there).
	onStart []func(strategy ConsumerStrategy, all map[string]int, cl *Client) error

	// With checkpoints: every batch's ranges, until no checkpoint needs them, and
	// the ranges of the batches to produce again after a restart.
	log dstream.BatchLog[[]OffsetRange]
}

// NewDirectStream returns a direct stream on c reading the partitions strategy says,
// with keys and values deserialized by the given functions and configured by opts
// (Brokers is required). It starts nothing: the Context's Run connects, checks the
// brokers and joins the group; an invalid option value (reported to c), a bad
// argument or unreachable brokers make Run fail before the first batch.
func NewDirectStream[K, V any](c *dstream.Context, strategy ConsumerStrategy, keys Deserializer[K], values Deserializer[V], opts ...StreamOpt) *DirectStream[K, V] {
	cfg := newConfig(opts, StreamOpt.applyStream)
	errs := cfg.check()
	if _, fixed := strategy.(assign); fixed {
		for _, name := range cfg.groupOnly {
			errs = append(errs, fmt.Errorf("%s with Assign, which reads as no group's member: it applies to Subscribe and SubscribePattern", name))
		}
	}
	reportInvalid(c, "kafka.NewDirectStream", errs)
	return newDirectStream(c, strategy, keys, values, cfg)
}

// newDirectStream is NewDirectStream with its configuration checked.
func newDirectStream[K, V any](c *dstream.Context, strategy ConsumerStrategy, keys Deserializer[K], values Deserializer[V], cfg config) *DirectStream[K, V] {
	s := &DirectStream[K, V]{cfg: cfg, strategy: strategy, keys: keys, values: values, sctx: c,
		pos: map[TopicPartition]int64{}, ranges: map[time.Time][]OffsetRange{}, gens: map[time.Time]groupGen{}, held: map[time.Time]int32{},
		planned: map[TopicPartition]plannedPart{}}
	s.stream = dstream.FromSource(c, "kafka.DirectStream", dstream.Source[Record[K, V]](directSource[K, V]{s}))
	return s
}

// Stream returns the stream of records, for transformations and output operations.
// Narrow operators (Map, Filter, MapPartitions, …) keep RDD partition i = the batch's
// offset range i; shuffles (ReduceByKey, Repartition, windows, …) do not.
func (s *DirectStream[K, V]) Stream() *dstream.DStream[Record[K, V]] { return s.stream }

// Batch is one batch of a direct stream: its records and the offset range each RDD
// partition holds (Spark's HasOffsetRanges).
type Batch[K, V any] struct {
	// Time is the batch time.
	Time time.Time
	// RDD holds the batch's records: partition i holds exactly the records of
	// Ranges[i], in offset order.
	RDD *rdd.RDD[Record[K, V]]
	// Ranges are the batch's offset ranges, one per assigned partition, sorted by
	// topic and partition; a range may be empty.
	Ranges []OffsetRange
}

// ForeachBatch registers an output operation that gets every batch with its offset
// ranges, in batch order. This is where to write results and then store the offsets:
// CommitAsync(b.Ranges, …) to commit them to Kafka, or your own store in the same
// transaction as the results. An error fails the batch (and nothing later is
// committed).
func (s *DirectStream[K, V]) ForeachBatch(f func(ctx context.Context, b Batch[K, V]) error) {
	if f == nil {
		s.sctx.ReportInvalid("kafka.DirectStream.ForeachBatch", errors.New("nil function"))
		return
	}
	dstream.ForeachRDD(s.stream, func(ctx context.Context, r *rdd.RDD[Record[K, V]], t time.Time) error {
		s.mu.Lock()
		ranges, ok := s.ranges[t]
		s.mu.Unlock()
		if !ok {
			return fmt.Errorf("kafka.DirectStream: no offset ranges for batch %v", errfmt.Time(t))
		}
		return f(ctx, Batch[K, V]{Time: t, RDD: r, Ranges: ranges})
	})
}

// CommitAsync queues the until offsets of ranges for commit to Kafka under the group
// (Spark's CanCommitOffsets.commitAsync); call it after the batch's output. Commits are
// made in the order queued, by one goroutine; queued commits are merged, later offsets
// winning. A commit failing with a retriable error is retried; done, if not nil, gets
// the offsets committed and the final error. Offsets of partitions the group has
// since given to another member are not committed (done does not get them). A graceful
// stop commits everything queued before Run returns. A stream whose offsets go in its
// Context's transactions (Keyed with state over it, or a Transactional sink in the
// Context) commits them itself, with each batch: CommitAsync then commits nothing and
// done gets an error saying so.
func (s *DirectStream[K, V]) CommitAsync(ranges []OffsetRange, done func(offsets map[TopicPartition]int64, err error)) {
	s.mu.Lock()
	inTxn := s.changes != nil
	s.mu.Unlock()
	if inTxn {
		// A commit outside the transaction could land before the transaction
		// aborts, and skip the batch.
		if done != nil {
			done(nil, errors.New("kafka.DirectStream: CommitAsync on a stream whose offsets are committed in each batch's transaction (a keyed stream with changelogs, or a Context with a transactional sink)"))
		}
		return
	}
	offsets := make(map[TopicPartition]int64, len(ranges))
	for _, r := range ranges {
		tp := r.TopicPartition()
		offsets[tp] = max(offsets[tp], r.Until)
	}
	if len(offsets) == 0 { // an empty batch (the group was rebalancing): nothing to commit
		if done != nil {
			done(offsets, nil)
		}
		return
	}
	s.mu.Lock()
	c := s.commits
	s.mu.Unlock()
	if c == nil {
		if done != nil {
			done(nil, errors.New("kafka.DirectStream: CommitAsync while the stream is not running"))
		}
		return
	}
	c.add(offsets, done)
}

// LostRecords returns how many records were skipped because Kafka no longer had them
// (only with FailOnDataLoss(false)).
func (s *DirectStream[K, V]) LostRecords() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl == nil {
		return 0
	}
	return s.cl.LostRecords()
}

// directSource is the stream's dstream.Source, kept apart so that Batch and the other
// source methods are not part of DirectStream's API.
type directSource[K, V any] struct{ s *DirectStream[K, V] }

func (d directSource[K, V]) Start(ctx context.Context) error {
	s := d.s
	switch {
	case s.strategy == nil:
		return fmt.Errorf("kafka.DirectStream: %w: nil consumer strategy", dstream.ErrInvalid)
	case s.keys == nil || s.values == nil:
		return fmt.Errorf("kafka.DirectStream: %w: nil key or value deserializer", dstream.ErrInvalid)
	}
	s.cfg.instance = instanceOf(s.sctx)
	s.mu.Lock()
	if existingTxn(s.sctx) != nil { // a transactional sink: the offsets go in its transaction
		s.joinTxn(nil)
	}
	txn := s.changes != nil
	s.mu.Unlock()
	if dir := s.sctx.CheckpointDir(); txn && dir != "" {
		// Spark keeps a direct stream's offsets in checkpoints; Kafka Streams keeps
		// them in the group, as such a stream does: the two cannot both be where it
		// resumes.
		return fmt.Errorf("kafka.DirectStream %v: group %q commits the stream's offsets in Kafka transactions (with its keyed state's changelogs or a transactional sink's records) and resumes from them and from the changelogs: a checkpoint directory (%s) would restore other positions and replay batches the group has committed; run the Context without one (kafka.StateDir keeps local copies of the state)",
			s.strategy, s.cfg.groupID, dir)
	}
	cl := newClient(s.cfg)
	asg, err := s.strategy.newAssigner(cl)
	if err == nil {
		// Fail within a bounded time if no broker answers.
		var all map[string]int
		all, err = cl.partitions(ctx, nil)
		if _, sub := s.strategy.(subscribe); sub && err == nil {
			defer noteSourcePartitions(s.sctx, s.strategy.topicsIn(all), all)
		}
		s.mu.Lock()
		hooks := s.onStart
		s.mu.Unlock()
		for _, f := range hooks {
			if err == nil {
				err = f(s.strategy, all, cl)
			}
		}
		if err == nil && s.changes != nil {
			if err = s.changes.start(); err == nil {
				if m, ok := asg.(*member); ok {
					m.stable = s.changes.stableOffsets
				}
			}
		}
		if err == nil {
			if err = asg.start(ctx); err != nil && s.changes != nil {
				_ = s.changes.stop() // the start's failure is the error
			}
		}
	}
	if err != nil {
		cl.Close()
		return fmt.Errorf("kafka.DirectStream %v: %w", s.strategy, err)
	}
	if len(asg.missing()) > 0 {
		s.missingSince = s.sctx.Clock().Now()
	}
	s.mu.Lock()
	s.cl, s.asg = cl, asg
	s.commits = newCommitter(asg, s.cfg)
	if s.cfg.backpressure {
		s.est = newPIDEstimator(s.sctx.BatchInterval(), s.cfg.pid)
	}
	s.mu.Unlock()
	s.commits.start(ctx)
	return nil
}

// Stop commits what is queued, leaves the group and closes the connections.
func (d directSource[K, V]) Stop() error {
	s := d.s
	s.mu.Lock()
	c, asg, cl := s.commits, s.asg, s.cl
	s.commits = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	c.stop()
	asg.stop()
	var cerr error
	if s.changes != nil {
		s.changes.saveAll()
		cerr = s.changes.stop()
	}
	return errors.Join(cl.Close(), cerr)
}

// PrepareBatch moves the state of the tasks batch t gained or lost (Keyed under
// Subscribe, with stateful streams over it): see changelogs.
func (d directSource[K, V]) PrepareBatch(ctx context.Context, t time.Time) error {
	if d.s.changes == nil {
		return nil
	}
	return d.s.changes.prepare(ctx, t)
}

// CommitBatch commits batch t's state changes and offsets in one transaction (Keyed
// under Subscribe, with stateful streams over it): see changelogs.
func (d directSource[K, V]) CommitBatch(ctx context.Context, t time.Time) error {
	if d.s.changes == nil {
		return nil
	}
	return d.s.changes.commit(ctx, t)
}

// BatchCompleted feeds the rate estimator and forgets the ranges of completed batches.
func (d directSource[K, V]) BatchCompleted(info dstream.BatchInfo) {
	s := d.s
	var report *RebalanceInfo // told once s.mu is released
	defer func() {
		if report != nil {
			s.cfg.onRebalance(*report)
		}
	}()
	if s.changes != nil {
		s.changes.completed(info)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []TopicPartition // of the batch completed
	for _, r := range s.ranges[info.Time] {
		parts = append(parts, r.TopicPartition())
	}
	for t := range s.ranges {
		if !t.After(info.Time) {
			delete(s.ranges, t)
			delete(s.gens, t)
		}
	}
	for t, id := range s.held {
		if !t.After(info.Time) {
			delete(s.held, t)
			m := s.asg.(*member)
			m.release(id)
			if t.Equal(info.Time) && id != s.reported && info.Err == nil {
				s.reported = id
				if ended := m.endedAt(); !ended.IsZero() && s.cfg.onRebalance != nil {
					report = &RebalanceInfo{Group: s.cfg.groupID, Generation: id, Partitions: parts, Pause: time.Since(ended)}
				}
			}
		}
	}
	if info.Err != nil {
		return
	}
	if s.est != nil {
		if rate, ok := s.est.compute(info.ProcessingEnd, info.Inputs[s.stream.String()].Records, info.ProcessingDelay(), info.SchedulingDelay()); ok {
			s.rate = rate
			s.cfg.logger.Debug("kafka: backpressure rate", "stream", s.stream.String(), "records_per_second", rate)
		}
	}
}

// directCheckpoint is a direct stream's checkpoint: the ranges of the batches a
// restart may produce again, and where each partition goes on.
type directCheckpoint struct {
	Times  []time.Time
	Ranges [][]OffsetRange
	Next   []OffsetRange // From: the next offset to read (Until unused)
}

// Checkpoint returns the ranges of the batches from time from on and the stream's
// positions after them.
func (d directSource[K, V]) Checkpoint(from time.Time) ([]byte, error) {
	s := d.s
	var cp directCheckpoint
	// Under mu, which plan holds to move the positions and record the batch: the
	// positions saved are just past the last batch saved.
	s.mu.Lock()
	defer s.mu.Unlock()
	cp.Times, cp.Ranges = s.log.Saved(from)
	for tp, off := range s.pos {
		cp.Next = append(cp.Next, OffsetRange{Topic: tp.Topic, Partition: tp.Partition, From: off})
	}
	return checkpoint.Encode(cp)
}

// Restore takes back a checkpoint's ranges and positions, before Start.
func (d directSource[K, V]) Restore(data []byte) error {
	s := d.s
	var cp directCheckpoint
	if err := checkpoint.Decode(data, &cp); err != nil {
		return err
	}
	if err := s.log.Restore(cp.Times, cp.Ranges); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range cp.Next {
		s.pos[n.TopicPartition()] = n.From
	}
	s.batches = max(s.batches, 1)
	return nil
}

// Batch plans the batch at t: one range per assigned partition, from where the last
// batch ended to the partition's end, capped by rate control. When the stream cannot
// read, the batch has no ranges and its InputInfo says why, until UnavailableTimeout.
func (d directSource[K, V]) Batch(ctx context.Context, t time.Time) (*rdd.RDD[Record[K, V]], dstream.InputInfo, error) {
	s := d.s
	stop := s.sctx.Stopping()
	var info dstream.InputInfo
	ranges, again := s.log.Again(t)
	if !again { // else a batch of before a restart, produced again from the checkpoint
		var err error
		if ranges, info.Unavailable, err = s.next(ctx, stop, t); err != nil {
			return nil, dstream.InputInfo{}, err
		}
	}
	s.mu.Lock()
	info.Partitions = make([]dstream.PartitionInfo, len(ranges))
	for i, r := range ranges {
		info.Records += r.Count()
		pl, known := s.planned[r.TopicPartition()]
		if again || !known {
			pl = plannedPart{end: -1}
		}
		info.Partitions[i] = dstream.PartitionInfo{Topic: r.Topic, Partition: r.Partition, From: r.From, Until: r.Until, End: pl.end, RateLimit: pl.limit}
	}
	s.ranges[t] = ranges
	s.mu.Unlock()
	r := rdd.Generate(s.sctx.Engine(), "kafka.DirectStream", len(ranges), func(ctx context.Context, p int, yield func(Record[K, V]) bool) error {
		return readRecords(ctx, s.cl, stop, ranges[p], s.keys, s.values, nil, yield)
	})
	return r, info, nil
}

// next plans the batch at t. When the stream cannot read (the group has no
// assignment, the offset lookup fails with a retriable error), the batch has no
// ranges and unavailable says why; the positions stay where they are, so nothing is
// skipped. Once that has lasted UnavailableTimeout, or topics have been missing for
// MissingTopicTimeout, err fails the batch.
func (s *DirectStream[K, V]) next(ctx context.Context, stop <-chan struct{}, t time.Time) (ranges []OffsetRange, unavailable, err error) {
	now := s.sctx.Clock().Now()
	missing, err := s.missingTopics(t, now)
	if err != nil {
		return nil, nil, err
	}
	asg, why := s.asg.current()
	if perm := (*permanentError)(nil); errors.As(why, &perm) {
		return nil, nil, fmt.Errorf("kafka.DirectStream %v: batch %v: %w", s.strategy, errfmt.Time(t), perm.error)
	}
	// With changelogs, a batch's commit names its generation: the generation
	// waits for it before it ends (member.drain).
	m, holding := s.asg.(*member)
	holding = holding && s.changes != nil && why == nil
	if holding && !m.hold(asg.gen.id) {
		holding, why = false, errors.New("the group is rebalancing")
	}
	defer func() {
		if holding {
			if err == nil && len(ranges) > 0 {
				s.mu.Lock()
				s.held[t] = asg.gen.id
				s.mu.Unlock()
			} else {
				m.release(asg.gen.id)
			}
		}
	}()
	if why == nil {
		why = s.out.waiting(now) // backing off after a failed lookup
	}
	if why == nil {
		bound := s.cfg.pollTimeout
		if s.out.down() {
			bound = 0 // one attempt a batch (with backoff) until it can read again
		}
		b, err := s.cl.offsetsWithin(ctx, stop, asg.parts, bound)
		switch {
		case err == nil:
			if ranges, err = s.plan(t, asg, b); err != nil {
				return nil, nil, err
			}
			s.mu.Lock()
			s.gens[t] = asg.gen
			s.mu.Unlock()
			if lasted, n := s.out.readable(now); n > 0 {
				s.cfg.logger.Info("kafka: reading again", "stream", s.stream.String(), "batch", t, "unavailable_for", lasted, "empty_batches", n)
			}
			return ranges, missing, nil
		case ctx.Err() != nil || !retriable(err):
			return nil, nil, fmt.Errorf("kafka.DirectStream %v: batch %v: %w", s.strategy, errfmt.Time(t), err)
		}
		s.out.lookupFailed(now, err)
		why = err
	}
	lasted, first := s.out.unreadable(now)
	parts := any(asg.parts)
	if len(asg.parts) == 0 {
		parts = s.strategy.String()
	}
	if lasted >= s.cfg.unavailable {
		return nil, nil, fmt.Errorf("kafka.DirectStream %v: batch %v: %w: nothing could be read for %v (UnavailableTimeout %v) from brokers %v, partitions %v: %w",
			s.strategy, errfmt.Time(t), ErrUnavailable, lasted, s.cfg.unavailable, s.cfg.brokers, parts, why)
	}
	if s.out.warn.allow(now) {
		msg := "kafka: cannot read: batches read nothing (positions unchanged) until it can"
		if !first {
			msg = "kafka: still cannot read"
		}
		s.cfg.logger.Warn(msg, "stream", s.stream.String(), "batch", t, "unavailable_for", lasted, "fails_after", s.cfg.unavailable,
			"brokers", s.cfg.brokers, "partitions", parts, "error", why)
	}
	s.mu.Lock()
	if s.sctx.CheckpointDir() != "" {
		s.log.Record(t, nil) // an empty batch: a restart produces it empty again
	}
	s.mu.Unlock()
	return nil, why, nil
}

// missingTopics returns an error naming the subscribed topics that do not exist, if
// any, for the batch's InputInfo; err fails the batch once they have been missing for
// MissingTopicTimeout (unless WaitForTopics).
func (s *DirectStream[K, V]) missingTopics(t, now time.Time) (missing, err error) {
	absent := s.asg.missing()
	if len(absent) == 0 {
		s.missingSince = time.Time{}
		return nil, nil
	}
	if s.missingSince.IsZero() {
		s.missingSince = now
	}
	missing = fmt.Errorf("%w: %v (brokers %v)", ErrMissingTopic, absent, s.cfg.brokers)
	if lasted := now.Sub(s.missingSince); !s.cfg.waitForTopics && lasted >= s.cfg.missingTopics {
		return nil, fmt.Errorf("kafka.DirectStream %v: batch %v: %w for %v (MissingTopicTimeout %v): create them, or set WaitForTopics(true) to wait for them",
			s.strategy, errfmt.Time(t), missing, lasted, s.cfg.missingTopics)
	}
	return missing, nil
}

// plan computes the batch's ranges from the partitions' bounds and moves the
// positions to their ends.
func (s *DirectStream[K, V]) plan(t time.Time, asg assignment, bounds map[TopicPartition]bounds) ([]OffsetRange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp := range s.pos {
		if !slices.Contains(asg.parts, tp) {
			delete(s.pos, tp) // given to another member: its committed offset rules if it comes back
		}
	}
	from := make(map[TopicPartition]int64, len(asg.parts))
	lag := make(map[TopicPartition]int64, len(asg.parts))
	maxRate := make(map[TopicPartition]float64, len(asg.parts))
	for _, tp := range asg.parts {
		b := bounds[tp]
		off, known := s.pos[tp]
		if !known {
			if off, known = asg.start[tp]; !known {
				switch s.cfg.reset {
				case Earliest:
					off = b.first
				case Latest: // fixed at start or at the assignment; here only if that was skipped
					off = b.end
				default:
					return nil, fmt.Errorf("kafka.DirectStream: batch %v: %v has no committed offset and OffsetReset is none", errfmt.Time(t), tp)
				}
			}
		}
		switch {
		case off < b.first:
			if err := s.cl.lose(tp, off, b.first, fmt.Sprintf("planning batch %v", errfmt.Time(t))); err != nil {
				return nil, err
			}
			off = b.first
		case off > b.end:
			if s.cfg.failOnDataLoss {
				return nil, fmt.Errorf("kafka.DirectStream: %w", &DataLossError{Topic: tp.Topic, Partition: tp.Partition, From: off, Until: b.end, While: fmt.Sprintf("planning batch %v", errfmt.Time(t))})
			}
			s.cfg.logger.Warn("kafka: position past the partition's end: starting again at its end", "partition", tp.String(), "position", off, "end", b.end)
			off = b.end
		}
		r, err := s.cfg.maxRateOf(tp)
		if err != nil {
			return nil, fmt.Errorf("kafka.DirectStream: batch %v: %w", errfmt.Time(t), err)
		}
		from[tp], lag[tp], maxRate[tp] = off, b.end-off, r
	}
	rate := s.rate
	if rate <= 0 && (s.batches == 0 || s.est != nil) {
		rate = s.cfg.initialRate
	}
	limit := limits(lag, rate, maxRate, s.cfg.minRate, s.sctx.BatchInterval())
	ranges := make([]OffsetRange, 0, len(asg.parts))
	clear(s.planned)
	for _, tp := range asg.parts {
		until := bounds[tp].end
		pl := plannedPart{end: until}
		if l, capped := limit[tp]; capped {
			until = min(until, from[tp]+l)
			if until < pl.end { // the limit held the batch back
				pl.limit = float64(l) / s.sctx.BatchInterval().Seconds()
			}
		}
		s.planned[tp] = pl
		ranges = append(ranges, OffsetRange{Topic: tp.Topic, Partition: tp.Partition, From: from[tp], Until: until})
		s.pos[tp] = until
	}
	if s.sctx.CheckpointDir() != "" {
		s.log.Record(t, ranges) // with the positions it moved, under mu
	}
	s.batches++
	return ranges, nil
}

// plannedPart is what planning a batch saw of a partition: the log's end, and the
// rate limit (records per second) that held the batch back, 0 if none.
type plannedPart struct {
	end   int64
	limit float64
}

// readRecords reads range r and yields its records deserialized. check, if not nil,
// is asked about each record first; its error fails the read.
func readRecords[K, V any](ctx context.Context, cl *Client, stop <-chan struct{}, r OffsetRange, keys Deserializer[K], values Deserializer[V],
	check func(*raw) error, yield func(Record[K, V]) bool) error {
	var decodeErr error
	err := cl.read(ctx, stop, r, func(raw *raw) bool {
		if check != nil {
			if decodeErr = check(raw); decodeErr != nil {
				return false
			}
		}
		rec, ok, err := decode(&cl.cfg, r, raw, keys, values)
		if err != nil {
			decodeErr = err
			return false
		}
		return !ok || yield(rec)
	})
	if decodeErr != nil {
		return decodeErr
	}
	return err
}

// decode deserializes a fetched record; ok is false when the error handler chose to
// skip it.
func decode[K, V any](cfg *config, r OffsetRange, raw *raw, keys Deserializer[K], values Deserializer[V]) (rec Record[K, V], ok bool, err error) {
	rec = Record[K, V]{Topic: r.Topic, Partition: r.Partition, Offset: raw.offset, Timestamp: raw.time}
	if len(raw.headers) > 0 {
		rec.Headers = make([]Header, len(raw.headers))
		for i, h := range raw.headers {
			rec.Headers[i] = Header{Key: h.Key, Value: slices.Clone(h.Value)}
		}
	}
	what := "key"
	rec.Key, err = keys(r.Topic, raw.key)
	if err == nil {
		what = "value"
		rec.Value, err = values(r.Topic, raw.value)
	}
	if err == nil {
		return rec, true, nil
	}
	err = fmt.Errorf("kafka: deserializing the %s of %s/%d offset %d: %w", what, r.Topic, r.Partition, raw.offset, err)
	if cfg.onBadRecord == nil {
		return rec, false, err
	}
	bad := Record[[]byte, []byte]{Topic: r.Topic, Partition: r.Partition, Offset: raw.offset, Timestamp: raw.time,
		Headers: rec.Headers, Key: slices.Clone(raw.key), Value: slices.Clone(raw.value)}
	if herr := cfg.onBadRecord(bad, err); herr != nil {
		return rec, false, herr
	}
	return rec, false, nil
}
