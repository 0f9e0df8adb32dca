package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/errfmt"
	"github.com/spatedev/spate/rdd"
)

// Storage says how a receiver stream keeps the blocks it received until their batch
// is processed.
type Storage int

const (
	// StoreValues keeps the received records as Go values (the default without a
	// write-ahead log).
	StoreValues Storage = iota
	// StoreSerialized keeps each block msgpack-encoded, which takes less memory, under
	// the memory budget (the only storage with a write-ahead log, whose encoded
	// record it is: blocks are not kept twice).
	StoreSerialized
)

// receiverConfig holds the options of receiver streams only.
type receiverConfig struct {
	blockInterval time.Duration
	storage       Storage
	storageSet    bool // BlockStorage was given
	budget        int64
}

// BlockInterval sets how often a receiver stream cuts the records received into a
// block; a batch's RDD has one partition per block (Spark's
// spark.streaming.blockInterval). It takes a duration > 0. Default: 200ms. When the
// cutting falls behind (a starved process), it cuts once for the block times it
// missed; Spark's block generator cuts once per missed block time, back to back,
// which only adds small blocks.
func BlockInterval(d time.Duration) ReceiverOpt {
	return receiverOnly(func(c *config) {
		c.recv.blockInterval = d
		c.positive("BlockInterval", d)
	})
}

// BlockStorage sets how a receiver stream keeps its blocks until they are processed:
// StoreValues or StoreSerialized (any other value is an error). With a write-ahead
// log (a Context with a checkpoint directory) only StoreSerialized is possible, and
// StoreValues is an error. Default: StoreValues, or StoreSerialized with a
// write-ahead log.
func BlockStorage(s Storage) ReceiverOpt {
	return receiverOnly(func(c *config) {
		c.recv.storage, c.recv.storageSet = s, true
		if s != StoreValues && s != StoreSerialized {
			c.invalid("BlockStorage", s, "StoreValues or StoreSerialized")
		}
	})
}

// MemoryBudget caps the bytes of received blocks a receiver stream holds before their
// batch has taken them: when it is reached, the receivers stop fetching until batches
// catch up. It takes a size > 0. Default: 256 MiB.
func MemoryBudget(bytes int64) ReceiverOpt {
	return receiverOnly(func(c *config) {
		c.recv.budget = bytes
		if bytes <= 0 {
			c.invalid("MemoryBudget", bytes, "> 0 bytes")
		}
	})
}

// ReceiverStream is Spark's receiver-based Kafka stream (KafkaUtils.createStream):
// receivers fetch records continuously from the partitions the consumer group assigns
// to the stream and cut them into blocks every BlockInterval; each batch takes the
// blocks received since the last one, one RDD partition per block. The group owns the
// partition assignment and the offsets: a block's offsets are committed once it is in
// the write-ahead log or, without one, once a batch takes it.
//
// The stream is one member of its group, whatever the number of receivers (as a Spark
// receiver is one consumer with several threads). With a checkpoint directory, the
// member's client id is kept in it (the ClientID and a random suffix): started again
// after a crash, the stream first removes from the group the members its previous run
// left, instead of waiting, as a new member would, for their session to time out.
// Stop leaves the group.
//
// Without a write-ahead log, a block is stored in memory only: a crash loses the blocks
// that batches took (and committed) but did not finish, as in Spark; the blocks no
// batch took yet were not committed, and the group gives them again. With the Context
// checkpointing (dstream.CheckpointDir), each block is appended to a write-ahead log
// in the checkpoint directory, and fsynced, before its offsets are committed; a
// restart replays the logged blocks not yet processed, and the log is truncated once
// the batches that read them are complete and their checkpoint is durable: a crash
// loses nothing.
//
// Commits are asynchronous and a failed one is retried with the next block; until a
// commit succeeds, a restart or a rebalance gives the records again (at least once),
// so a failed commit is only logged. What keeps the stream from receiving — brokers
// unreachable, a group rebalancing, a write-ahead log that cannot be written (a full
// disk) — is retried: meanwhile each batch says so in its
// dstream.InputInfo.Unavailable, and once it has lasted UnavailableTimeout the next
// batch fails with an error naming it.
type ReceiverStream[K, V any] struct {
	cfg    config
	topics map[string]int
	keys   Deserializer[K]
	values Deserializer[V]
	sctx   *dstream.Context
	stream *dstream.DStream[Record[K, V]]

	cl     *Client // metadata, offsets, fetches and commits
	member string  // the client id of the stream's group member, with a checkpoint directory
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cutMu        sync.Mutex // one cut at a time
	commitMu     sync.Mutex // one commit at a time, and commitWarned
	commitWarned time.Time  // when a failed commit was last logged
	commits      chan struct{}

	mu      sync.Mutex
	space   *sync.Cond    // signalled when stored blocks are taken, or a generation ends
	changed chan struct{} // closed and replaced at every change of what the stream holds
	current []wireRecord  // received, not yet in a block
	stored  []*block
	bytes   int64 // of the stored blocks and the current records
	nextSeq uint64
	wal     *checkpoint.WAL
	keep    uint64            // the oldest block the last checkpoint needs; 0: none taken yet
	logged  map[uint64]*block // blocks replayed from the log, by sequence number
	// With checkpoints: the blocks of every batch, while checkpoints need them, and
	// of the batches to produce again after a restart.
	log     dstream.BatchLog[blockRange]
	gen     *generation              // the group generation the receivers read in; nil between generations
	pos     map[TopicPartition]int64 // next offset to receive of the partitions assigned in gen
	pending map[TopicPartition]int64 // offset to commit of the partitions with stored blocks not yet committed
	outages map[string]*recvOutage   // what keeps the stream from receiving, by what it cannot do
	failed  error                    // the stream cannot go on: the next batch fails with it
}

