package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/spatedev/spate/dstream"
)

// ErrDataLoss is matched (errors.Is) by the error of a read or a batch that needs
// offsets Kafka no longer has (see FailOnDataLoss): a *DataLossError, which names
// them.
var ErrDataLoss = errors.New("kafka: offsets lost")

// DataLossError reports offsets of a partition that Kafka no longer has, when
// FailOnDataLoss is true (the default): deleted by retention before they were read,
// or lost with a recreated or truncated topic. errors.Is(err, ErrDataLoss) holds for
// it; errors.As gives the partition and the offsets.
type DataLossError struct {
	// Topic and Partition are the partition whose offsets are lost.
	Topic     string
	Partition int
	// From and Until are the offsets lost, [From, Until): From is where the read
	// was to start, Until the first offset the log still has. When the position is
	// past the partition's end instead (the topic was recreated or truncated), From
	// is the position and Until the end, and Until < From: which offsets are lost
	// is not known.
	From, Until int64
	// While says what was being done: "reading", "planning batch …".
	While string
}

// Error names the partition, the offsets and what was being done, in one line.
func (e *DataLossError) Error() string {
	tp := TopicPartition{Topic: e.Topic, Partition: e.Partition}
	if e.Until < e.From {
		return fmt.Sprintf("%v: %v position %d is past the partition's end %d (was it recreated or truncated?) while %s; set FailOnDataLoss(false) to start again at its end",
			ErrDataLoss, tp, e.From, e.Until, e.While)
	}
	return fmt.Sprintf("%v: %v offsets [%d, %d) are gone (retention or a recreated topic) while %s; set FailOnDataLoss(false) to skip them",
		ErrDataLoss, tp, e.From, e.Until, e.While)
}

// Is reports whether target is ErrDataLoss.
func (e *DataLossError) Is(target error) bool { return target == ErrDataLoss }

// Client is a connection pool to one Kafka cluster, shared by the RDDs of CreateRDD
// (the streams have their own). It starts no goroutine until used; Close releases its
// connections.
type Client struct {
	cfg  config
	lost atomic.Int64 // records skipped because they were gone (FailOnDataLoss false)
	warn limiter      // of the warnings about requests that keep failing

	// The connections, replaced when the cached metadata proves stale (kafka-go's
	// Transport has no other way to refresh it); old ones are closed with the client.
	mu        sync.Mutex
	tr        *kafkago.Transport
	kc        *kafkago.Client
	old       []*kafkago.Transport
	refreshed time.Time
}

// NewClient returns a Client configured by opts (Brokers is required). An invalid
// option value is an error wrapping dstream.ErrInvalid that names the option and the
// value.
func NewClient(opts ...ClientOpt) (*Client, error) {
	cfg := newConfig(opts, ClientOpt.applyClient)
	if errs := cfg.check(); len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("kafka.NewClient: %w: %w", dstream.ErrInvalid, err)
		}
		return nil, errors.Join(errs...)
	}
	return newClient(cfg), nil
}

// newClient returns a Client of cfg, which its constructor checked.
func newClient(cfg config) *Client {
	c := &Client{cfg: cfg}
	c.tr, c.kc = c.connect()
	return c
}

func (c *Client) connect() (*kafkago.Transport, *kafkago.Client) {
	tr := &kafkago.Transport{
		DialTimeout: c.cfg.pollTimeout,
		MetadataTTL: c.cfg.metadataRefresh,
		ClientID:    c.cfg.clientID,
		TLS:         c.cfg.tls,
		SASL:        c.cfg.sasl,
	}
	return tr, &kafkago.Client{Addr: kafkago.TCP(c.cfg.brokers...), Transport: tr}
}

// client returns the current kafka-go client.
func (c *Client) client() *kafkago.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kc
}

// transport returns the current transport.
func (c *Client) transport() *kafkago.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr
}

// refresh replaces the connections, so that the next request reads fresh metadata
// (at most every 100ms).
func (c *Client) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.refreshed) < 100*time.Millisecond {
		return
	}
	c.refreshed = time.Now()
	c.tr.CloseIdleConnections() // in-use ones close when their request is done
	c.old = append(c.old, c.tr)
	c.tr, c.kc = c.connect()
}

