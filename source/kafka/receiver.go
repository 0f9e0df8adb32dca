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

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
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
	budget        int64
}

// BlockInterval sets how often a receiver stream cuts the records received into a
// block; a batch's RDD has one partition per block (Spark's
// spark.streaming.blockInterval). Default: 200ms.
func BlockInterval(d time.Duration) Opt { return func(c *config) { c.recv.blockInterval = d } }

// BlockStorage sets how a receiver stream keeps its blocks until they are processed.
// Default: StoreValues, or StoreSerialized with a write-ahead log.
func BlockStorage(s Storage) Opt { return func(c *config) { c.recv.storage = s } }

// MemoryBudget caps the bytes of received blocks a receiver stream holds before their
// batch has taken them: when it is reached, the receivers stop fetching until batches
// catch up. Default: 256 MiB.
func MemoryBudget(bytes int64) Opt { return func(c *config) { c.recv.budget = bytes } }

// ReceiverStream is Spark's receiver-based Kafka stream (KafkaUtils.createStream):
// receivers, members of a consumer group, fetch records continuously and cut them into
// blocks every BlockInterval; each batch takes the blocks received since the last one,
// one RDD partition per block. The group owns the partition assignment and the
// offsets: a block's offsets are committed once the block is stored.
//
// Without a write-ahead log, a block is stored in memory only: a crash loses the
// blocks received (and committed) but not yet processed, as in Spark. With the Context
// checkpointing (dstream.CheckpointDir), each block is appended to a write-ahead log
// in the checkpoint directory, and fsynced, before its offsets are committed; a
// restart replays the logged blocks not yet processed, and the log is truncated once
// the batches that read them are complete and checkpointed: a crash loses nothing.
type ReceiverStream[K, V any] struct {
	cfg    config
	topics map[string]int
	keys   Deserializer[K]
	values Deserializer[V]
	sctx   *dstream.Context
	stream *dstream.DStream[Record[K, V]]

	cutMu sync.Mutex // one cut at a time

	mu      sync.Mutex
	space   *sync.Cond // signalled when stored blocks are taken
	readers []*kafkago.Reader
	current []kafkago.Message
	from    []int // current[i] came from readers[from[i]]
	stored  []*block
	bytes   int64 // of the stored blocks and the current records
	nextSeq uint64
	wal     *checkpoint.WAL
	keep    uint64            // the oldest block the last checkpoint needs; 0: none taken yet
	logged  map[uint64]*block // blocks replayed from the log, by sequence number
	// With checkpoints: the blocks of every batch, while checkpoints need them, and
	// of the batches to produce again after a restart.
	log    dstream.BatchLog[blockRange]
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// blockRange is the blocks [From, Until) of a batch, by sequence number.
type blockRange struct{ From, Until uint64 }

// block is a cut of received records.
type block struct {
	seq   uint64
	recs  []wireRecord // StoreValues
	data  []byte       // StoreSerialized: msgpack of recs
	n     int
	bytes int64
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

// NewReceiverStream returns a receiver stream on c (Spark's createStream): topics maps
// each topic to the number of receivers (consumer goroutines, each a member of the
// group) reading it. As in the seeds, more receivers for a topic only means more
// goroutines receiving in this stream, not more parallelism in processing: for that,
// union several receiver streams (dstream.Union). Brokers replace Spark's ZooKeeper
// quorum (kafka-go's group protocol needs no ZooKeeper); GroupID is required. Keys and
// values are deserialized when a batch reads its blocks. It starts nothing: Run
// starts the receivers.
func NewReceiverStream[K, V any](c *dstream.Context, topics map[string]int, keys Deserializer[K], values Deserializer[V], opts ...Opt) *ReceiverStream[K, V] {
	cfg := newConfig(opts)
	s := &ReceiverStream[K, V]{cfg: cfg, topics: maps.Clone(topics), keys: keys, values: values, sctx: c,
		logged: map[uint64]*block{}, nextSeq: 1}
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
	topics := slices.Sorted(maps.Keys(s.topics))
	return s.sctx.CheckpointDir() + "/receivers/" + unsafeName.ReplaceAllString(s.cfg.groupID+"-"+strings.Join(topics, "-"), "_")
}

func (d receiverSource[K, V]) Start(ctx context.Context) error {
	s := d.s
	switch {
	case len(s.cfg.brokers) == 0:
		return errors.New("kafka.ReceiverStream: no brokers (set Brokers)")
	case s.cfg.groupID == "":
		return errors.New("kafka.ReceiverStream: no consumer group (set GroupID)")
	case len(s.topics) == 0:
		return errors.New("kafka.ReceiverStream: no topics")
	case s.keys == nil || s.values == nil:
		return errors.New("kafka.ReceiverStream: nil key or value deserializer")
	}
	if s.cfg.recv.blockInterval <= 0 {
		s.cfg.recv.blockInterval = 200 * time.Millisecond
	}
	if s.cfg.recv.budget <= 0 {
		s.cfg.recv.budget = 256 << 20
	}
	// Fail early, within a bounded time, if no broker answers.
	cl, err := newClient(s.cfg)
	if err != nil {
		return err
	}
	topics, err := cl.partitions(ctx, nil)
	cl.Close()
	if err != nil {
		return fmt.Errorf("kafka.ReceiverStream: %w", err)
	}
	for t, n := range s.topics {
		if n < 1 {
			return fmt.Errorf("kafka.ReceiverStream: %d receivers for topic %q, want at least 1", n, t)
		}
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
	start := kafkago.LastOffset
	if s.cfg.reset == Earliest {
		start = kafkago.FirstOffset
	}
	ctx, s.cancel = context.WithCancel(ctx)
	for _, topic := range slices.Sorted(maps.Keys(s.topics)) {
		for range s.topics[topic] {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers: s.cfg.brokers, GroupID: s.cfg.groupID, Topic: topic,
				Dialer:   &kafkago.Dialer{ClientID: s.cfg.clientID, Timeout: s.cfg.pollTimeout, DualStack: true, TLS: s.cfg.tls, SASLMechanism: s.cfg.sasl},
				MinBytes: 1, MaxBytes: s.cfg.fetchMaxBytes, MaxWait: 100 * time.Millisecond,
				StartOffset: start, SessionTimeout: s.cfg.sessionTimeout, HeartbeatInterval: max(s.cfg.sessionTimeout/10, 100*time.Millisecond),
				RebalanceTimeout: s.cfg.sessionTimeout, JoinGroupBackoff: 500 * time.Millisecond,
				WatchPartitionChanges: true, PartitionWatchInterval: s.cfg.metadataRefresh,
				ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
					s.cfg.logger.Debug("kafka-go reader: "+fmt.Sprintf(format, args...), "group", s.cfg.groupID, "topic", topic)
				}),
			})
			i := len(s.readers)
			s.readers = append(s.readers, r)
			s.wg.Go(func() { s.receive(ctx, i, r) })
		}
	}
	s.wg.Go(func() { s.cutBlocks(ctx) })
	return nil
}

