package kafka

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// A receiver stream is one member of its consumer group, a kafka-go ConsumerGroup,
// rather than a kafka-go Reader per receiver: a Reader is a member of its own, so n
// receivers were n members, every restart after a crash added n more, and the dead
// ones stay in the group until their session times out, while every join waits for
// them (a member killed while its join waited can even stay for good in kfake, which
// sets no session timer on a member its join reply never reached). With a checkpoint
// directory, the member's client id is kept there, so that a restart can remove the
// members its previous run left (see evictPrevious). kafka-go's ConsumerGroup speaks
// the old, well-used versions of the group protocol (JoinGroup v1-2, Heartbeat v0);
// its Client's Heartbeat and SyncGroup get the flexible versions wrong, so the stream
// does not run the protocol itself.

// memberFile holds, in a receiver stream's write-ahead log directory, the suffix of
// the client id its group member uses.
const memberFile = "member"

// memberClientID returns the client id of the group member of a stream whose
// write-ahead log is in dir: the Kafka client id and a random suffix, made the first
// time and kept in dir.
func memberClientID(dir, clientID string) (string, error) {
	path := filepath.Join(dir, memberFile)
	data, err := os.ReadFile(path)
	if suffix := string(bytes.TrimSpace(data)); err == nil && len(suffix) == 16 && !strings.ContainsFunc(suffix, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) }) {
		return clientID + "-" + suffix, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the group member's client id: %w", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(suffix+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing the group member's client id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("writing the group member's client id: %w", err)
	}
	return clientID + "-" + suffix, nil
}

// generation is a group generation as the stream's member sees it.
type generation struct {
	id       int
	memberID string
	assigned []TopicPartition         // to this member, sorted
	start    map[TopicPartition]int64 // committed offset of the assigned partitions that have one
}

func (g *generation) owns(tp TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(g.assigned, tp, compareTP)
	return ok
}

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return a.Partition - b.Partition
}

// fatalGroupError reports whether err means the member cannot be in the group at all.
func fatalGroupError(err error) bool {
	for _, e := range []error{kafkago.InconsistentGroupProtocol, kafkago.InvalidSessionTimeout, kafkago.GroupAuthorizationFailed,
		kafkago.GroupMaxSizeReached, kafkago.InvalidGroupId, kafkago.TopicAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// groupWhat is the outage of a stream out of its group's generations.
func (s *ReceiverStream[K, V]) groupWhat() string {
	return fmt.Sprintf("be in a generation of consumer group %q", s.cfg.groupID)
}

// runGroup keeps the stream in its group until ctx ends: each generation, its
// receivers fetch the partitions assigned to it. Then it leaves the group.
func (s *ReceiverStream[K, V]) runGroup(ctx context.Context) {
	cfg := &s.cfg
	s.failing(s.groupWhat(), errors.New("joining"), false)
	clientID := cfg.clientID
	if s.member != "" {
		clientID = s.member
		s.evictPrevious(ctx)
	}
	cg, err := newConsumerGroup(cfg, clientID, s.topicList())
	if err != nil {
		s.fail(fmt.Errorf("kafka.ReceiverStream: consumer group %q: %w", cfg.groupID, err))
		return
	}
	// Closing ends the generation (whose function stores and commits what it
	// received) and leaves the group.
	defer cg.Close()
	for {
		gen, err := cg.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case fatalGroupError(err):
			s.fail(fmt.Errorf("kafka.ReceiverStream: consumer group %q (brokers %v): %w", cfg.groupID, cfg.brokers, err))
			return
		case err != nil: // kafka-go joins again, with backoff
			s.failing(s.groupWhat(), err, !errors.Is(err, kafkago.RebalanceInProgress))
			continue
		}
		g := &generation{id: int(gen.ID), memberID: gen.MemberID, start: map[TopicPartition]int64{}}
		for topic, parts := range gen.Assignments {
			for _, p := range parts {
				tp := TopicPartition{topic, p.ID}
				g.assigned = append(g.assigned, tp)
				if p.Offset >= 0 { // kafka-go gives FirstOffset or LastOffset when none is committed
					g.start[tp] = p.Offset
				}
			}
		}
		slices.SortFunc(g.assigned, compareTP)
		// The next join waits for the function to return.
		gen.Start(func(gctx context.Context) { s.runGeneration(ctx, gctx, g) })
	}
}

// newConsumerGroup returns a kafka-go ConsumerGroup for topics, configured by cfg,
// whose member has the client id clientID and offers balancers (nil: kafka-go's
// range and round robin): the group member of a receiver stream, and of a direct
// stream's Subscribe.
func newConsumerGroup(cfg *config, clientID string, topics []string, balancers ...kafkago.GroupBalancer) (*kafkago.ConsumerGroup, error) {
	start := kafkago.LastOffset
	if cfg.reset == Earliest {
		start = kafkago.FirstOffset
	}
	return kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: cfg.groupID, Brokers: cfg.brokers, Topics: topics,
		Dialer:                &kafkago.Dialer{ClientID: clientID, Timeout: cfg.pollTimeout, DualStack: true, TLS: cfg.tls, SASLMechanism: cfg.sasl},
		WatchPartitionChanges: true, PartitionWatchInterval: cfg.metadataRefresh,
		SessionTimeout: cfg.sessionTimeout, HeartbeatInterval: max(cfg.sessionTimeout/10, 100*time.Millisecond),
		RebalanceTimeout: cfg.sessionTimeout, JoinGroupBackoff: minBackoff,
		StartOffset: start, Timeout: cfg.pollTimeout, GroupBalancers: balancers,
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			cfg.logger.Debug("kafka-go consumer group: "+fmt.Sprintf(format, args...), "group", cfg.groupID)
		}),
	})
}