// staleMetadata reports whether err says the client's metadata, or its connections,
// are out of date.
func staleMetadata(err error) bool {
	for _, e := range []error{kafkago.NotLeaderForPartition, kafkago.LeaderNotAvailable, kafkago.UnknownTopicOrPartition,
		kafkago.FencedLeaderEpoch, kafkago.UnknownLeaderEpoch, kafkago.NotCoordinatorForGroup, kafkago.Unknown,
		protocol.ErrNoTopic, protocol.ErrNoPartition, protocol.ErrNoLeader} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// Close closes the client's connections. An RDD made with the client must not be
// read after Close.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tr := range append(c.old, c.tr) {
		tr.CloseIdleConnections()
	}
	c.old = nil
	return nil
}

// LostRecords returns how many records were skipped because Kafka no longer had them
// (only with FailOnDataLoss(false)).
func (c *Client) LostRecords() int64 { return c.lost.Load() }

// retriable reports whether a failed request may succeed if sent again: a retriable
// Kafka error (not the leader, leader not available, stale metadata, …), a network
// error, the attempt's own timeout, or kafka-go's own "topic not found", "partition
// not found" and "no leader" from stale cached metadata (as after a broker restart).
// UNKNOWN_SERVER_ERROR (-1) is retried too: kafka-go gives it to each partition of a
// request it split by leader when one of the parts failed in transit (as right after
// a broker restart), and a broker that really keeps failing is still bounded by the
// caller's retry limit.
func retriable(err error) bool {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		return ke.Temporary() || ke == kafkago.Unknown
	}
	if errors.Is(err, protocol.ErrNoTopic) || errors.Is(err, protocol.ErrNoPartition) || errors.Is(err, protocol.ErrNoLeader) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded)
}

// retry runs op, each attempt bounded by the poll timeout, until it succeeds, fails
// with an error that is not retriable, or a poll timeout has passed since the first
// attempt: retryFor(…, PollTimeout, …).
func (c *Client) retry(ctx context.Context, stop <-chan struct{}, what string, op func(ctx context.Context) error) error {
	return c.retryFor(ctx, stop, what, c.cfg.pollTimeout, op)
}

