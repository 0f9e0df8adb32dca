package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
)

// ConsumerStrategy says which partitions a stream reads (Spark's ConsumerStrategies):
// Subscribe, SubscribePattern or Assign.
type ConsumerStrategy interface {
	// newAssigner returns what tracks the stream's partitions.
	newAssigner(cl *Client) (assigner, error)
	// topicsIn returns the topics the strategy reads among all (topic →
	// partition count), sorted.
	topicsIn(all map[string]int) []string
	String() string
}

// Subscribe reads topics as a member of the consumer group (GroupID): the group's
// members share the partitions, and when a member joins or leaves, or partitions are
// added, the partitions are rebalanced among them. A partition new to a member starts
// at the group's committed offset, or where OffsetReset says; with Latest, at the
// partition's end when the group assigns it to the member (during Run's start for the
// first assignment), not when a batch is later planned, so nothing produced from then
// on is missed.
//
// A topic that does not exist is warned about once per MetadataRefresh, naming it; the
// stream reads the others without churning the group, joins again when it is created,
// and after MissingTopicTimeout fails the batch (unless WaitForTopics). Spark's
// consumer waits for it silently.
func Subscribe(topics ...string) ConsumerStrategy {
	return subscribe{topics: slices.Clone(topics)}
}

// SubscribePattern is Subscribe for every topic whose whole name matches re, looked
// up every MetadataRefresh: topics created later that match are read too. The
// expression is anchored at both ends, as Kafka's and Spark's patterns are: `logs-\d`
// matches logs-1 but neither xlogs-1 nor logs-12; write `logs-.*` for a prefix. While
// no topic matches, batches are empty (that is not an error).
func SubscribePattern(re *regexp.Regexp) ConsumerStrategy {
	s := subscribe{pattern: re, isPattern: true}
	if re != nil {
		// The whole topic name must match, as with Kafka's and Spark's patterns.
		s.anchored, s.anchorErr = regexp.Compile(`^(?:` + re.String() + `)$`)
	}
	return s
}

// Assign reads a fixed set of partitions, with no group membership. A partition starts
// at its offset in from if it has one, else at the group's committed offset (with
// GroupID), else where OffsetReset says: with Latest, at the partition's end when Run
// starts (as Spark's start() does), so a record produced once Run has started is read
// by the first batch. A partition that does not exist makes Run fail at start.
func Assign(partitions []TopicPartition, from map[TopicPartition]int64) ConsumerStrategy {
	return assign{parts: slices.Clone(partitions), from: from}
}

// assignment is what a stream reads now.
type assignment struct {
	parts []TopicPartition // sorted
	gen   groupGen         // the group generation that assigned them (Subscribe)
	// start is where each partition new to the stream starts; a partition missing
	// here has no committed offset (and, with OffsetReset Earliest or None, starts
	// where the plan of its first batch says).
	start map[TopicPartition]int64
}

// assigner tracks a stream's partitions and commits its offsets.
type assigner interface {
	// start prepares the assigner (joins the group) and fixes where partitions
	// with no committed offset start with OffsetReset Latest; ctx ends when Run
	// ends.
	start(ctx context.Context) error
	// current returns the partitions to read now. When the stream has partitions
	// to read but cannot tell which (the group is rebalancing, or its coordinator
	// cannot be reached), why says so, and asg holds the last partitions it had.
	current() (asg assignment, why error)
	// missing returns the subscribed topics that did not exist at the last
	// metadata refresh, sorted.
	missing() []string
	// commit stores offsets for the group; partitions no longer assigned are
	// dropped, and returned.
	commit(ctx context.Context, stop <-chan struct{}, offsets map[TopicPartition]int64) (dropped []TopicPartition, err error)
	stop()
}

func sortPartitions(tps []TopicPartition) { slices.SortFunc(tps, compareTopicPartitions) }

// compareTopicPartitions orders partitions by topic, then number.
func compareTopicPartitions(a, b TopicPartition) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

type assign struct {
	parts []TopicPartition
	from  map[TopicPartition]int64
}

func (a assign) String() string { return fmt.Sprintf("Assign(%v)", a.parts) }