// blockRange is the blocks [From, Until) of a batch, by sequence number.
type blockRange struct{ From, Until uint64 }

// block is a cut of received records.
type block struct {
	seq     uint64
	recs    []wireRecord // StoreValues
	data    []byte       // StoreSerialized: msgpack of recs
	n       int
	bytes   int64
	offsets map[TopicPartition]int64 // the offset to commit after it, of each partition it has records of
}

// wireRecord is a received record before deserialization, as blocks keep and log it.
type wireRecord struct {
	Topic     string
	Partition int
	Offset    int64
	Time      time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// size is what a record counts for in the memory budget before it is in a block.
func (r *wireRecord) size() int64 { return int64(len(r.Key) + len(r.Value) + 64) }

// NewReceiverStream returns a receiver stream on c (Spark's createStream): topics maps
// each topic to its number of receivers, the goroutines that fetch the topic's
// partitions assigned to the stream (dealt to them in turn). As in the seeds, more
// receivers for a topic only means more goroutines receiving in this stream, not more
// parallelism in processing: for that, union several receiver streams
// (dstream.Union). Brokers replace Spark's ZooKeeper quorum (the group protocol needs
// no ZooKeeper); Brokers and GroupID are required. Keys and values are deserialized
// when a batch reads its blocks. It starts nothing: Run starts the receivers. An
// invalid option value is reported to c (dstream.Context.ReportInvalid): Run fails
// before the first batch, naming it.
func NewReceiverStream[K, V any](c *dstream.Context, topics map[string]int, keys Deserializer[K], values Deserializer[V], opts ...ReceiverOpt) *ReceiverStream[K, V] {
	cfg := newConfig(opts, ReceiverOpt.applyReceiver)
	errs := cfg.check()
	if cfg.groupID == "" {
		errs = append(errs, errors.New("no consumer group (set GroupID)"))
	}
	if c != nil && c.CheckpointDir() != "" && cfg.recv.storageSet && cfg.recv.storage != StoreSerialized {
		errs = append(errs, fmt.Errorf("BlockStorage(%v) with a write-ahead log (the Context has a checkpoint directory), want StoreSerialized", cfg.recv.storage))
	}
	reportInvalid(c, "kafka.NewReceiverStream", errs)
	s := &ReceiverStream[K, V]{cfg: cfg, topics: maps.Clone(topics), keys: keys, values: values, sctx: c,
		logged: map[uint64]*block{}, nextSeq: 1, changed: make(chan struct{}), commits: make(chan struct{}, 1),
		pos: map[TopicPartition]int64{}, pending: map[TopicPartition]int64{}, outages: map[string]*recvOutage{}}
	s.space = sync.NewCond(&s.mu)
	s.stream = dstream.FromSource(c, "kafka.ReceiverStream", dstream.Source[Record[K, V]](receiverSource[K, V]{s}))
	return s
}

// Stream returns the stream of received records.
func (s *ReceiverStream[K, V]) Stream() *dstream.DStream[Record[K, V]] { return s.stream }

// receiverSource is the stream's dstream.Source.
type receiverSource[K, V any] struct{ s *ReceiverStream[K, V] }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// walDir is where the stream's write-ahead log lives in the checkpoint directory.
func (s *ReceiverStream[K, V]) walDir() string {
	return s.sctx.CheckpointDir() + "/receivers/" + unsafeName.ReplaceAllString(s.cfg.groupID+"-"+strings.Join(s.topicList(), "-"), "_")
}

// walWhat is the outage of a write-ahead log that cannot be written.
func (s *ReceiverStream[K, V]) walWhat() string {
	return "log received records in the write-ahead log " + s.walDir()
}

// topicList returns the stream's topics, sorted.
func (s *ReceiverStream[K, V]) topicList() []string { return slices.Sorted(maps.Keys(s.topics)) }

func (d receiverSource[K, V]) Start(ctx context.Context) (err error) {
	s := d.s
	switch {
	case len(s.topics) == 0:
		return fmt.Errorf("kafka.ReceiverStream: %w: no topics", dstream.ErrInvalid)
	case s.keys == nil || s.values == nil:
		return fmt.Errorf("kafka.ReceiverStream: %w: nil key or value deserializer", dstream.ErrInvalid)
	}
	for t, n := range s.topics {
		if n < 1 {
			return fmt.Errorf("kafka.ReceiverStream: %w: %d receivers for topic %q, want at least 1", dstream.ErrInvalid, n, t)
		}
	}
	cl := newClient(s.cfg)
	defer func() {
		if err != nil {
			cl.Close()
		}
	}()
	// Fail early, within a bounded time, if no broker answers or a topic is missing.
	topics, err := cl.partitions(ctx, nil)
	if err != nil {
		return fmt.Errorf("kafka.ReceiverStream: %w", err)
	}
	for _, t := range s.topicList() {
		if _, ok := topics[t]; !ok {
			return fmt.Errorf("kafka.ReceiverStream: no topic %q (brokers %v)", t, s.cfg.brokers)
		}
	}
	if s.sctx.CheckpointDir() != "" {
		s.cfg.recv.storage = StoreSerialized
		if err := s.openWAL(); err != nil {
			return err
		}
	}
	s.cl = cl
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() { s.runGroup(ctx) })
	s.wg.Go(func() { s.commitLoop(ctx) })
	s.wg.Go(func() { s.cutBlocks(ctx) })
	return nil
}