// retryFor runs op, each attempt bounded by the poll timeout, until it succeeds,
// fails with an error that is not retriable, or bound has passed since the first
// attempt (0: one attempt); it waits between attempts with exponential backoff (50ms
// doubling up to 1s). Once stop is closed (the stream is stopping) a failed attempt is
// not retried. Attempts are logged at debug level; an operation still failing after a
// poll timeout is warned about, at most every warnEvery for the client. The error
// names what, the brokers and the number of attempts.
func (c *Client) retryFor(ctx context.Context, stop <-chan struct{}, what string, bound time.Duration, op func(ctx context.Context) error) error {
	start := time.Now()
	deadline := start.Add(bound)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.pollTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kafka: %s: %w", what, ctx.Err())
		}
		stopping := false
		select {
		case <-stop:
			stopping = true
		default:
		}
		if !retriable(err) || stopping || time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("kafka: %s (brokers %v): %d attempts: %w", what, c.cfg.brokers, attempt, err)
		}
		if failing := time.Since(start); failing >= c.cfg.pollTimeout && c.warn.allow(time.Now()) {
			c.cfg.logger.Warn("kafka: a request keeps failing: retrying", "what", what, "brokers", c.cfg.brokers,
				"failing_for", failing.Round(time.Millisecond), "gives_up_after", bound, "attempt", attempt, "error", err)
		} else {
			c.cfg.logger.Debug("kafka: retrying", "what", what, "attempt", attempt, "error", err)
		}
		if staleMetadata(err) {
			c.refresh()
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("kafka: %s: %w", what, ctx.Err())
		case <-stop:
			t.Stop()
			return fmt.Errorf("kafka: %s (brokers %v): stopped while retrying: %w", what, c.cfg.brokers, err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// bounds are a partition's first offset (log start) and end offset (high watermark,
// one past the last record).
type bounds struct{ first, end int64 }

// offsets returns the bounds of each partition, in one request (retried within a
// poll timeout).
func (c *Client) offsets(ctx context.Context, stop <-chan struct{}, tps []TopicPartition) (map[TopicPartition]bounds, error) {
	return c.offsetsWithin(ctx, stop, tps, c.cfg.pollTimeout)
}

// offsetsWithin is offsets with the request retried within bound (0: one attempt).
func (c *Client) offsetsWithin(ctx context.Context, stop <-chan struct{}, tps []TopicPartition, bound time.Duration) (map[TopicPartition]bounds, error) {
	out := make(map[TopicPartition]bounds, len(tps))
	if len(tps) == 0 {
		return out, nil
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}, IsolationLevel: kafkago.IsolationLevel(c.cfg.isolation)}
	for _, tp := range tps {
		req.Topics[tp.Topic] = append(req.Topics[tp.Topic], kafkago.FirstOffsetOf(tp.Partition), kafkago.LastOffsetOf(tp.Partition))
	}
	err := c.retryFor(ctx, stop, fmt.Sprintf("listing the offsets of %v", tps), bound, func(ctx context.Context) error {
		resp, err := c.client().ListOffsets(ctx, req)
		if err != nil {
			return err
		}
		for topic, parts := range resp.Topics {
			for _, p := range parts {
				if p.Error != nil {
					return fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
				}
				out[TopicPartition{topic, p.Partition}] = bounds{p.FirstOffset, p.LastOffset}
			}
		}
		for _, tp := range tps {
			if _, ok := out[tp]; !ok {
				return fmt.Errorf("%v: %w", tp, kafkago.UnknownTopicOrPartition)
			}
		}
		return nil
	})
	return out, err
}

// committed returns the group's committed offset of each partition that has one.
func (c *Client) committed(ctx context.Context, stop <-chan struct{}, group string, tps []TopicPartition) (map[TopicPartition]int64, error) {
	req := &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{}}
	for _, tp := range tps {
		req.Topics[tp.Topic] = append(req.Topics[tp.Topic], tp.Partition)
	}
	out := map[TopicPartition]int64{}
	err := c.retry(ctx, stop, fmt.Sprintf("reading the offsets group %q committed", group), func(ctx context.Context) error {
		resp, err := c.client().OffsetFetch(ctx, req)
		if err == nil {
			err = resp.Error
		}
		if errors.Is(err, kafkago.GroupIdNotFound) {
			return nil // a group that never committed: nothing committed
		}
		if err != nil {
			return err
		}
		for topic, parts := range resp.Topics {
			for _, p := range parts {
				if p.Error != nil {
					return fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
				}
				if p.CommittedOffset >= 0 {
					out[TopicPartition{topic, p.Partition}] = p.CommittedOffset
				}
			}
		}
		return nil
	})
	return out, err
}

// commit stores offsets (the next offset to read, per partition) for group, as member
// memberID of generation gen (-1 and "" outside a group generation).
func (c *Client) commit(ctx context.Context, stop <-chan struct{}, group string, gen int, memberID string, offsets map[TopicPartition]int64) error {
	req := &kafkago.OffsetCommitRequest{GroupID: group, GenerationID: gen, MemberID: memberID, Topics: map[string][]kafkago.OffsetCommit{}}
	for tp, off := range offsets {
		req.Topics[tp.Topic] = append(req.Topics[tp.Topic], kafkago.OffsetCommit{Partition: tp.Partition, Offset: off})
	}
	return c.retry(ctx, stop, fmt.Sprintf("committing offsets %v for group %q", offsets, group), func(ctx context.Context) error {
		resp, err := c.client().OffsetCommit(ctx, req)
		if err != nil {
			return err
		}
		for topic, parts := range resp.Topics {
			for _, p := range parts {
				if p.Error != nil {
					return fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
				}
			}
		}
		return nil
	})
}

// createTopics creates topics, retrying what may pass; a topic that another member
// created meanwhile is not an error.
func (c *Client) createTopics(ctx context.Context, topics []kafkago.TopicConfig) error {
	var names []string
	for _, t := range topics {
		names = append(names, t.Topic)
	}
	return c.retry(ctx, nil, fmt.Sprintf("creating topics %v", names), func(ctx context.Context) error {
		resp, err := c.client().CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: topics})
		if err != nil {
			return err
		}
		for name, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
}

// partitions returns every topic of the cluster with its partition count (internal
// topics excluded).
func (c *Client) partitions(ctx context.Context, stop <-chan struct{}) (map[string]int, error) {
	out := map[string]int{}
	err := c.retry(ctx, stop, "reading the cluster's topics", func(ctx context.Context) error {
		resp, err := c.client().Metadata(ctx, &kafkago.MetadataRequest{})
		if err != nil {
			return err
		}
		for _, t := range resp.Topics {
			if t.Error == nil && !t.Internal {
				out[t.Name] = len(t.Partitions)
			}
		}
		return nil
	})
	return out, err
}

