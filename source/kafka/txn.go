package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
	"weak"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/errfmt"
)

// txnManager is a Context's Kafka transaction, one per batch: what the Context's
// transactional sinks write (Transactional), its changelogs' records and its
// Subscribe streams' source offsets go into it, and it is committed once the batch's
// outputs and its sources' commits are done (CommitBatch), or aborted if the batch
// failed (BatchCompleted). It is a dstream.Service of the Context, with one franz-go
// producer for the length of Run (kafka-go has no transactional producer).
type txnManager struct {
	cfg config // of the first stream or sink that needed it
	err error  // a second one that cannot share it (other brokers)

	manual sync.Map // topics whose records carry their partition (changelogs)

	mu   sync.Mutex
	prod *kgo.Client
	id   string // the transactional id
	open bool   // a transaction is under way
	// produced and offsets say what the transaction under way holds: kgo ends a
	// transaction it produced nothing in without telling the broker, so one with
	// offsets only is ended here (endOffsetsOnly).
	produced, offsets bool
	// committed are called once the transaction under way commits: the OnCommit
	// of the streams whose offsets it holds.
	committed []func()
}

var txns sync.Map // weak.Pointer[dstream.Context] → *txnManager

// txnOf returns c's transaction, making it (and registering it as a service of c)
// on first use; cfg is the configuration of the stream or sink that uses it.
func txnOf(c *dstream.Context, cfg config) *txnManager {
	key := weak.Make(c)
	cfg.instance = instanceOf(c)
	tm := &txnManager{cfg: cfg}
	got, loaded := txns.LoadOrStore(key, tm)
	if !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[dstream.Context]) { txns.Delete(k) }, key)
		c.AddService(tm)
		return tm
	}
	tm = got.(*txnManager)
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if !slices.Equal(tm.cfg.brokers, cfg.brokers) && tm.err == nil {
		tm.err = fmt.Errorf("a transaction cannot span clusters: brokers %v and %v", tm.cfg.brokers, cfg.brokers)
	}
	return tm
}

// existingTxn returns c's transaction if something made it.
func existingTxn(c *dstream.Context) *txnManager {
	if got, ok := txns.Load(weak.Make(c)); ok {
		return got.(*txnManager)
	}
	return nil
}

func (tm *txnManager) String() string {
	return fmt.Sprintf("kafka transactions (brokers %v)", tm.cfg.brokers)
}

// Start makes the transactional producer.
func (tm *txnManager) Start(context.Context) error {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.err != nil {
		return tm.err
	}
	cfg := tm.cfg
	versions := kversion.Stable()
	// The transaction protocol of KIP-447 (offsets added to the transaction and
	// committed with the group's generation), which every broker since 2.5 speaks:
	// kgo's newer one (KIP-890) adds offsets only through its own consumer group.
	versions.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	versions.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), 4)
	group := cfg.groupID
	if group == "" {
		group = "spate"
	}
	tm.id = group + "-" + cfg.instance
	prod, err := newProducer(cfg,
		kgo.TransactionalID(tm.id),
		// A batch may take longer than a session; a member whose batch outlives
		// this is fenced by the broker's abort.
		kgo.TransactionTimeout(time.Minute),
		kgo.MaxVersions(versions),
		kgo.RecordPartitioner(txnPartitioner{manual: &tm.manual, keyed: kgo.StickyKeyPartitioner(nil)}))
	if err != nil {
		return fmt.Errorf("the transactional producer: %w", err)
	}
	tm.prod = prod
	return nil
}

// Stop aborts a transaction left open (logged if that fails: the broker aborts it
// after its timeout) and closes the producer.
func (tm *txnManager) Stop() error {
	tm.mu.Lock()
	prod, open, offsetsOnly := tm.prod, tm.open, tm.offsets && !tm.produced
	tm.prod, tm.open, tm.committed = nil, false, nil
	tm.mu.Unlock()
	if prod == nil {
		return nil
	}
	defer prod.Close()
	if open {
		tm.abort(context.Background(), prod, offsetsOnly)
	}
	return nil
}

// begin opens the batch's transaction if it is not yet.
func (tm *txnManager) begin() (*kgo.Client, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.prod == nil {
		return nil, errors.New("kafka: the transactional producer is not running")
	}
	if !tm.open {
		if err := tm.prod.BeginTransaction(); err != nil {
			return nil, err
		}
		tm.open, tm.produced, tm.offsets, tm.committed = true, false, false, nil
	}
	return tm.prod, nil
}

// produce writes recs in the batch's transaction.
func (tm *txnManager) produce(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	prod, err := tm.begin()
	if err != nil {
		return err
	}
	tm.mu.Lock()
	tm.produced = true
	tm.mu.Unlock()
	return produce(ctx, prod, &tm.cfg, recs)
}

