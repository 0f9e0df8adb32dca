package kafka_test

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// member is one Context of a consumer group, committing after each batch, and what
// it read.
type member struct {
	r         *run
	s         *kafka.DirectStream[string, string]
	logs      *logRecorder
	mu        sync.Mutex
	read      map[string]int
	lastParts []int // the partitions of its last batch with an assignment
}

func newMember(t *testing.T, b *kafkatest.Broker, strategy kafka.ConsumerStrategy) *member {
	m := &member{r: newRun(t), logs: newLogRecorder(), read: map[string]int{}}
	s := kafka.NewDirectStream(m.r.c, strategy, kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(b.Addrs()...), kafka.GroupID("shared"), kafka.OffsetReset(kafka.Earliest),
		kafka.SessionTimeout(6*time.Second), kafka.MetadataRefresh(200*time.Millisecond), kafka.WithLogger(m.logs.logger()))
	m.s = s
	t.Cleanup(func() {
		if t.Failed() { // the member's log, which the recorder keeps from the test output
			for _, rec := range m.logs.matching(0, anyLevel, "") {
				t.Log(rec)
			}
		}
	})
	s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
		var col collector
		if err := col.foreach(ctx, batch); err != nil {
			return err
		}
		m.mu.Lock()
		for _, v := range col.values() {
			m.read[v]++
		}
		if len(batch.Ranges) > 0 {
			m.lastParts = m.lastParts[:0]
			for _, rg := range batch.Ranges {
				m.lastParts = append(m.lastParts, rg.Partition)
			}
		}
		m.mu.Unlock()
		s.CommitAsync(batch.Ranges, nil)
		return nil
	})
	m.r.start()
	return m
}

func (m *member) parts() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lastParts)
}

// haveRead reports whether the members, together, read every value in want.
func haveRead(want []string, members ...*member) bool {
	for _, v := range want {
		if !slices.ContainsFunc(members, func(m *member) bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.read[v] > 0
		}) {
			return false
		}
	}
	return true
}

// batch runs one batch of the member. A batch that read nothing because the group was
// rebalancing is followed by a wait (30s at most) until the group assigns the member
// partitions again: the group forms in real time, and batches run back to back
// meanwhile would only move the manual clock, by an interval each, towards
// UnavailableTimeout (5 minutes: 300 empty batches, a fraction of a second when
// they are empty).
func (m *member) batch(t *testing.T) {
	t.Helper()
	mark := m.logs.mark()
	info, err := m.r.batchInfo()
	if err != nil {
		t.Fatal(err)
	}
	if in := inputOf(info, m.s); in.Unavailable != nil && strings.Contains(in.Unavailable.Error(), "has no partitions assigned") {
		m.logs.await(t, mark, anyLevel, "kafka: partitions assigned")
	}
}

// until runs batches of the members, in turn, until cond holds (30s at most).
func until(t *testing.T, cond func() bool, members ...*member) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30s")
		}
		for _, m := range members {
			m.batch(t)
		}
	}
}

// TestTwoContextsShareAGroupAndOneTakesOver runs two Contexts with Subscribe in one
// group: they split the partitions; when one stops, the other takes all of them over,
// and every record produced along the way is read (at least once, and here exactly
// once, since each commits after its output and a graceful stop commits the last).
func TestTwoContextsShareAGroupAndOneTakesOver(t *testing.T) {
	const parts = 4
	b := kafkatest.New(t, kafkatest.Topic("events", parts))
	produced := 0
	more := func(n int) {
		produce(t, b, "events", parts, produced, n, "v")
		produced += n
	}
	more(40)
	a := newMember(t, b, kafka.Subscribe("events"))
	until(t, func() bool { return len(a.parts()) == parts }, a)
	more(40)
	c := newMember(t, b, kafka.Subscribe("events"))
	split := func() bool {
		pa, pc := a.parts(), c.parts()
		return len(pa) > 0 && len(pc) > 0 && len(pa)+len(pc) == parts && !slices.ContainsFunc(pa, func(p int) bool { return slices.Contains(pc, p) })
	}
	until(t, split, a, c)
	t.Logf("split: %v and %v", a.parts(), c.parts())
	more(40)
	until(t, func() bool { return haveRead(values(0, produced), a, c) }, a, c)
	if err := a.r.stop(); err != nil {
		t.Fatal(err)
	}
	more(40)
	until(t, func() bool { return len(c.parts()) == parts }, c)
	until(t, func() bool { return haveRead(values(produced-40, produced), c) }, c)
	if err := c.r.stop(); err != nil {
		t.Fatal(err)
	}
	dups := 0
	for i := range produced {
		v := "v" + strconv.Itoa(i)
		n := a.read[v] + c.read[v]
		if n == 0 {
			t.Errorf("record %s was lost", v)
		}
		dups += max(n-1, 0)
	}
	if dups > 0 {
		t.Logf("%d records read twice (allowed: delivery is at least once)", dups)
	}
}

