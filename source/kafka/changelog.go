package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/errfmt"
)

// ErrChangelogMissing is wrapped by the error of a batch that needs a state's
// changelog topic while the topic does not exist although the consumer group has
// committed offsets: the state it held is gone, and starting from an empty state
// would silently give wrong answers.
var ErrChangelogMissing = errors.New("kafka: changelog topic missing")

// ErrFenced is wrapped by the error of a batch whose commit Kafka refused because
// the member no longer owns its partitions (its group generation ended: it was too
// slow, or a zombie): its transaction is aborted and its state changes rolled back.
var ErrFenced = errors.New("kafka: fenced")

// markerKey is the key of the record each committed batch writes in the changelog
// partition of each task it owned: 0xc1 is the one byte msgpack never uses, so no
// encoded key starts with it. A transaction always has a record, so that the producer
// ends it (a transaction of offsets only would be left to time out).
var markerKey = []byte("\xc1spate-batch")

// changelogs is a keyed stream's state in Kafka: each stateful stream over the
// stream's task partitioner has a compacted topic, one partition per task. Every
// batch's state changes and its source offsets are committed in one transaction, so
// the changelogs hold exactly the changes of the batches whose offsets are
// committed; a task gained is restored from its changelog partitions (read
// committed) before the batch that first processes it, and a task lost is dropped.
type changelogs struct {
	s    *streamState
	part func() dstream.TaskPartitioner // the task partitioner, set when Run starts (nil: no state)
	tm   *txnManager                    // the Context's transaction

	mu     sync.Mutex
	reader *Client           // read_committed, for restores
	admin  *kgo.Client       // for OffsetFetch with RequireStable
	topics map[string]string // state name → changelog topic
	// offsets is, per changelog topic and task, the next changelog offset the
	// task's state reflects (a local copy saved now is valid from there);
	// pending, the offsets of the batch being committed, kept once it is.
	offsets, pending map[string]map[int]int64
	had              []int // the tasks of the last batch prepared
}

// streamState is what changelogs needs of its direct stream.
type streamState struct {
	cfg     *config
	sctx    *dstream.Context
	name    func() string
	batch   func(t time.Time) (ranges []OffsetRange, gen groupGen)
	sources func(all map[string]int) []string // the stream's topics among all
	client  func() *Client
	forget  func() // forgets the stream's positions
}

// groupGen is the group generation a batch was planned in.
type groupGen struct {
	id     int32
	member string
}

// changelogTopic names the changelog of state name for group: Kafka allows
// letters, digits, '.', '_' and '-' in topic names.
func changelogTopic(group, name string) string {
	return topicChars.ReplaceAllString(group+"-"+name+"-changelog", "_")
}

var topicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

// start opens the read_committed client of the restores, and the kgo client that
// reads offsets with RequireStable (the sources start before the transaction's
// producer).
func (c *changelogs) start() error {
	rcfg := *c.s.cfg
	rcfg.isolation = ReadCommitted
	reader := newClient(rcfg)
	admin, err := newProducer(rcfg)
	if err != nil {
		reader.Close()
		return err
	}
	c.mu.Lock()
	c.reader, c.admin = reader, admin
	c.mu.Unlock()
	return nil
}

func (c *changelogs) stop() error {
	c.mu.Lock()
	reader, admin := c.reader, c.admin
	c.reader, c.admin = nil, nil
	c.mu.Unlock()
	if admin != nil {
		admin.Close()
	}
	if reader != nil {
		return reader.Close()
	}
	return nil
}