// evictPrevious removes from the group the members that a previous run of the stream
// left behind (killed, they could not leave): found by the member client id kept in
// the checkpoint directory, which no other process uses (the directory is locked),
// they would stay until their session times out, and every join in between would wait
// for them. A failure only costs that wait, with a warning.
func (s *ReceiverStream[K, V]) evictPrevious(ctx context.Context) {
	cfg := &s.cfg
	var dead []kafkago.LeaveGroupRequestMember
	err := s.cl.retry(ctx, nil, fmt.Sprintf("describing consumer group %q", cfg.groupID), func(ctx context.Context) error {
		resp, err := s.cl.client().DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{cfg.groupID}})
		if err != nil {
			return err
		}
		dead = nil
		for _, g := range resp.Groups {
			if g.Error != nil && !errors.Is(g.Error, kafkago.GroupIdNotFound) {
				return g.Error
			}
			for _, m := range g.Members {
				if m.ClientID == s.member {
					dead = append(dead, kafkago.LeaveGroupRequestMember{ID: m.MemberID})
				}
			}
		}
		return nil
	})
	if err == nil && len(dead) > 0 {
		err = s.cl.retry(ctx, nil, fmt.Sprintf("removing the members %v from consumer group %q", dead, cfg.groupID), func(ctx context.Context) error {
			resp, err := s.cl.client().LeaveGroup(ctx, &kafkago.LeaveGroupRequest{GroupID: cfg.groupID, Members: dead})
			if err == nil {
				err = resp.Error
			}
			return err
		})
	}
	switch {
	case ctx.Err() != nil:
	case err != nil:
		cfg.logger.Warn("kafka: receiver stream could not remove the group members its previous run left: the group waits for their session to time out",
			"group", cfg.groupID, "client_id", s.member, "session_timeout", cfg.sessionTimeout, "error", err)
	case len(dead) > 0:
		cfg.logger.Info("kafka: receiver stream removed the group members its previous run left", "group", cfg.groupID, "client_id", s.member, "members", len(dead))
	}
}

// runGeneration runs the receivers of gen until it ends (gctx is done) or the
// stream stops (ctx is), then stores what they received and commits it with gen, so
// that the next owner of a partition starts after it.
func (s *ReceiverStream[K, V]) runGeneration(ctx, gctx context.Context, gen *generation) {
	stopWake := context.AfterFunc(gctx, s.wake)
	defer stopWake()
	s.setGeneration(gen)
	var wg sync.WaitGroup
	for _, topic := range s.topicList() {
		var parts []TopicPartition
		for _, tp := range gen.assigned {
			if tp.Topic == topic {
				parts = append(parts, tp)
			}
		}
		n := s.topics[topic]
		for i := range n {
			var mine []TopicPartition
			for j := i; j < len(parts); j += n {
				mine = append(mine, parts[j])
			}
			if len(mine) > 0 {
				wg.Go(func() { s.receive(gctx, gen, mine) })
			}
		}
	}
	<-gctx.Done()
	wg.Wait()
	fctx := ctx
	if ctx.Err() != nil { // stopping: what was stored is committed, within a poll timeout
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.cfg.pollTimeout)
		defer cancel()
	} else {
		s.cut()
	}
	s.commitPending(fctx)
	s.setGeneration(nil)
}