// openWAL opens the write-ahead log and takes back the blocks it holds: those a
// restored batch reads, and the others, received but not yet in a batch, which the
// next batch takes.
func (s *ReceiverStream[K, V]) openWAL() error {
	wal, err := checkpoint.OpenWAL(s.walDir(), checkpoint.WithLogger(s.cfg.logger))
	if err != nil {
		return fmt.Errorf("kafka.ReceiverStream: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wal = wal
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
		return fmt.Errorf("kafka.ReceiverStream: replaying the write-ahead log: %w", err)
	}
	if n := len(s.stored) + len(s.logged); n > 0 {
		s.cfg.logger.Info("kafka: receiver stream replays blocks from its write-ahead log", "blocks", n, "dir", s.walDir())
	}
	return nil
}

// receive fetches records with r into the current block until ctx ends, waiting while
// the blocks held reach the memory budget.
func (s *ReceiverStream[K, V]) receive(ctx context.Context, i int, r *kafkago.Reader) {
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.cfg.logger.Warn("kafka: receiver fetch failed", "group", s.cfg.groupID, "error", err)
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		size := int64(len(m.Key) + len(m.Value) + 64)
		s.mu.Lock()
		for s.bytes+size > s.cfg.recv.budget && len(s.current) > 0 && ctx.Err() == nil {
			s.space.Wait()
		}
		s.current = append(s.current, m)
		s.from = append(s.from, i)
		s.bytes += size
		s.mu.Unlock()
	}
}

// cutBlocks cuts a block every block interval, on the Context's clock.
func (s *ReceiverStream[K, V]) cutBlocks(ctx context.Context) {
	next := s.sctx.Clock().Now()
	for {
		next = next.Add(s.cfg.recv.blockInterval)
		if err := s.sctx.Clock().WaitUntil(ctx, next); err != nil {
			return
		}
		if err := s.cut(ctx); err != nil && ctx.Err() == nil {
			s.cfg.logger.Error("kafka: receiver could not store a block", "group", s.cfg.groupID, "error", err)
		}
	}
}