// tasksOf returns the partition numbers of ranges, sorted.
func tasksOf(ranges []OffsetRange) []int {
	var ts []int
	for _, r := range ranges {
		ts = append(ts, r.Partition)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// prepare moves the state of the tasks batch t gained or lost, before it runs.
func (c *changelogs) prepare(ctx context.Context, t time.Time) error {
	states := c.s.sctx.TaskStates(c.part())
	if len(states) == 0 {
		return nil
	}
	if err := c.ensureTopics(ctx, states); err != nil {
		return err
	}
	ranges, _ := c.s.batch(t)
	tasks := tasksOf(ranges)
	c.mu.Lock()
	had := c.had
	c.mu.Unlock()
	for _, st := range states {
		for _, task := range had {
			if !slices.Contains(tasks, task) {
				c.saveLocal(st, task)
				if err := st.Drop(task); err != nil {
					return err
				}
			}
		}
		for _, task := range tasks {
			if slices.Contains(had, task) {
				continue
			}
			if err := c.restore(ctx, st, task); err != nil {
				return err
			}
		}
	}
	c.mu.Lock()
	c.had = tasks
	c.mu.Unlock()
	return nil
}

// restore reads task's changelog partition of st, from its start (or from the
// offset of the task's local copy, read first) to its last stable offset, into st's
// store.
func (c *changelogs) restore(ctx context.Context, st dstream.TaskState, task int) error {
	c.mu.Lock()
	topic, reader := c.topics[st.Name()], c.reader
	c.mu.Unlock()
	cfg := c.s.cfg
	began := time.Now()
	tp := TopicPartition{topic, task}
	b, err := reader.offsets(ctx, nil, []TopicPartition{tp})
	if err != nil {
		return fmt.Errorf("kafka: restoring %s task %d from %v: %w", st.Name(), task, tp, err)
	}
	r := OffsetRange{Topic: topic, Partition: task, From: b[tp].first, Until: b[tp].end}
	var local localCopy
	if cfg.stateDir != "" {
		lc, ok, err := loadLocal(cfg.stateDir, topic, task)
		switch {
		case err != nil:
			cfg.logger.Warn("kafka: the local copy of a task's state cannot be read: restoring from the whole changelog",
				"state", st.Name(), "task", task, "dir", localDir(cfg.stateDir, topic, task), "error", err)
		case ok && lc.Offset >= r.From && lc.Offset <= r.Until:
			local, r.From = lc, lc.Offset
		case ok:
			cfg.logger.Warn("kafka: the local copy of a task's state is outside its changelog (recreated, or truncated): restoring from the whole changelog",
				"state", st.Name(), "task", task, "copy_offset", lc.Offset, "changelog_start", r.From, "changelog_end", r.Until)
		}
	}
	// Progress counts the local copy's keys, then the changelog's records by
	// offset (its transaction markers and compacted records count too); an empty
	// changelog reports none (nil does nothing).
	var progress *dstream.ProgressReporter
	if total := int64(len(local.Keys)) + r.Count(); total > 0 {
		progress = c.s.sctx.StartProgress("kafka.restore", fmt.Sprintf("%s task %d from %v", st.Name(), task, r), total, "records")
	}
	var readErr error
	records := 0
	pos := r.From // the changelog offset progress has counted to
	err = st.Restore(task, func(yield func([]byte, []byte) bool) {
		for i, k := range local.Keys {
			if (i+1)%restoreProgressEvery == 0 {
				progress.Add(restoreProgressEvery)
			}
			if !yield(k, local.Values[i]) {
				return
			}
		}
		if n := len(local.Keys) % restoreProgressEvery; n > 0 {
			progress.Add(int64(n))
		}
		readErr = reader.read(ctx, nil, r, func(raw *raw) bool {
			if records++; records%restoreProgressEvery == 0 {
				progress.Add(raw.offset + 1 - pos)
				pos = raw.offset + 1
			}
			if len(raw.key) > 0 && raw.key[0] == markerKey[0] {
				return true
			}
			var v []byte
			if raw.value != nil {
				v = slices.Clone(raw.value)
			}
			return yield(slices.Clone(raw.key), v)
		})
	})
	if err = errors.Join(readErr, err); err != nil {
		err = fmt.Errorf("kafka: restoring %s task %d from %v: %w", st.Name(), task, r, err)
		progress.Done(err)
		return err
	}
	progress.Add(r.Until - pos)
	progress.Done(nil)
	c.mu.Lock()
	setOffset(&c.offsets, topic, task, r.Until)
	c.mu.Unlock()
	info := RestoreInfo{State: st.Name(), Task: task, Changelog: tp, Records: int64(records), LocalKeys: len(local.Keys), Keys: st.Len(task), Took: time.Since(began)}
	cfg.logger.Info("kafka: restored a task's state", "state", info.State, "task", task,
		"changelog", tp.String(), "records", records, "from_local_copy", info.LocalKeys, "keys", info.Keys, "took", info.Took)
	if f := cfg.onRestore; f != nil {
		f(info)
	}
	return nil
}

// restoreProgressEvery is how many records a restore reads between counts of its
// progress (see dstream.ProgressReporter).
const restoreProgressEvery = 4096

// setOffset sets m[topic][task] = off, making the maps as needed.
func setOffset(m *map[string]map[int]int64, topic string, task int, off int64) {
	if *m == nil {
		*m = map[string]map[int]int64{}
	}
	if (*m)[topic] == nil {
		(*m)[topic] = map[int]int64{}
	}
	(*m)[topic][task] = off
}

// saveLocal keeps the local copy of st's task, if there is a StateDir and the
// changelog offset the task reflects is known; a failure is logged (a restore then
// reads the whole changelog).
func (c *changelogs) saveLocal(st dstream.TaskState, task int) {
	cfg := c.s.cfg
	c.mu.Lock()
	topic := c.topics[st.Name()]
	off, known := c.offsets[topic][task]
	c.mu.Unlock()
	if cfg.stateDir == "" || !known {
		return
	}
	if err := saveLocal(cfg.stateDir, topic, st, task, off); err != nil {
		cfg.logger.Warn("kafka: the local copy of a task's state cannot be saved: its next restore reads the whole changelog",
			"state", st.Name(), "task", task, "dir", localDir(cfg.stateDir, topic, task), "error", err)
	}
}

// completed keeps the changelog offsets of a batch committed.
func (c *changelogs) completed(info dstream.BatchInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if info.Err == nil {
		for topic, tasks := range c.pending {
			for task, off := range tasks {
				setOffset(&c.offsets, topic, task, off)
			}
		}
	}
	c.pending = nil
}

// saveAll keeps the local copies of the tasks held, when the stream stops.
func (c *changelogs) saveAll() {
	if c.s.cfg.stateDir == "" {
		return
	}
	c.mu.Lock()
	had := c.had
	c.mu.Unlock()
	for _, st := range c.s.sctx.TaskStates(c.part()) {
		for _, task := range had {
			c.saveLocal(st, task)
		}
	}
}

// ensureTopics finds or creates the changelog topic of each state, once: compacted,
// one partition per task. A changelog missing while the group has committed offsets
// is an error (ErrChangelogMissing), as is one with another partition count.
func (c *changelogs) ensureTopics(ctx context.Context, states []dstream.TaskState) error {
	c.mu.Lock()
	known := len(c.topics) == len(states)
	c.mu.Unlock()
	if known {
		return nil
	}
	cl, cfg := c.s.client(), c.s.cfg
	all, err := cl.partitions(ctx, nil)
	if err != nil {
		return err
	}
	topics := map[string]string{}
	var create []kafkago.TopicConfig
	for _, st := range states {
		topic := changelogTopic(cfg.groupID, st.Name())
		for name, other := range topics {
			if other == topic {
				return fmt.Errorf("kafka: states %q and %q would share the changelog topic %s: name one of them (dstream.Named)", name, st.Name(), topic)
			}
		}
		topics[st.Name()] = topic
		switch n, ok := all[topic]; {
		case ok && n != st.Tasks():
			return fmt.Errorf("kafka: the changelog %s of %s has %d partitions, want one per task (%d)", topic, st.Name(), n, st.Tasks())
		case !ok:
			create = append(create, kafkago.TopicConfig{Topic: topic, NumPartitions: st.Tasks(), ReplicationFactor: -1,
				ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}})
		}
	}
	if len(create) > 0 {
		var tps []TopicPartition
		for _, topic := range c.s.sources(all) {
			for p := range all[topic] {
				tps = append(tps, TopicPartition{topic, p})
			}
		}
		committed, err := cl.committed(ctx, nil, cfg.groupID, tps)
		if err != nil {
			return err
		}
		if len(committed) > 0 {
			// kafka-go serves metadata from a cache: a topic another member just
			// created may not be in it yet. Ask again with fresh connections.
			cl.refresh()
			if all, err = cl.partitions(ctx, nil); err != nil {
				return err
			}
			create = slices.DeleteFunc(create, func(tc kafkago.TopicConfig) bool {
				_, ok := all[tc.Topic]
				return ok
			})
		}
		if len(committed) > 0 && len(create) > 0 {
			return fmt.Errorf("%w: %s (group %q has committed offsets for %v, so its state existed; brokers %v)",
				ErrChangelogMissing, create[0].Topic, cfg.groupID, slices.SortedFunc(maps.Keys(committed), compareTopicPartitions), cfg.brokers)
		}
		if len(create) > 0 {
			if err := cl.createTopics(ctx, create); err != nil {
				return err
			}
			cfg.logger.Info("kafka: created changelog topics", "topics", len(create), "group", cfg.groupID)
		}
	}
	for _, topic := range topics {
		c.tm.manual.Store(topic, true)
	}
	c.mu.Lock()
	c.topics = topics
	c.mu.Unlock()
	return nil
}

// commit writes batch t's state changes of the tasks it owned to their changelogs
// and adds its source offsets to the Context's transaction of the batch, which the
// transaction's CommitBatch commits after every source's; a refusal by the group (the
// member lost the tasks) fails with ErrFenced, and the batch's transaction aborts.
func (c *changelogs) commit(ctx context.Context, t time.Time) error {
	states := c.s.sctx.TaskStates(c.part())
	ranges, gen := c.s.batch(t)
	tasks := tasksOf(ranges)
	if len(tasks) == 0 {
		return nil
	}
	c.mu.Lock()
	topics := c.topics
	c.mu.Unlock()
	var recs []*kgo.Record
	for _, st := range states {
		for _, task := range tasks {
			err := st.Changes(task, func(k, v []byte) error {
				recs = append(recs, &kgo.Record{Topic: topics[st.Name()], Partition: int32(task), Key: k, Value: v})
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	read := false
	for _, r := range ranges {
		read = read || r.Count() > 0
	}
	if len(recs) == 0 && !read {
		return nil // nothing changed and the offsets stay: nothing to commit
	}
	changes := len(recs)
	if len(states) > 0 {
		marker := []byte(t.UTC().Format(time.RFC3339Nano))
		for _, task := range tasks {
			recs = append(recs, &kgo.Record{Topic: topics[states[0].Name()], Partition: int32(task), Key: markerKey, Value: marker})
		}
	}
	offsets := map[TopicPartition]int64{}
	for _, r := range ranges {
		offsets[r.TopicPartition()] = r.Until
	}
	err := c.tm.produce(ctx, recs)
	if err == nil {
		c.mu.Lock()
		for _, r := range recs { // their offsets, once the transaction commits
			if cur, ok := c.pending[r.Topic][int(r.Partition)]; !ok || r.Offset+1 > cur {
				setOffset(&c.pending, r.Topic, int(r.Partition), r.Offset+1)
			}
		}
		c.mu.Unlock()
		err = c.tm.commitOffsets(ctx, c.s.cfg.groupID, gen, offsets, func() { c.s.cfg.tellCommit(offsets, true) })
	}
	if errors.Is(err, ErrFenced) {
		if rerr := c.reset(states); rerr != nil {
			return fmt.Errorf("kafka: committing batch %v: %w (and dropping the state: %w)", errfmt.Time(t), err, rerr)
		}
		// The member goes on with its next assignment; the batch's records are
		// read again from the committed offsets, here or by another member.
		return fmt.Errorf("kafka: committing batch %v: %w: %w", errfmt.Time(t), dstream.ErrBatchAborted, err)
	}
	if err != nil {
		return fmt.Errorf("kafka: committing batch %v (%d state changes, offsets %v): %w", errfmt.Time(t), changes, offsets, err)
	}
	return nil
}

// reset forgets what the member held when it was fenced: the state of every task
// (restored again from the changelogs for the tasks it gets next) and the stream's
// positions (its partitions start again at their committed offsets).
func (c *changelogs) reset(states []dstream.TaskState) error {
	c.mu.Lock()
	had := c.had
	c.had = nil
	c.mu.Unlock()
	var errs []error
	for _, st := range states {
		for _, task := range had {
			errs = append(errs, st.Drop(task))
		}
	}
	c.s.forget()
	c.s.cfg.logger.Warn("kafka: fenced by the consumer group: dropped the state of its tasks and its positions; going on with its next assignment",
		"group", c.s.cfg.groupID, "stream", c.s.name(), "tasks", had)
	return errors.Join(errs...)
}

// stableOffsets returns the group's committed offsets of tps once no transaction
// that commits offsets of theirs is open (OffsetFetch with RequireStable, KIP-447):
// where a task gained starts must include the last batch its previous owner
// committed, or the batch would be processed twice. kafka-go's group fetches its
// offsets without waiting. It waits up to UnavailableTimeout.
func (c *changelogs) stableOffsets(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	c.mu.Lock()
	prod := c.admin
	c.mu.Unlock()
	cfg := c.s.cfg
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group, req.RequireStable = cfg.groupID, true
	byTopic := map[string][]int32{}
	for _, tp := range tps {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], int32(tp.Partition))
	}
	for topic, ps := range byTopic {
		req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: topic, Partitions: ps})
	}
	deadline := time.Now().Add(cfg.unavailable)
	for attempt := 1; ; attempt++ {
		out, err := fetchStable(ctx, prod, req)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, kerr.UnstableOffsetCommit) && !kerr.IsRetriable(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("kafka: reading the offsets group %q committed for %v: %w", cfg.groupID, tps, err)
		}
		if !sleep(ctx, backoff(attempt)) {
			return nil, ctx.Err()
		}
	}
}