// setGeneration makes gen the generation the receivers read in (nil between
// generations). The offsets to commit, the positions and the outages of partitions
// gen does not assign to the stream are dropped: their next owner starts at the
// committed offset.
func (s *ReceiverStream[K, V]) setGeneration(gen *generation) {
	s.mu.Lock()
	s.gen = gen
	if gen != nil {
		maps.DeleteFunc(s.pending, func(tp TopicPartition, _ int64) bool { return !gen.owns(tp) })
		maps.DeleteFunc(s.pos, func(tp TopicPartition, _ int64) bool { return !gen.owns(tp) })
		owned := map[string]bool{}
		for _, tp := range gen.assigned {
			owned[fetchWhat(tp)] = true
		}
		maps.DeleteFunc(s.outages, func(what string, _ *recvOutage) bool { return strings.HasPrefix(what, "fetch ") && !owned[what] })
	}
	s.notifyLocked()
	s.mu.Unlock()
	if gen == nil {
		s.failing(s.groupWhat(), errors.New("rebalancing"), false)
		return
	}
	s.recovered(s.groupWhat())
	s.cfg.logger.Info("kafka: receiver stream assigned partitions", "group", s.cfg.groupID, "generation", gen.id,
		"member", gen.memberID, "partitions", fmt.Sprint(gen.assigned))
}

// fetchWhat is the outage of a partition that cannot be fetched.
func fetchWhat(tp TopicPartition) string { return "fetch " + tp.String() }

// receive fetches parts, assigned to the stream in gen (ctx is for gen), into the
// current records until ctx ends.
func (s *ReceiverStream[K, V]) receive(ctx context.Context, gen *generation, parts []TopicPartition) {
	pos := map[TopicPartition]int64{}
	var reset []TopicPartition
	s.mu.Lock()
	for _, tp := range parts {
		if off, ok := s.pos[tp]; ok { // kept from the previous generation
			pos[tp] = off
		} else if off, ok := gen.start[tp]; ok {
			pos[tp], s.pos[tp] = off, off
		} else {
			reset = append(reset, tp)
		}
	}
	s.mu.Unlock()
	backoff := 100 * time.Millisecond
	// retry records that tps cannot be fetched (warning for the first only: one
	// warning for one failure) and waits to try again, false if ctx ends.
	retry := func(err error, tps ...TopicPartition) bool {
		for i, tp := range tps {
			s.failing(fetchWhat(tp), err, i == 0)
		}
		ok := sleep(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
		return ok
	}
	if len(reset) > 0 && s.cfg.reset == None {
		s.fail(fmt.Errorf("kafka.ReceiverStream: no committed offset for %v in group %q, and OffsetReset(None)", reset, s.cfg.groupID))
		return
	}
	for ctx.Err() == nil {
		ends, err := s.cl.offsets(ctx, nil, parts)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !retry(err, parts...) {
				return
			}
			continue
		}
		read, failed := false, false
		for _, tp := range parts {
			b := ends[tp]
			off, ok := pos[tp]
			if !ok { // nothing committed: where the reset policy says
				off = b.end
				if s.cfg.reset == Earliest {
					off = b.first
				}
				pos[tp] = off
				s.setPos(tp, off)
			}
			if off > b.end { // the partition ends before what was received: recreated, or truncated
				if off, err = s.resetOffset(tp, off, b); err != nil {
					s.fail(err)
					return
				}
				pos[tp] = off
				s.setPos(tp, off)
			}
			if off >= b.end {
				continue
			}
			err := s.cl.read(ctx, nil, OffsetRange{Topic: tp.Topic, Partition: tp.Partition, From: off, Until: b.end}, func(r *raw) bool {
				return s.add(ctx, tp, r)
			})
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrDataLoss) {
				s.fail(fmt.Errorf("kafka.ReceiverStream: %w", err))
				return
			}
			if err != nil {
				failed = true
				if !retry(err, tp) {
					return
				}
				break
			}
			pos[tp] = b.end // read, or skipped as lost (FailOnDataLoss(false))
			s.setPos(tp, b.end)
			read = true
		}
		if failed {
			continue
		}
		for _, tp := range parts {
			s.recovered(fetchWhat(tp))
		}
		backoff = 100 * time.Millisecond
		if !read && !sleep(ctx, 100*time.Millisecond) { // nothing new: poll again soon
			return
		}
	}
}