// values returns "v<i>" for i in [from, to), the values produce writes with prefix v.
func values(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, "v"+strconv.Itoa(i))
	}
	return out
}

// TestSubscribePatternPicksUpNewTopics subscribes to a pattern and creates a matching
// topic while the stream runs.
func TestSubscribePatternPicksUpNewTopics(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("logs-a", 1), kafkatest.Topic("other", 1))
	produce(t, b, "logs-a", 1, 0, 5, "a")
	produce(t, b, "other", 1, 0, 5, "o")
	m := newMember(t, b, kafka.SubscribePattern(regexp.MustCompile(`logs-.*`)))
	until(t, func() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.read) == 5 }, m)
	if err := b.CreateTopic("logs-b", 2); err != nil {
		t.Fatal(err)
	}
	produce(t, b, "logs-b", 2, 0, 6, "b")
	until(t, func() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.read) == 11 }, m)
	if err := m.r.stop(); err != nil {
		t.Fatal(err)
	}
	for v := range m.read {
		if v[0] == 'o' {
			t.Errorf("read %s from a topic that does not match", v)
		}
	}
}

// TestSubscribePatternMatchesWholeTopicNames checks that the pattern is anchored at
// both ends, as Kafka's and Spark's are: pat\d matches pat1, not xpat1 nor pat12.
func TestSubscribePatternMatchesWholeTopicNames(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("pat1", 1), kafkatest.Topic("xpat1", 1), kafkatest.Topic("pat12", 1))
	for _, topic := range []string{"pat1", "xpat1", "pat12"} {
		produce(t, b, topic, 1, 0, 1, topic+"-")
	}
	m := newMember(t, b, kafka.SubscribePattern(regexp.MustCompile(`pat\d`)))
	// The batch that reads pat1-0 reads every partition assigned to its end; two
	// more give a wrongly matched topic time to show.
	until(t, func() bool { return haveRead([]string{"pat1-0"}, m) }, m)
	m.batch(t)
	m.batch(t)
	if err := m.r.stop(); err != nil {
		t.Fatal(err)
	}
	var read []string
	for v := range m.read {
		read = append(read, v)
	}
	if !slices.Equal(read, []string{"pat1-0"}) {
		t.Errorf("read %v, want only pat1's record", read)
	}
}

// TestTheGroupAssignsWholeTasksToAContext runs two Contexts, each with a stream of
// topic "in" and one of topic "rekeyed", in one group: the group's balancer gives
// each Context the same partition numbers (tasks) of both topics, and splits the
// tasks between them.
func TestTheGroupAssignsWholeTasksToAContext(t *testing.T) {
	const parts = 4
	b := kafkatest.New(t, kafkatest.Topic("in", parts), kafkatest.Topic("rekeyed", parts))
	type replica struct {
		r     *run
		mu    sync.Mutex
		parts map[string][]int // per topic, the partitions of its last batch
	}
	start := func() *replica {
		x := &replica{r: newRun(t), parts: map[string][]int{}}
		for _, topic := range []string{"in", "rekeyed"} {
			s := kafka.NewDirectStream(x.r.c, kafka.Subscribe(topic), kafka.StringDeserializer(), kafka.StringDeserializer(),
				kafka.Brokers(b.Addrs()...), kafka.GroupID("shared"), kafka.SessionTimeout(6*time.Second),
				kafka.MetadataRefresh(200*time.Millisecond), kafka.UnavailableTimeout(time.Hour))
			s.ForeachBatch(func(ctx context.Context, batch kafka.Batch[string, string]) error {
				var ps []int
				for _, rg := range batch.Ranges {
					ps = append(ps, rg.Partition)
				}
				x.mu.Lock()
				x.parts[topic] = ps
				x.mu.Unlock()
				return nil
			})
		}
		x.r.start()
		return x
	}
	x, y := start(), start()
	split := func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		y.mu.Lock()
		defer y.mu.Unlock()
		xs, ys := x.parts["in"], y.parts["in"]
		return len(xs) > 0 && len(ys) > 0 && len(xs)+len(ys) == parts &&
			slices.Equal(xs, x.parts["rekeyed"]) && slices.Equal(ys, y.parts["rekeyed"]) &&
			!slices.ContainsFunc(xs, func(p int) bool { return slices.Contains(ys, p) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for !split() {
		if time.Now().After(deadline) {
			t.Fatalf("tasks not split whole between the Contexts within 30s: %v and %v", x.parts, y.parts)
		}
		for _, m := range []*replica{x, y} {
			if err := m.r.batch(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range []*replica{x, y} {
		if err := m.r.stop(); err != nil {
			t.Fatal(err)
		}
	}
}