// commitOffsets adds offsets, for group in generation gen, to the batch's
// transaction (KIP-447); then, if not nil, is called once the transaction commits.
// A refusal because the group moved on is ErrFenced.
func (tm *txnManager) commitOffsets(ctx context.Context, group string, gen groupGen, offsets map[TopicPartition]int64, then func()) error {
	prod, err := tm.begin()
	if err != nil {
		return err
	}
	pid, epoch, err := prod.ProducerID(ctx)
	if err != nil {
		return err
	}
	tm.mu.Lock()
	tm.offsets = true
	tm.mu.Unlock()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = tm.id, pid, epoch, group
	addResp, err := add.RequestWith(ctx, prod)
	if err == nil {
		err = kerr.ErrorForCode(addResp.ErrorCode)
	}
	if err != nil {
		if fenced(err) {
			err = fmt.Errorf("%w: %w", ErrFenced, err)
		}
		return fmt.Errorf("adding the offsets of group %q to the transaction: %w", group, err)
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = tm.id, group, pid, epoch
	req.Generation, req.MemberID = gen.id, gen.member
	byTopic := map[string][]kmsg.TxnOffsetCommitRequestTopicPartition{}
	for tp, off := range offsets {
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = int32(tp.Partition), off
		byTopic[tp.Topic] = append(byTopic[tp.Topic], p)
	}
	for topic, ps := range byTopic {
		req.Topics = append(req.Topics, kmsg.TxnOffsetCommitRequestTopic{Topic: topic, Partitions: ps})
	}
	resp, err := req.RequestWith(ctx, prod)
	if err != nil {
		return fmt.Errorf("committing the offsets for group %q: %w", group, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if perr := kerr.ErrorForCode(rp.ErrorCode); perr != nil {
				if fenced(perr) {
					perr = fmt.Errorf("%w: the group %q moved on from generation %d (member %s): %w", ErrFenced, group, gen.id, gen.member, perr)
				}
				return fmt.Errorf("committing the offset of %s/%d for group %q: %w", rt.Topic, rp.Partition, group, perr)
			}
		}
	}
	if then != nil {
		tm.mu.Lock()
		tm.committed = append(tm.committed, then)
		tm.mu.Unlock()
	}
	return nil
}

// CommitBatch commits the batch's transaction, if one was opened, and then tells
// the streams whose offsets it held (OnCommit).
func (tm *txnManager) CommitBatch(ctx context.Context, t time.Time) error {
	tm.mu.Lock()
	prod, open, offsetsOnly, committed := tm.prod, tm.open, tm.offsets && !tm.produced, tm.committed
	tm.open, tm.committed = false, nil
	tm.mu.Unlock()
	if !open {
		return nil
	}
	err := prod.EndTransaction(ctx, kgo.TryCommit)
	if err == nil && offsetsOnly {
		err = tm.endOffsetsOnly(ctx, prod, true)
	}
	if err != nil {
		tm.abort(ctx, prod, offsetsOnly)
		return fmt.Errorf("kafka: committing the transaction of batch %v: %w", errfmt.Time(t), err)
	}
	for _, f := range committed {
		f()
	}
	return nil
}

// endOffsetsOnly ends a transaction that holds offsets and no record: kgo, which
// did not see the offsets added (they are added with raw requests), ends it
// without telling the broker.
func (tm *txnManager) endOffsetsOnly(ctx context.Context, prod *kgo.Client, commit bool) error {
	pid, epoch, err := prod.ProducerID(ctx)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = tm.id, pid, epoch, commit
	resp, err := req.RequestWith(ctx, prod)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("ending a transaction of offsets only: %w", err)
	}
	return nil
}

// BatchCompleted aborts the transaction of a batch that failed.
func (tm *txnManager) BatchCompleted(info dstream.BatchInfo) {
	tm.mu.Lock()
	prod, open, offsetsOnly := tm.prod, tm.open, tm.offsets && !tm.produced
	tm.open, tm.committed = false, nil
	tm.mu.Unlock()
	if open {
		tm.abort(context.Background(), prod, offsetsOnly)
	}
}

// abort ends the transaction under way without committing it; its records are never
// read by read_committed consumers.
func (tm *txnManager) abort(ctx context.Context, prod *kgo.Client, offsetsOnly bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tm.cfg.pollTimeout)
	defer cancel()
	err := prod.EndTransaction(ctx, kgo.TryAbort)
	if err == nil && offsetsOnly {
		err = tm.endOffsetsOnly(ctx, prod, false)
	}
	if err != nil {
		tm.cfg.logger.Warn("kafka: aborting a transaction failed; the broker aborts it after its timeout", "transactional_id", tm.id, "error", err)
	}
}

// txnPartitioner places records of the topics in manual at the partition they
// carry (changelogs: a task's partition), others by Kafka's default partitioner.
type txnPartitioner struct {
	manual *sync.Map
	keyed  kgo.Partitioner
}

func (p txnPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if _, ok := p.manual.Load(topic); ok {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.keyed.ForTopic(topic)
}

// fenced reports whether err says the member or its producer was replaced: its
// group generation ended, or its transaction was aborted by the broker (a timeout)
// or by a newer producer of its id.
func fenced(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedInstanceID) ||
		errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}