// openWAL opens the write-ahead log and takes back the blocks it holds: those a
// restored batch reads, and the others, received but not yet in a batch, which the
// next batch takes. It also reads (or makes) the client id of the stream's group
// member.
func (s *ReceiverStream[K, V]) openWAL() error {
	wal, err := checkpoint.OpenWAL(s.walDir(), checkpoint.WithLogger(s.cfg.logger))
	if err != nil {
		return fmt.Errorf("kafka.ReceiverStream: %w", err)
	}
	member, err := memberClientID(s.walDir(), s.cfg.clientID)
	if err != nil {
		wal.Close()
		return fmt.Errorf("kafka.ReceiverStream: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var allocated uint64
	for _, r := range s.log.Restored() {
		allocated = max(allocated, r.Until)
	}
	err = wal.Replay(func(seq uint64, data []byte) error {
		var recs []wireRecord
		if err := checkpoint.Decode(data, &recs); err != nil {
			return fmt.Errorf("block %d: %w", seq, err)
		}
		b := &block{seq: seq, data: data, n: len(recs), bytes: int64(len(data))}
		if seq < allocated {
			s.logged[seq] = b
		} else {
			s.stored = append(s.stored, b)
			s.bytes += b.bytes
		}
		s.nextSeq = seq + 1
		return nil
	})
	if err != nil {
		wal.Close()
		return fmt.Errorf("kafka.ReceiverStream: replaying the write-ahead log: %w", err)
	}
	s.wal, s.member = wal, member
	if n := len(s.stored) + len(s.logged); n > 0 {
		s.cfg.logger.Info("kafka: receiver stream replays blocks from its write-ahead log", "blocks", n, "dir", s.walDir())
	}
	return nil
}

// notifyLocked tells whoever waits on s.changed that the stream changed. s.mu is held.
func (s *ReceiverStream[K, V]) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wake wakes the receivers waiting for room in the memory budget, to see that their
// generation ended.
func (s *ReceiverStream[K, V]) wake() {
	s.mu.Lock()
	s.space.Broadcast()
	s.mu.Unlock()
}

// cutBlocks cuts a block every block interval, on the Context's clock. A cutter that
// falls behind (its goroutine starved, the clock jumped) cuts once, for every block
// time passed, and waits for the next block time after now, as a time.Ticker drops
// the ticks its reader missed: cutting once per block time missed, back to back,
// would split the records arriving meanwhile into more blocks (RDD partitions) than
// one per block interval.
func (s *ReceiverStream[K, V]) cutBlocks(ctx context.Context) {
	clock, every := s.sctx.Clock(), s.cfg.recv.blockInterval
	next := clock.Now()
	for {
		next = next.Add(every)
		if behind := clock.Now().Sub(next); behind >= 0 {
			next = next.Add((behind/every + 1) * every) // the first block time after now
		}
		if err := clock.WaitUntil(ctx, next); err != nil {
			return
		}
		s.cut()
	}
}

// cut makes a block of the records received so far: logs it (with a write-ahead log),
// stores it for the next batch, and has its offsets committed (with a write-ahead log;
// without one, the batch that takes it does). A block that cannot be
// logged is kept as current records and tried again at the next cut; the failure is
// an outage of the stream (see failing).
func (s *ReceiverStream[K, V]) cut() {
	s.cutMu.Lock()
	defer s.cutMu.Unlock()
	s.mu.Lock()
	recs := s.current
	s.current = nil
	s.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	size := int64(0)
	for i := range recs {
		size += recs[i].size()
	}
	putBack := func() {
		s.mu.Lock()
		s.current = append(recs, s.current...)
		s.mu.Unlock()
	}
	b := &block{recs: recs, n: len(recs), bytes: size, offsets: map[TopicPartition]int64{}}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		b.offsets[tp] = max(b.offsets[tp], r.Offset+1)
	}
	if s.cfg.recv.storage == StoreSerialized {
		data, err := checkpoint.Encode(recs)
		if err != nil { // records of bytes and strings always encode: a bug
			putBack()
			s.fail(fmt.Errorf("kafka.ReceiverStream: encoding a block of %d records: %w", len(recs), err))
			return
		}
		b.data, b.recs, b.bytes = data, nil, int64(len(data))
	}
	if s.wal != nil {
		what := s.walWhat()
		seq, err := s.wal.Append(b.data) // durable before the offsets are committed
		if err != nil {
			putBack()
			s.failing(what, fmt.Errorf("logging a block of %d records: %w", len(recs), err), true)
			// The log refuses appends after a failed write: make it take them again
			// once the cause is gone (space freed), for the next cut.
			if rerr := s.wal.Repair(); rerr != nil {
				s.cfg.logger.Debug("kafka: the write-ahead log cannot be repaired yet", "dir", s.walDir(), "error", rerr)
			}
			return
		}
		s.recovered(what)
		b.seq = seq
	}
	s.mu.Lock()
	if s.wal == nil {
		b.seq = s.nextSeq
	}
	s.nextSeq = b.seq + 1
	s.bytes += b.bytes - size
	s.stored = append(s.stored, b)
	if s.wal != nil { // logged: it may be committed
		s.toCommitLocked(b)
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// toCommitLocked has b's offsets committed. s.mu is held.
func (s *ReceiverStream[K, V]) toCommitLocked(b *block) {
	for tp, off := range b.offsets {
		s.pending[tp] = max(s.pending[tp], off)
	}
	select {
	case s.commits <- struct{}{}:
	default: // a commit is already due
	}
}

// Batch takes the blocks stored since the last batch (cutting the records received
// so far into one first), or after a restart the blocks of the batch recorded for t.
func (d receiverSource[K, V]) Batch(ctx context.Context, t time.Time) (*rdd.RDD[Record[K, V]], dstream.InputInfo, error) {
	s := d.s
	s.cut()
	s.mu.Lock()
	unavailable, err := s.availabilityLocked()
	if err != nil {
		s.mu.Unlock()
		return nil, dstream.InputInfo{}, err
	}
	var blocks []*block
	if r, ok := s.log.Again(t); ok {
		for seq := r.From; seq < r.Until; seq++ {
			b, ok := s.logged[seq]
			if !ok {
				s.mu.Unlock()
				return nil, dstream.InputInfo{}, fmt.Errorf("kafka.ReceiverStream: batch %v: block %d is not in the write-ahead log %s", errfmt.Time(t), seq, s.walDir())
			}
			delete(s.logged, seq)
			blocks = append(blocks, b)
		}
	} else {
		blocks, s.stored = s.stored, nil
		for _, b := range blocks {
			s.bytes -= b.bytes
			if s.wal == nil { // in memory only: committed once a batch takes it
				s.toCommitLocked(b)
			}
		}
		s.space.Broadcast()
		if s.sctx.CheckpointDir() != "" && len(blocks) > 0 {
			// Under mu with the blocks leaving stored: a checkpoint sees them in one
			// place or the other.
			s.log.Record(t, blockRange{From: blocks[0].seq, Until: blocks[len(blocks)-1].seq + 1})
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	records := int64(0)
	for _, b := range blocks {
		records += int64(b.n)
	}
	r := rdd.Generate(s.sctx.Engine(), "kafka.ReceiverStream", len(blocks), func(ctx context.Context, p int, yield func(Record[K, V]) bool) error {
		return s.readBlock(blocks[p], yield)
	})
	return r, dstream.InputInfo{Records: records, Unavailable: unavailable}, nil
}

// readBlock yields a block's records, deserialized.
func (s *ReceiverStream[K, V]) readBlock(b *block, yield func(Record[K, V]) bool) error {
	recs := b.recs
	if b.data != nil {
		if err := checkpoint.Decode(b.data, &recs); err != nil {
			return fmt.Errorf("kafka.ReceiverStream: decoding block %d: %w", b.seq, err)
		}
	}
	for _, w := range recs {
		r := raw{offset: w.Offset, time: w.Time, key: w.Key, value: w.Value, headers: w.Headers}
		rec, ok, err := decode(&s.cfg, OffsetRange{Topic: w.Topic, Partition: w.Partition}, &r, s.keys, s.values)
		if err != nil {
			return err
		}
		if ok && !yield(rec) {
			return nil
		}
	}
	return nil
}

// Stop stops the receivers, commits the offsets of the blocks stored, leaves the group
// and closes the log. Records received but not yet in a block were not committed: the
// group gives them again. If the write-ahead log could not take them, Stop says so.
func (d receiverSource[K, V]) Stop() error {
	s := d.s
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.wake()
	s.wg.Wait()
	var errs []error
	s.mu.Lock()
	unlogged := len(s.current)
	walOutage := s.outages[s.walWhat()]
	s.mu.Unlock()
	if s.wal != nil && unlogged > 0 && walOutage != nil {
		errs = append(errs, fmt.Errorf("kafka.ReceiverStream: %d received records could not be logged in the write-ahead log %s (they were not committed: the group gives them again): %w",
			unlogged, s.walDir(), walOutage.err))
	}
	if s.wal != nil {
		errs = append(errs, s.wal.Close())
	}
	errs = append(errs, s.cl.Close())
	return errors.Join(errs...)
}

// receiverCheckpoint is a receiver stream's checkpoint: which blocks each batch read.
type receiverCheckpoint struct {
	Times  []time.Time
	Blocks []blockRange
}

// Checkpoint records the blocks of the batches from time from on. Once the
// checkpoint is durable (CheckpointSaved), the write-ahead log is truncated below the
// oldest block it needs: no restart from it will read older blocks.
func (d receiverSource[K, V]) Checkpoint(from time.Time) ([]byte, error) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var cp receiverCheckpoint
	keep := s.nextSeq // with no batch to keep, every block allocated so far may go
	if len(s.stored) > 0 {
		keep = s.stored[0].seq
	}
	cp.Times, cp.Blocks = s.log.Saved(from)
	for _, r := range cp.Blocks {
		keep = min(keep, r.From)
	}
	for _, r := range s.log.Restored() { // not produced again yet
		keep = min(keep, r.From)
	}
	s.keep = keep
	return checkpoint.Encode(cp)
}

// CheckpointSaved truncates the write-ahead log below the oldest block the checkpoint
// just saved needs.
func (d receiverSource[K, V]) CheckpointSaved() {
	s := d.s
	s.mu.Lock()
	wal, keep := s.wal, s.keep
	s.mu.Unlock()
	if wal == nil || keep == 0 {
		return
	}
	// A failed truncation only keeps blocks longer: the next checkpoint tries again.
	if err := wal.Truncate(keep); err != nil {
		s.cfg.logger.Warn("kafka: truncating the write-ahead log failed; it is tried again at the next checkpoint", "dir", s.walDir(), "below", keep, "error", err)
	}
}

// Restore takes back which blocks the batches of a checkpoint read, before Start.
func (d receiverSource[K, V]) Restore(data []byte) error {
	s := d.s
	var cp receiverCheckpoint
	if err := checkpoint.Decode(data, &cp); err != nil {
		return err
	}
	return s.log.Restore(cp.Times, cp.Blocks)
}

// A recvOutage is something a receiver stream has been unable to do since a time,
// in real time: receiving goes on in the background, whatever the Context's clock.
type recvOutage struct {
	since time.Time
	err   error   // the last failure
	warn  limiter // a warning at most every warnEvery
}

// failing records that the stream cannot do what (a phrase after "cannot"): a first
// failure starts an outage. It logs a warning, at most every warnEvery, if warn.
func (s *ReceiverStream[K, V]) failing(what string, err error, warn bool) {
	s.mu.Lock()
	o, ok := s.outages[what]
	if !ok {
		o = &recvOutage{since: time.Now()}
		s.outages[what] = o
	}
	o.err = err
	warn = warn && o.warn.allow(time.Now())
	since := o.since
	s.mu.Unlock()
	if warn {
		s.cfg.logger.Warn("kafka: receiver stream cannot "+what+"; retrying", "group", s.cfg.groupID,
			"since", since, "timeout", s.cfg.unavailable, "error", err)
	}
}

// recovered ends the outage of what, if there is one.
func (s *ReceiverStream[K, V]) recovered(what string) {
	s.mu.Lock()
	o, ok := s.outages[what]
	delete(s.outages, what)
	s.mu.Unlock()
	if ok && o.warn.warned() {
		s.cfg.logger.Info("kafka: receiver stream can "+what+" again", "group", s.cfg.groupID, "since", o.since)
	}
}

// fail records an error the stream cannot go on after: the next batch fails with it.
func (s *ReceiverStream[K, V]) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	s.cfg.logger.Error("kafka: receiver stream failed: the next batch fails", "group", s.cfg.groupID, "error", err)
}

// availabilityLocked returns why the stream cannot receive now (nil if nothing keeps
// it from it), and the error the batch must fail with (the Context names the batch):
// the stream failed, or an outage has lasted UnavailableTimeout. s.mu is held.
func (s *ReceiverStream[K, V]) availabilityLocked() (unavailable, err error) {
	if s.failed != nil {
		return nil, s.failed
	}
	var errs []error
	for _, what := range slices.Sorted(maps.Keys(s.outages)) {
		o := s.outages[what]
		if d := time.Since(o.since); d >= s.cfg.unavailable {
			return nil, fmt.Errorf("kafka.ReceiverStream: %w: could not %s for %v (UnavailableTimeout %v; brokers %v, group %q, topics %v): %w",
				ErrUnavailable, what, d.Round(time.Millisecond), s.cfg.unavailable, s.cfg.brokers, s.cfg.groupID, s.topicList(), o.err)
		}
		errs = append(errs, fmt.Errorf("cannot %s since %v: %w", what, errfmt.Time(o.since), o.err))
	}
	return errors.Join(errs...), nil
}