func (a assign) topicsIn(all map[string]int) []string {
	var topics []string
	for _, tp := range a.parts {
		if _, ok := all[tp.Topic]; ok {
			topics = append(topics, tp.Topic)
		}
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

func (a assign) newAssigner(cl *Client) (assigner, error) {
	if len(a.parts) == 0 {
		return nil, fmt.Errorf("kafka: Assign: %w: no partitions", dstream.ErrInvalid)
	}
	for tp := range a.from {
		if !slices.Contains(a.parts, tp) {
			return nil, fmt.Errorf("kafka: Assign: %w: a starting offset for %v, which is not assigned", dstream.ErrInvalid, tp)
		}
	}
	parts := slices.Clone(a.parts)
	sortPartitions(parts)
	for i := 1; i < len(parts); i++ {
		if parts[i] == parts[i-1] {
			return nil, fmt.Errorf("kafka: Assign: %w: %v assigned twice", dstream.ErrInvalid, parts[i])
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
	all, err := f.cl.partitions(ctx, nil)
	if err != nil {
		return err
	}
	for _, tp := range f.asg.parts {
		if n, ok := all[tp.Topic]; !ok || tp.Partition < 0 || tp.Partition >= n {
			return fmt.Errorf("kafka: Assign: %v does not exist (brokers %v)", tp, f.cl.cfg.brokers)
		}
	}
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
	if f.cl.cfg.reset != Latest {
		return nil
	}
	// Latest is the end of the partition now, when the stream starts (Spark's
	// start()), not when the first batch is planned: a record produced once Run has
	// started is read.
	var latest []TopicPartition
	for _, tp := range f.asg.parts {
		if _, ok := f.asg.start[tp]; !ok {
			latest = append(latest, tp)
		}
	}
	if len(latest) == 0 {
		return nil
	}
	b, err := f.cl.offsets(ctx, nil, latest)
	if err != nil {
		return err
	}
	for _, tp := range latest {
		f.asg.start[tp] = b[tp].end
	}
	return nil
}

func (f *fixed) current() (assignment, error) { return f.asg, nil }

func (f *fixed) missing() []string { return nil }

func (f *fixed) commit(ctx context.Context, stop <-chan struct{}, offsets map[TopicPartition]int64) ([]TopicPartition, error) {
	if f.cl.cfg.groupID == "" {
		return nil, fmt.Errorf("kafka: %w: committing offsets needs a consumer group (set GroupID)", dstream.ErrInvalid)
	}
	return nil, f.cl.commit(ctx, stop, f.cl.cfg.groupID, -1, "", offsets)
}

func (f *fixed) stop() {}

type subscribe struct {
	topics    []string
	pattern   *regexp.Regexp
	isPattern bool
	anchored  *regexp.Regexp // pattern, anchored at both ends
	anchorErr error
}

func (s subscribe) String() string {
	if s.isPattern {
		return fmt.Sprintf("SubscribePattern(%v)", s.pattern)
	}
	return fmt.Sprintf("Subscribe(%s)", strings.Join(s.topics, ", "))
}

func (s subscribe) topicsIn(all map[string]int) []string {
	var topics []string
	if s.isPattern {
		for t := range all {
			if s.anchored != nil && s.anchored.MatchString(t) {
				topics = append(topics, t)
			}
		}
	} else {
		for _, t := range s.topics {
			if _, ok := all[t]; ok {
				topics = append(topics, t)
			}
		}
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

func (s subscribe) newAssigner(cl *Client) (assigner, error) {
	if cl.cfg.groupID == "" {
		return nil, fmt.Errorf("kafka: %w: %v needs a consumer group (set GroupID)", dstream.ErrInvalid, s)
	}
	m := &member{cl: cl, sub: s}
	switch {
	case s.isPattern && s.pattern == nil:
		return nil, fmt.Errorf("kafka: SubscribePattern: %w: nil regexp", dstream.ErrInvalid)
	case s.isPattern && s.anchorErr != nil:
		return nil, fmt.Errorf("kafka: SubscribePattern(%v): %w", s.pattern, s.anchorErr)
	case !s.isPattern && len(s.topics) == 0:
		return nil, fmt.Errorf("kafka: Subscribe to no topics")
	}
	return m, nil
}

// member is the assigner of Subscribe and SubscribePattern: a member of the consumer
// group, through kafka-go's ConsumerGroup, which follows rebalances.
type member struct {
	cl  *Client
	sub subscribe
	// stable, if set, gives the committed offsets of partitions once no
	// transaction commits theirs (a keyed stream with changelogs): they replace
	// those kafka-go's group fetched when it assigned them.
	stable func(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error)
	warn   limiter // of the warnings about the group and the metadata

	mu     sync.Mutex
	gen    *kafkago.Generation // nil while rebalancing
	asg    assignment          // of gen, or of the last generation
	genSet chan struct{}       // closed and replaced whenever gen changes
	// inflight counts, per generation, the batches planned in it that are not
	// completed yet (hold, release): a generation that ends waits for them (see
	// drain), so that their commits, which name the generation, succeed.
	inflight map[int32]int
	drained  chan struct{} // closed and replaced whenever a count reaches 0
	ended    time.Time     // when the last generation ended (drain began)
	idle     bool          // no topic to subscribe to: not in the group
	reason   error         // why there is no generation, if known
	fatal    error         // a group error that joining again cannot fix
	fatalC   chan struct{} // closed when fatal is set
	absent   []string      // subscribed topics that do not exist

	cancel context.CancelFunc
	done   chan struct{}
}

func (m *member) start(ctx context.Context) error {
	// Fail early, and within a bounded time, if the brokers cannot be reached.
	topics, err := m.refresh(ctx, true)
	if err != nil {
		return err
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.genSet, m.done, m.idle, m.fatalC = make(chan struct{}), make(chan struct{}), len(topics) == 0, make(chan struct{})
	first := m.genSet
	go func() {
		defer close(m.done)
		m.run(ctx, topics)
	}()
	if len(topics) == 0 {
		return nil
	}
	// Wait (a poll timeout at most) for the first assignment, so that the first
	// batches are not empty only because the group is still forming.
	t := time.NewTimer(m.cl.cfg.pollTimeout)
	defer t.Stop()
	select {
	case <-first:
	case <-m.fatalC:
		m.stop()
		_, err := m.current()
		return err
	case <-t.C:
		m.cl.cfg.logger.Warn("kafka: no partitions assigned yet: batches are empty until the group assigns some", "group", m.cl.cfg.groupID, "waited", m.cl.cfg.pollTimeout)
	case <-ctx.Done():
	}
	return nil
}

// refresh returns the topics to subscribe to now, sorted, and notes the subscribed
// topics that do not exist; with warn, it warns about them.
func (m *member) refresh(ctx context.Context, warn bool) ([]string, error) {
	all, err := m.cl.partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	topics := m.sub.topicsIn(all)
	var absent []string
	if !m.sub.isPattern {
		for _, t := range m.sub.topics {
			if _, ok := all[t]; !ok {
				absent = append(absent, t)
			}
		}
	}
	slices.Sort(absent)
	absent = slices.Compact(absent)
	m.mu.Lock()
	m.absent = absent
	m.mu.Unlock()
	if warn && len(absent) > 0 {
		cfg := m.cl.cfg
		bound := any(cfg.missingTopics)
		if cfg.waitForTopics {
			bound = "never (WaitForTopics)"
		}
		cfg.logger.Warn("kafka: subscribed topics do not exist: reading the others, and joining the group again when they are created",
			"group", cfg.groupID, "missing", absent, "brokers", cfg.brokers, "fails_after", bound)
	}
	return topics, nil
}

// run keeps the member in the group until ctx ends, joining again with the new topic
// list whenever the topics to subscribe to change (SubscribePattern's matches, or
// Subscribe's topics being created or deleted).
func (m *member) run(ctx context.Context, topics []string) {
	known := true // topics come from a successful refresh
	for ctx.Err() == nil {
		if known && len(topics) == 0 {
			m.setIdle()
		}
		if len(topics) > 0 {
			if next, ok := m.runGroup(ctx, topics); ok {
				topics = next
				continue
			}
		} else if !sleep(ctx, m.cl.cfg.metadataRefresh) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		var err error
		topics, err = m.refresh(ctx, true)
		if known = err == nil; !known {
			m.failed(fmt.Errorf("listing the topics: %w", err))
		}
	}
}

// permanent reports whether a consumer group error is one that joining again cannot
// fix (an invalid session timeout, a group not authorized, …): a Kafka error that is
// not retriable and not the group's own churn.
func permanent(err error) bool {
	var ke kafkago.Error
	if !errors.As(err, &ke) || retriable(err) {
		return false
	}
	switch ke {
	case kafkago.RebalanceInProgress, kafkago.UnknownMemberId, kafkago.IllegalGeneration, kafkago.MemberIDRequired,
		kafkago.GroupMaxSizeReached, kafkago.FencedInstanceID:
		return false
	}
	return true
}

// failed notes why the member has no generation, and warns (at most every
// warnEvery). An error that joining again cannot fix is kept: current reports it.
func (m *member) failed(err error) {
	m.mu.Lock()
	m.reason = err
	if permanent(err) && m.fatal == nil {
		m.fatal = err
		close(m.fatalC)
	}
	m.mu.Unlock()
	cfg := m.cl.cfg
	if errors.Is(err, kafkago.RebalanceInProgress) {
		cfg.logger.Debug("kafka: the consumer group is rebalancing", "group", cfg.groupID, "error", err)
		return
	}
	if m.warn.allow(time.Now()) {
		cfg.logger.Warn("kafka: the consumer group has no assignment: retrying with backoff", "group", cfg.groupID, "brokers", cfg.brokers, "error", err)
	} else {
		cfg.logger.Debug("kafka: the consumer group has no assignment: retrying with backoff", "group", cfg.groupID, "error", err)
	}
}

// runGroup is a member for topics until ctx ends or the topics to subscribe to
// change; it returns the new topics if it knows them.
func (m *member) runGroup(ctx context.Context, topics []string) (next []string, known bool) {
	cfg := m.cl.cfg
	m.mu.Lock()
	m.idle = false
	m.mu.Unlock()
	cg, err := newConsumerGroup(&cfg, cfg.clientID, topics,
		&taskBalancer{instance: cfg.instance, owned: m.tasks}, kafkago.RangeGroupBalancer{}, kafkago.RoundRobinGroupBalancer{})
	if err != nil {
		m.failed(fmt.Errorf("creating the consumer group: %w", err))
		sleep(ctx, cfg.metadataRefresh)
		return nil, false
	}
	defer cg.Close() // leaves the group
	// The watcher closes changed, after setting changedTo, once the topics differ.
	changed := make(chan struct{})
	var changedTo []string
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	defer func() {
		stopWatch()
		<-watched
	}()
	go func() {
		defer close(watched)
		for sleep(wctx, cfg.metadataRefresh) {
			now, err := m.refresh(wctx, true)
			if err == nil && !slices.Equal(now, topics) {
				changedTo = now
				close(changed)
				return
			}
		}
	}()
	failures := 0
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false
			}
			// kafka-go does not try to join again until Next is called: waiting
			// here is the backoff.
			failures++
			m.failed(err)
			t := time.NewTimer(backoff(failures))
			select {
			case <-t.C:
				continue
			case <-changed:
				t.Stop()
				return changedTo, true
			case <-ctx.Done():
				t.Stop()
				return nil, false
			}
		}
		failures = 0
		ended := make(chan struct{})
		gen.Start(func(gctx context.Context) {
			select {
			case <-gctx.Done():
			case <-changed:
			}
			// kafka-go joins the next generation once this returns: first,
			// the batches planned in this one complete.
			m.drain(ctx, gen.ID)
			close(ended)
		})
		if asg, ok := m.assignmentOf(ctx, gen, ended); ok {
			m.setGeneration(gen, asg)
			select {
			case <-ended:
			case <-ctx.Done():
			}
			m.setGeneration(nil, assignment{})
		}
		select {
		case <-changed:
			cfg.logger.Info("kafka: the topics to subscribe to changed: joining the group again", "group", cfg.groupID, "topics", changedTo)
			return changedTo, true
		case <-ctx.Done():
			return nil, false
		default:
		}
		// The generation ended by itself. If a topic was deleted, kafka-go ends
		// every generation at once: join again without it rather than churn.
		if now, err := m.refresh(ctx, false); err == nil && !slices.Equal(now, topics) {
			return now, true
		}
	}
}

// assignmentOf returns the partitions gen assigns and where each starts. With
// OffsetReset Latest, a partition with no committed offset starts at its end now, when
// it is assigned (Spark's start()), not when a batch is later planned; one the
// member had in the last generation keeps the start it had. ok is false if the
// generation or ctx ended first.
func (m *member) assignmentOf(ctx context.Context, gen *kafkago.Generation, ended <-chan struct{}) (asg assignment, ok bool) {
	asg.start = map[TopicPartition]int64{}
	var none []TopicPartition
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			tp := TopicPartition{topic, p.ID}
			asg.parts = append(asg.parts, tp)
			if p.Offset >= 0 { // kafka-go gives FirstOffset/LastOffset when none is committed
				asg.start[tp] = p.Offset
			} else {
				none = append(none, tp)
			}
		}
	}
	sortPartitions(asg.parts)
	if m.stable != nil && len(asg.parts) > 0 {
		committed, err := m.stable(ctx, asg.parts)
		if err != nil {
			m.failed(err)
			return asg, false
		}
		none = none[:0]
		for _, tp := range asg.parts {
			if off, ok := committed[tp]; ok {
				asg.start[tp] = off
			} else {
				delete(asg.start, tp)
				none = append(none, tp)
			}
		}
	}
	if m.cl.cfg.reset != Latest {
		return asg, true
	}
	m.mu.Lock()
	prev := m.asg
	m.mu.Unlock()
	var latest []TopicPartition
	for _, tp := range none {
		if off, kept := prev.start[tp]; kept && slices.Contains(prev.parts, tp) {
			asg.start[tp] = off
		} else {
			latest = append(latest, tp)
		}
	}
	for failures := 1; len(latest) > 0; failures++ {
		b, err := m.cl.offsets(ctx, nil, latest)
		if err == nil {
			for _, tp := range latest {
				asg.start[tp] = b[tp].end
			}
			break
		}
		if ctx.Err() != nil {
			return asg, false
		}
		m.failed(fmt.Errorf("finding where the partitions assigned start (OffsetReset latest): %w", err))
		t := time.NewTimer(backoff(failures))
		select {
		case <-t.C:
		case <-ended:
			t.Stop()
			return asg, false
		case <-ctx.Done():
			t.Stop()
			return asg, false
		}
	}
	return asg, true
}

// setGeneration sets the current generation and its assignment (nil: rebalancing).
func (m *member) setGeneration(gen *kafkago.Generation, asg assignment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen = gen
	if gen != nil {
		log := m.cl.cfg.logger.Debug
		if !slices.Equal(asg.parts, m.asg.parts) {
			log = m.cl.cfg.logger.Info
		}
		log("kafka: partitions assigned", "group", m.cl.cfg.groupID, "generation", gen.ID, "partitions", fmt.Sprint(asg.parts))
		asg.gen = groupGen{id: gen.ID, member: gen.MemberID}
		m.asg, m.reason = asg, nil
	}
	close(m.genSet)
	m.genSet = make(chan struct{})
}

// hold counts a batch planned in generation id, which must be the current one (false
// if not: it ended, or is ending).
func (m *member) hold(id int32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == nil || m.gen.ID != id {
		return false
	}
	if m.inflight == nil {
		m.inflight, m.drained = map[int32]int{}, make(chan struct{})
	}
	m.inflight[id]++
	return true
}

// release is called once a batch hold counted has completed.
func (m *member) release(id int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inflight[id]--; m.inflight[id] <= 0 {
		delete(m.inflight, id)
		close(m.drained)
		m.drained = make(chan struct{})
	}
}

// drain ends generation id for the stream (no batch is planned in it any more) and
// waits until the batches planned in it have completed, for up to SessionTimeout
// (the group's rebalance timeout), or until ctx ends.
func (m *member) drain(ctx context.Context, id int32) {
	m.mu.Lock()
	if m.gen != nil && m.gen.ID == id {
		m.gen = nil
		m.reason = errors.New("the group is rebalancing")
	}
	m.ended = time.Now()
	m.mu.Unlock()
	bound := time.NewTimer(m.cl.cfg.sessionTimeout)
	defer bound.Stop()
	for {
		m.mu.Lock()
		n, drained := m.inflight[id], m.drained
		m.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-drained:
		case <-ctx.Done():
			return
		case <-bound.C:
			m.cl.cfg.logger.Warn("kafka: batches of a generation that ended did not complete within SessionTimeout: their commits will be refused",
				"group", m.cl.cfg.groupID, "generation", id, "batches", n, "session_timeout", m.cl.cfg.sessionTimeout)
			return
		}
	}
}

// endedAt returns when the member's last generation ended (zero: none has).
func (m *member) endedAt() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ended
}

// tasks returns the partition numbers of the member's current assignment: the tasks
// it tells the group's leader it reads.
func (m *member) tasks() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ts []int
	for _, tp := range m.asg.parts {
		ts = append(ts, tp.Partition)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// setIdle notes that there is no topic to subscribe to.
func (m *member) setIdle() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.idle, m.reason = true, nil
}

func (m *member) current() (assignment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.fatal != nil:
		return m.asg, &permanentError{fmt.Errorf("kafka: consumer group %q (brokers %v): %w", m.cl.cfg.groupID, m.cl.cfg.brokers, m.fatal)}
	case m.gen != nil:
		return m.asg, nil
	case m.idle && m.reason == nil:
		return assignment{}, nil
	}
	why := m.reason
	if why == nil {
		why = errors.New("the group is rebalancing")
	}
	return m.asg, fmt.Errorf("kafka: consumer group %q has no partitions assigned (brokers %v): %w", m.cl.cfg.groupID, m.cl.cfg.brokers, why)
}

func (m *member) missing() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.absent)
}

// permanentError is an error of current that retrying cannot fix: the batch fails.
type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

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