// EndOffsets returns the end of each partition: the offset the next record will
// get, or, with Isolation(ReadCommitted), the last stable offset (the first of a
// transaction still open). A range that ends there is what CreateRDD can read.
func (c *Client) EndOffsets(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	b, err := c.offsets(ctx, nil, tps)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(b))
	for tp, bd := range b {
		out[tp] = bd.end
	}
	return out, nil
}

// Partitions returns every partition of the given topics, sorted: for Assign. A topic
// that does not exist is an error naming it.
func (c *Client) Partitions(ctx context.Context, topics ...string) ([]TopicPartition, error) {
	all, err := c.partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []TopicPartition
	for _, t := range topics {
		n, ok := all[t]
		if !ok {
			return nil, fmt.Errorf("kafka: no topic %q (brokers %v)", t, c.cfg.brokers)
		}
		for p := range n {
			out = append(out, TopicPartition{Topic: t, Partition: p})
		}
	}
	sortPartitions(out)
	return out, nil
}

// raw is a fetched record; Key and Value are valid only until the next record.
type raw struct {
	offset     int64
	time       time.Time
	key, value []byte
	headers    []Header
}

// read fetches the records of r in order and hands each to each, until each returns
// false or the range ends. Records before r.From that a fetch returns are skipped.
// Offsets that are gone fail the read (ErrDataLoss) or, with FailOnDataLoss(false),
// are skipped and counted. A failing fetch is retried through an outage for up to
// UnavailableTimeout: the range must be read, there is no skipping it.
func (c *Client) read(ctx context.Context, stop <-chan struct{}, r OffsetRange, each func(*raw) bool) error {
	off := r.From
	var rec raw
	empty := 0
	for off < r.Until {
		var fp *fetchAPI.ResponsePartition
		err := c.retryFor(ctx, stop, fmt.Sprintf("fetching %v at offset %d", r, off), c.cfg.unavailable, func(ctx context.Context) error {
			var err error
			fp, err = c.fetch(ctx, r.TopicPartition(), off)
			return err
		})
		if errors.Is(err, kafkago.OffsetOutOfRange) {
			b, berr := c.offsets(ctx, stop, []TopicPartition{r.TopicPartition()})
			if berr != nil {
				return berr
			}
			first := b[r.TopicPartition()].first
			if off >= first {
				return fmt.Errorf("kafka: reading %v: offset %d out of range, log %d..%d: %w", r, off, first, b[r.TopicPartition()].end, err)
			}
			if err := c.lose(r.TopicPartition(), off, min(first, r.Until), "reading"); err != nil {
				return fmt.Errorf("kafka: reading %v: %w", r, err)
			}
			off = first
			continue
		}
		if err != nil {
			return fmt.Errorf("kafka: reading %v: %w", r, err)
		}
		start := off
		done, err := readBatches(fp, r, &off, &rec, each)
		if done || err != nil {
			return err
		}
		if off > start {
			empty = 0
			continue
		}
		if empty++; empty == 3 {
			return fmt.Errorf("kafka: reading %v: no record at or after offset %d although the partition ends at %d (last stable offset %d): the log has a gap", r, off, fp.HighWatermark, fp.LastStableOffset)
		}
	}
	return nil
}

// fetch fetches tp from offset off, with the stream's isolation level.
func (c *Client) fetch(ctx context.Context, tp TopicPartition, off int64) (*fetchAPI.ResponsePartition, error) {
	const maxWait = 100 * time.Millisecond
	m, err := c.transport().RoundTrip(ctx, c.client().Addr, &fetchAPI.Request{
		ReplicaID: -1, MaxWaitTime: int32(maxWait / time.Millisecond), MinBytes: 1,
		MaxBytes: int32(c.cfg.fetchMaxBytes), IsolationLevel: int8(c.cfg.isolation),
		SessionID: -1, SessionEpoch: -1,
		Topics: []fetchAPI.RequestTopic{{Topic: tp.Topic, Partitions: []fetchAPI.RequestPartition{{
			Partition: int32(tp.Partition), CurrentLeaderEpoch: -1, FetchOffset: off, LogStartOffset: -1,
			PartitionMaxBytes: int32(c.cfg.fetchMaxBytes),
		}}}},
	})
	if err != nil {
		return nil, err
	}
	res, ok := m.(*fetchAPI.Response)
	switch {
	case !ok:
		return nil, fmt.Errorf("a fetch answered with %T", m)
	case res.ErrorCode != 0:
		return nil, kafkago.Error(res.ErrorCode)
	case len(res.Topics) == 0 || len(res.Topics[0].Partitions) == 0:
		return nil, fmt.Errorf("a fetch of %v answered without it", tp)
	}
	fp := &res.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 {
		return nil, kafkago.Error(fp.ErrorCode)
	}
	return fp, nil
}

