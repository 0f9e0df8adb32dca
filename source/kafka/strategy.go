package kafka

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ConsumerStrategy says which partitions a stream reads (Spark's ConsumerStrategies):
// Subscribe, SubscribePattern or Assign.
type ConsumerStrategy interface {
	// newAssigner returns what tracks the stream's partitions.
	newAssigner(cl *Client) (assigner, error)
	String() string
}

// Subscribe reads topics as a member of the consumer group (GroupID): the group's
// members share the partitions, and when a member joins or leaves, or partitions are
// added, the partitions are rebalanced among them. A partition new to a member starts
// at the group's committed offset, or where OffsetReset says.
func Subscribe(topics ...string) ConsumerStrategy {
	return subscribe{topics: slices.Clone(topics)}
}

// SubscribePattern is Subscribe for every topic whose name matches re, looked up every
// MetadataRefresh: topics created later that match are read too.
func SubscribePattern(re *regexp.Regexp) ConsumerStrategy { return subscribe{pattern: re} }

// Assign reads a fixed set of partitions, with no group membership. A partition starts
// at its offset in from if it has one, else at the group's committed offset (with
// GroupID), else where OffsetReset says.
func Assign(partitions []TopicPartition, from map[TopicPartition]int64) ConsumerStrategy {
	return assign{parts: slices.Clone(partitions), from: from}
}

// assignment is what a stream reads now.
type assignment struct {
	parts []TopicPartition // sorted
	// start is where each partition new to the stream starts; a partition missing
	// here has no committed offset.
	start map[TopicPartition]int64
}

// assigner tracks a stream's partitions and commits its offsets.
type assigner interface {
	// start prepares the assigner (joins the group); ctx ends when Run ends.
	start(ctx context.Context) error
	// current returns the partitions to read now; ok is false while the group
	// rebalances (there is no assignment to read).
	current() (asg assignment, ok bool)
	// commit stores offsets for the group; partitions no longer assigned are
	// dropped, and returned.
	commit(ctx context.Context, stop <-chan struct{}, offsets map[TopicPartition]int64) (dropped []TopicPartition, err error)
	stop()
}

func sortPartitions(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

type assign struct {
	parts []TopicPartition
	from  map[TopicPartition]int64
}

func (a assign) String() string { return fmt.Sprintf("Assign(%v)", a.parts) }

func (a assign) newAssigner(cl *Client) (assigner, error) {
	if len(a.parts) == 0 {
		return nil, fmt.Errorf("kafka: Assign of no partitions")
	}
	for tp := range a.from {
		if !slices.Contains(a.parts, tp) {
			return nil, fmt.Errorf("kafka: Assign: a starting offset for %v, which is not assigned", tp)
		}
	}
	parts := slices.Clone(a.parts)
	sortPartitions(parts)
	for i := 1; i < len(parts); i++ {
		if parts[i] == parts[i-1] {
			return nil, fmt.Errorf("kafka: Assign: %v assigned twice", parts[i])
		}
	}
	return &fixed{cl: cl, asg: assignment{parts: parts, start: map[TopicPartition]int64{}}, from: a.from}, nil
}

// fixed is the assigner of Assign.
type fixed struct {
	cl   *Client
	asg  assignment
	from map[TopicPartition]int64
}

func (f *fixed) start(ctx context.Context) error {
	if g := f.cl.cfg.groupID; g != "" {
		committed, err := f.cl.committed(ctx, nil, g, f.asg.parts)
		if err != nil {
			return err
		}
		for tp, off := range committed {
			f.asg.start[tp] = off
		}
	}
	for tp, off := range f.from { // given offsets win over committed ones
		f.asg.start[tp] = off
	}
	return nil
}

func (f *fixed) current() (assignment, bool) { return f.asg, true }

func (f *fixed) commit(ctx context.Context, stop <-chan struct{}, offsets map[TopicPartition]int64) ([]TopicPartition, error) {
	if f.cl.cfg.groupID == "" {
		return nil, fmt.Errorf("kafka: committing offsets needs a consumer group (set GroupID)")
	}
	return nil, f.cl.commit(ctx, stop, f.cl.cfg.groupID, -1, "", offsets)
}

func (f *fixed) stop() {}

type subscribe struct {
	topics  []string
	pattern *regexp.Regexp
}

func (s subscribe) String() string {
	if s.pattern != nil {
		return fmt.Sprintf("SubscribePattern(%s)", s.pattern)
	}
	return fmt.Sprintf("Subscribe(%s)", strings.Join(s.topics, ", "))
}

func (s subscribe) newAssigner(cl *Client) (assigner, error) {
	if cl.cfg.groupID == "" {
		return nil, fmt.Errorf("kafka: %v needs a consumer group (set GroupID)", s)
	}
	if s.pattern == nil && len(s.topics) == 0 {
		return nil, fmt.Errorf("kafka: Subscribe to no topics")
	}
	return &member{cl: cl, sub: s}, nil
}

// member is the assigner of Subscribe and SubscribePattern: a member of the consumer
// group, through kafka-go's ConsumerGroup, which follows rebalances.
type member struct {
	cl  *Client
	sub subscribe

	mu     sync.Mutex
	gen    *kafkago.Generation // nil while rebalancing
	asg    assignment
	genSet chan struct{} // closed and replaced whenever gen changes

	cancel context.CancelFunc
	done   chan struct{}
}

func (m *member) start(ctx context.Context) error {
	// Fail early, and within a bounded time, if the brokers cannot be reached.
	if _, err := m.cl.partitions(ctx, nil); err != nil {
		return err
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.genSet, m.done = make(chan struct{}), make(chan struct{})
	first := m.genSet
	go func() {
		defer close(m.done)
		m.run(ctx)
	}()
	// Wait (a poll timeout at most) for the first assignment, so that the first
	// batches are not empty only because the group is still forming.
	t := time.NewTimer(m.cl.cfg.pollTimeout)
	defer t.Stop()
	select {
	case <-first:
	case <-t.C:
		m.cl.cfg.logger.Warn("kafka: no partitions assigned yet: batches are empty until the group assigns some", "group", m.cl.cfg.groupID, "waited", m.cl.cfg.pollTimeout)
	case <-ctx.Done():
	}
	return nil
}

// topics returns the topics to subscribe to now, sorted.
func (m *member) topics(ctx context.Context) ([]string, error) {
	if m.sub.pattern == nil {
		return slices.Sorted(slices.Values(m.sub.topics)), nil
	}
	all, err := m.cl.partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for t := range all {
		if m.sub.pattern.MatchString(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// run keeps the member in the group until ctx ends, joining again with the new topic
// list whenever SubscribePattern's matches change.
func (m *member) run(ctx context.Context) {
	log := m.cl.cfg.logger
	for ctx.Err() == nil {
		topics, err := m.topics(ctx)
		if err != nil {
			log.Warn("kafka: listing topics failed", "strategy", m.sub.String(), "error", err)
		}
		if len(topics) == 0 {
			if !m.wait(ctx, m.cl.cfg.metadataRefresh) {
				return
			}
			continue
		}
		m.runGroup(ctx, topics)
	}
}

func (m *member) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runGroup is a member for topics until ctx ends or, with a pattern, the matching
// topics change.
func (m *member) runGroup(ctx context.Context, topics []string) {
	cfg := m.cl.cfg
	start := kafkago.LastOffset
	if cfg.reset == Earliest {
		start = kafkago.FirstOffset
	}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: cfg.groupID, Brokers: cfg.brokers, Topics: topics,
		Dialer:                &kafkago.Dialer{ClientID: cfg.clientID, Timeout: cfg.pollTimeout, DualStack: true, TLS: cfg.tls, SASLMechanism: cfg.sasl},
		WatchPartitionChanges: true, PartitionWatchInterval: cfg.metadataRefresh,
		SessionTimeout: cfg.sessionTimeout, HeartbeatInterval: max(cfg.sessionTimeout/10, 100*time.Millisecond),
		RebalanceTimeout: cfg.sessionTimeout, JoinGroupBackoff: 500 * time.Millisecond,
		StartOffset: start, Timeout: cfg.pollTimeout,
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			cfg.logger.Debug("kafka-go consumer group: "+fmt.Sprintf(format, args...), "group", cfg.groupID)
		}),
	})
	if err != nil {
		cfg.logger.Error("kafka: cannot join the consumer group", "group", cfg.groupID, "error", err)
		m.wait(ctx, cfg.metadataRefresh)
		return
	}
	defer cg.Close() // leaves the group
	changed := make(chan struct{})
	if m.sub.pattern != nil {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go m.watchTopics(wctx, topics, changed)
	}
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			cfg.logger.Warn("kafka: consumer group error", "group", cfg.groupID, "error", err)
			continue
		}
		ended := make(chan struct{})
		gen.Start(func(gctx context.Context) {
			select {
			case <-gctx.Done():
			case <-changed:
			}
			close(ended)
		})
		m.setGeneration(gen)
		select {
		case <-ended:
		case <-ctx.Done():
		}
		m.setGeneration(nil)
		select {
		case <-changed:
			cfg.logger.Info("kafka: the topics matching the pattern changed: joining again", "group", cfg.groupID)
			return
		case <-ctx.Done():
			return
		default:
		}
	}
}