// fetchStable sends req once and returns the committed offsets it answers.
func fetchStable(ctx context.Context, prod *kgo.Client, req *kmsg.OffsetFetchRequest) (map[TopicPartition]int64, error) {
	resp, err := req.RequestWith(ctx, prod)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[TopicPartition]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, err)
			}
			if rp.Offset >= 0 {
				out[TopicPartition{rt.Topic, int(rp.Partition)}] = rp.Offset
			}
		}
	}
	return out, nil
}

// joinTxn makes s commit its offsets (and, with part, the state of the stateful
// streams over part) in the transaction of its Context's batches, if it reads under
// Subscribe in a group. s.mu is held.
func (s *DirectStream[K, V]) joinTxn(part func() dstream.TaskPartitioner) {
	if _, sub := s.strategy.(subscribe); !sub || s.cfg.groupID == "" {
		return
	}
	if s.changes != nil {
		if part != nil {
			s.changes.part = part
		}
		return
	}
	if part == nil {
		part = func() dstream.TaskPartitioner { return nil }
	}
	s.changes = &changelogs{part: part, tm: txnOf(s.sctx, s.cfg), s: &streamState{
		cfg: &s.cfg, sctx: s.sctx, name: s.stream.String,
		batch: func(t time.Time) ([]OffsetRange, groupGen) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.ranges[t], s.gens[t]
		},
		sources: s.strategy.topicsIn,
		client: func() *Client {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.cl
		},
		forget: func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			clear(s.pos)
		},
	}}
}