// readBatches hands each record of a fetch's batches at or after *off and before
// r.Until to each, advancing *off past every offset it passes: records, the control
// records that end transactions, and, with the fetch's aborted transactions, the
// records of those transactions, which it skips (kafka-go's own fetch neither skips
// them nor says which they are, so read_committed needs this). done is true once
// each returned false or the range ended.
func readBatches(fp *fetchAPI.ResponsePartition, r OffsetRange, off *int64, rec *raw, each func(*raw) bool) (done bool, err error) {
	batches := []protocol.RecordReader{fp.RecordSet.Records}
	if rs, ok := fp.RecordSet.Records.(*protocol.RecordStream); ok {
		batches = rs.Records
	}
	aborted := slices.Clone(fp.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b fetchAPI.ResponseTransaction) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	open := map[int64]bool{} // producers whose aborted transaction is under way
	for _, b := range batches {
		if b == nil {
			continue
		}
		skip := false
		switch b := b.(type) {
		case *protocol.ControlBatch:
			delete(open, b.ProducerID) // a marker ends its producer's transaction
			skip = true
		case *protocol.RecordBatch:
			for len(aborted) > 0 && aborted[0].FirstOffset <= b.BaseOffset {
				open[aborted[0].ProducerID] = true
				aborted = aborted[1:]
			}
			skip = b.Attributes.Transactional() && open[b.ProducerID]
		}
		for {
			pr, err := b.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return true, fmt.Errorf("kafka: reading %v: decoding the record after offset %d: %w", r, *off-1, err)
			}
			switch {
			case pr.Offset < *off:
				closeBytes(pr.Key, pr.Value)
				continue
			case pr.Offset >= r.Until:
				closeBytes(pr.Key, pr.Value)
				return true, nil
			case skip:
				closeBytes(pr.Key, pr.Value)
				*off = pr.Offset + 1
				continue
			}
			rec.offset, rec.time = pr.Offset, pr.Time
			if rec.key, err = readBytes(rec.key, pr.Key); err == nil {
				rec.value, err = readBytes(rec.value, pr.Value)
			}
			if err != nil {
				return true, fmt.Errorf("kafka: reading %v: record at offset %d: %w", r, pr.Offset, err)
			}
			rec.headers = rec.headers[:0]
			for _, h := range pr.Headers {
				rec.headers = append(rec.headers, Header{Key: h.Key, Value: h.Value})
			}
			if !each(rec) {
				return true, nil
			}
			*off = pr.Offset + 1
		}
	}
	return false, nil
}

// lose handles the offsets [from, until) of tp that Kafka no longer has: a
// *DataLossError, or with FailOnDataLoss(false) a warning and the counter.
func (c *Client) lose(tp TopicPartition, from, until int64, while string) error {
	if c.cfg.failOnDataLoss {
		return &DataLossError{Topic: tp.Topic, Partition: tp.Partition, From: from, Until: until, While: while}
	}
	c.lost.Add(until - from)
	c.cfg.logger.Warn("kafka: skipping offsets that are gone", "partition", tp.String(), "from", from, "until", until, "while", while)
	return nil
}

// readBytes reads b into buf (reused) and closes b; nil b gives nil.
func readBytes(buf []byte, b interface {
	io.ReadCloser
	Len() int
}) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	n := b.Len()
	buf = slices.Grow(buf[:0], n)[:n]
	_, err := io.ReadFull(b, buf)
	return buf, err
}

func closeBytes(bs ...io.Closer) {
	for _, b := range bs {
		if b != nil {
			b.Close()
		}
	}
}