// watchTopics closes changed once the topics matching the pattern differ from topics.
func (m *member) watchTopics(ctx context.Context, topics []string, changed chan struct{}) {
	for m.wait(ctx, m.cl.cfg.metadataRefresh) {
		now, err := m.topics(ctx)
		if err == nil && !slices.Equal(now, topics) {
			close(changed)
			return
		}
	}
}

func (m *member) setGeneration(gen *kafkago.Generation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen = gen
	if gen != nil {
		asg := assignment{start: map[TopicPartition]int64{}}
		for topic, parts := range gen.Assignments {
			for _, p := range parts {
				tp := TopicPartition{topic, p.ID}
				asg.parts = append(asg.parts, tp)
				if p.Offset >= 0 { // kafka-go gives FirstOffset/LastOffset when none is committed
					asg.start[tp] = p.Offset
				}
			}
		}
		sortPartitions(asg.parts)
		m.asg = asg
		m.cl.cfg.logger.Info("kafka: partitions assigned", "group", m.cl.cfg.groupID, "generation", gen.ID, "partitions", fmt.Sprint(asg.parts))
	}
	close(m.genSet)
	m.genSet = make(chan struct{})
}

func (m *member) current() (assignment, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.asg, m.gen != nil
}

// commit commits with the current generation, waiting (up to a poll timeout) for one
// while the group rebalances.
func (m *member) commit(ctx context.Context, stop <-chan struct{}, offsets map[TopicPartition]int64) ([]TopicPartition, error) {
	deadline := time.NewTimer(m.cl.cfg.pollTimeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		gen, asg, set := m.gen, m.asg, m.genSet
		m.mu.Unlock()
		if gen != nil {
			mine := map[TopicPartition]int64{}
			var dropped []TopicPartition
			for tp, off := range offsets {
				if slices.Contains(asg.parts, tp) {
					mine[tp] = off
				} else {
					dropped = append(dropped, tp)
				}
			}
			if len(mine) == 0 {
				return dropped, nil
			}
			err := m.cl.commit(ctx, stop, m.cl.cfg.groupID, int(gen.ID), gen.MemberID, mine)
			if !errors.Is(err, kafkago.RebalanceInProgress) && !errors.Is(err, kafkago.IllegalGeneration) &&
				!errors.Is(err, kafkago.UnknownMemberId) {
				return dropped, err
			}
			// The generation ended under the commit: commit again with the next.
			m.cl.cfg.logger.Info("kafka: commit interrupted by a rebalance, retrying with the next generation", "group", m.cl.cfg.groupID, "error", err)
		}
		select {
		case <-set:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("kafka: committing %v: the group %q did not finish rebalancing within %v", offsets, m.cl.cfg.groupID, m.cl.cfg.pollTimeout)
		}
	}
}

func (m *member) stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
}