// cut makes a block of the records received so far: logs it (with a write-ahead log),
// commits its offsets, and stores it for the next batch. A block that cannot be
// logged is kept as current records and tried again at the next cut.
func (s *ReceiverStream[K, V]) cut(ctx context.Context) error {
	s.cutMu.Lock()
	defer s.cutMu.Unlock()
	s.mu.Lock()
	msgs, from := s.current, s.from
	s.current, s.from = nil, nil
	s.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	recs := make([]wireRecord, len(msgs))
	size := int64(0)
	for i, m := range msgs {
		recs[i] = wireRecord{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			recs[i].Headers = append(recs[i].Headers, Header{Key: h.Key, Value: h.Value})
		}
		size += int64(len(m.Key) + len(m.Value) + 64)
	}
	b := &block{recs: recs, n: len(recs), bytes: size}
	if s.cfg.recv.storage == StoreSerialized {
		data, err := checkpoint.Encode(recs)
		if err != nil {
			return err
		}
		b.data, b.recs, b.bytes = data, nil, int64(len(data))
	}
	if s.wal != nil {
		seq, err := s.wal.Append(b.data) // durable before the offsets are committed
		if err != nil {
			s.mu.Lock()
			s.current, s.from = append(msgs, s.current...), append(from, s.from...)
			s.mu.Unlock()
			return fmt.Errorf("logging a block of %d records: %w", len(recs), err)
		}
		b.seq = seq
	}
	s.commit(ctx, msgs, from)
	s.mu.Lock()
	if s.wal == nil {
		b.seq = s.nextSeq
	}
	s.nextSeq = b.seq + 1
	s.bytes += b.bytes - size
	s.stored = append(s.stored, b)
	s.mu.Unlock()
	return nil
}

// commit commits, for each reader, the last offset of each partition in msgs. A
// failed commit is logged: the records come again (at least once).
func (s *ReceiverStream[K, V]) commit(ctx context.Context, msgs []kafkago.Message, from []int) {
	last := map[int]map[TopicPartition]kafkago.Message{}
	for i, m := range msgs {
		if last[from[i]] == nil {
			last[from[i]] = map[TopicPartition]kafkago.Message{}
		}
		tp := TopicPartition{m.Topic, m.Partition}
		if prev, ok := last[from[i]][tp]; !ok || m.Offset > prev.Offset {
			last[from[i]][tp] = m
		}
	}
	for r, byTP := range last {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.pollTimeout)
		err := s.readers[r].CommitMessages(cctx, slices.Collect(maps.Values(byTP))...)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.cfg.logger.Warn("kafka: receiver commit failed: the records will come again", "group", s.cfg.groupID, "error", err)
		}
	}
}

// Batch takes the blocks stored since the last batch (cutting the records received
// so far into one first), or after a restart the blocks of the batch recorded for t.
func (d receiverSource[K, V]) Batch(ctx context.Context, t time.Time) (*rdd.RDD[Record[K, V]], dstream.InputInfo, error) {
	s := d.s
	if err := s.cut(ctx); err != nil {
		s.cfg.logger.Error("kafka: receiver could not store a block", "group", s.cfg.groupID, "error", err)
	}
	s.mu.Lock()
	var blocks []*block
	if r, ok := s.log.Again(t); ok {
		for seq := r.From; seq < r.Until; seq++ {
			b, ok := s.logged[seq]
			if !ok {
				s.mu.Unlock()
				return nil, dstream.InputInfo{}, fmt.Errorf("kafka.ReceiverStream: batch %v: block %d is not in the write-ahead log", t, seq)
			}
			delete(s.logged, seq)
			blocks = append(blocks, b)
		}
	} else {
		blocks, s.stored = s.stored, nil
		for _, b := range blocks {
			s.bytes -= b.bytes
		}
		s.space.Broadcast()
		if s.sctx.CheckpointDir() != "" && len(blocks) > 0 {
			// Under mu with the blocks leaving stored: a checkpoint sees them in one
			// place or the other.
			s.log.Record(t, blockRange{From: blocks[0].seq, Until: blocks[len(blocks)-1].seq + 1})
		}
	}
	s.mu.Unlock()
	records := int64(0)
	for _, b := range blocks {
		records += int64(b.n)
	}
	r := rdd.Generate(s.sctx.Engine(), "kafka.ReceiverStream", len(blocks), func(ctx context.Context, p int, yield func(Record[K, V]) bool) error {
		return s.readBlock(blocks[p], yield)
	})
	return r, dstream.InputInfo{Records: records}, nil
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

// Stop stops the receivers (leaving the group) and closes the log. Records received
// but not yet in a block were not committed: the group gives them again.
func (d receiverSource[K, V]) Stop() error {
	s := d.s
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.mu.Lock()
	s.space.Broadcast()
	readers := s.readers
	s.mu.Unlock()
	var errs []error
	for _, r := range readers {
		errs = append(errs, r.Close())
	}
	s.wg.Wait()
	if s.wal != nil {
		errs = append(errs, s.wal.Close())
	}
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