// resetOffset returns where to go on in tp, whose log (b) ends before off, the offset
// to receive next, by the reset policy, with a warning.
func (s *ReceiverStream[K, V]) resetOffset(tp TopicPartition, off int64, b bounds) (int64, error) {
	if s.cfg.reset == None {
		return 0, fmt.Errorf("kafka.ReceiverStream: %v ends at offset %d, before %d, the next to receive (the topic was recreated or its log truncated), and OffsetReset(None)", tp, b.end, off)
	}
	next := b.end
	if s.cfg.reset == Earliest {
		next = b.first
	}
	s.cfg.logger.Warn("kafka: a partition ends before the offset to receive next (the topic was recreated or its log truncated): going on at the reset offset",
		"partition", tp.String(), "end", b.end, "next", off, "reset", s.cfg.reset.String(), "offset", next)
	return next, nil
}

// setPos sets the next offset to receive of tp.
func (s *ReceiverStream[K, V]) setPos(tp TopicPartition, off int64) {
	s.mu.Lock()
	s.pos[tp] = off
	s.mu.Unlock()
}

// add appends a fetched record of tp to the current records, first waiting while the
// memory budget is full. It returns false, adding nothing, once ctx ends (the
// generation the record was fetched in).
func (s *ReceiverStream[K, V]) add(ctx context.Context, tp TopicPartition, r *raw) bool {
	w := wireRecord{Topic: tp.Topic, Partition: tp.Partition, Offset: r.offset, Time: r.time,
		Key: bytes.Clone(r.key), Value: bytes.Clone(r.value)}
	for _, h := range r.headers {
		w.Headers = append(w.Headers, Header{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	size := w.size()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.bytes+size > s.cfg.recv.budget && len(s.current) > 0 && ctx.Err() == nil {
		s.space.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	s.current = append(s.current, w)
	s.bytes += size
	s.pos[tp] = r.offset + 1
	s.notifyLocked()
	return true
}

// commitLoop commits the stored blocks' offsets whenever a cut asks, until ctx ends.
func (s *ReceiverStream[K, V]) commitLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.commits:
			s.commitPending(ctx)
		}
	}
}

// commitPending commits the offsets of the stored blocks with the current generation,
// for the partitions it assigns to the stream. A failed commit is logged and tried
// again with the next block; until then, a restart or a rebalance gives the records
// again (at least once). Between generations nothing is committed: the next
// generation commits what is still the stream's.
func (s *ReceiverStream[K, V]) commitPending(ctx context.Context) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	gen := s.gen
	offsets := maps.Clone(s.pending)
	s.mu.Unlock()
	if gen == nil {
		return
	}
	maps.DeleteFunc(offsets, func(tp TopicPartition, _ int64) bool { return !gen.owns(tp) })
	if len(offsets) == 0 {
		return
	}
	err := s.cl.commit(ctx, nil, s.cfg.groupID, gen.id, gen.memberID, offsets)
	if err != nil {
		if ctx.Err() == nil && time.Since(s.commitWarned) >= warnEvery {
			s.commitWarned = time.Now()
			s.cfg.logger.Warn("kafka: receiver stream could not commit; it tries again with the next block (until then a restart or a rebalance gives these records again: at least once)",
				"group", s.cfg.groupID, "generation", gen.id, "offsets", fmt.Sprint(offsets), "error", err)
		}
		return
	}
	s.cfg.tellCommit(offsets, false)
	s.mu.Lock()
	for tp, off := range offsets {
		if s.pending[tp] == off {
			delete(s.pending, tp)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// sleep waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
