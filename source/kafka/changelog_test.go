package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// keyedCounts runs, on r, a keyed stream of "events" in group g whose
// UpdateStateByKey (named "counts") counts the records of each key, and returns
// the counts after each batch.
func keyedCounts(t *testing.T, r *run, b *kafkatest.Broker, opts ...kafka.StreamOpt) func() map[string]int {
	s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		append([]kafka.StreamOpt{kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest)}, opts...)...)
	counts := dstream.UpdateStateByKey(kafka.Keyed(s, kafka.StringSerializer()), func(vs []string, st ops.Maybe[int]) ops.Maybe[int] {
		return ops.Some(st.Value + len(vs))
	})
	return latest(dstream.Named(counts, "counts"))
}

// latest registers an output on s that keeps its last batch, and returns it as
// a map (nil before the first batch).
func latest(s *dstream.DStream[ops.KV[string, int]]) func() map[string]int {
	var (
		mu   sync.Mutex
		last map[string]int
	)
	dstream.ForeachRDD(s, func(ctx context.Context, c *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		kvs, err := rdd.Collect(ctx, c)
		m := map[string]int{}
		for _, kv := range kvs {
			m[kv.Key] = kv.Value
		}
		mu.Lock()
		last = m
		mu.Unlock()
		return err
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// A keyed stream's state is in a compacted changelog topic, written with the
// batch's offsets in one transaction: another process of the group restores it and
// goes on counting where the first stopped.
func TestKeyedStateSurvivesInItsChangelog(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	firstTwoBatches(t, b, func(r *run) func() map[string]int { return keyedCounts(t, r, b) })
	// The offsets were committed by the transactions.
	committed, err := b.Committed(context.Background(), "g", "events")
	if err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		if _, end, _ := b.Offsets("events", p); committed[p] != end {
			t.Errorf("events/%d: committed %d, want its end %d", p, committed[p], end)
		}
	}
	// The changelog is compacted, one partition per task.
	cfgs := describeTopic(t, b, "g-counts-changelog")
	if cfgs["cleanup.policy"] != "compact" {
		t.Errorf("the changelog's cleanup.policy is %q, want compact", cfgs["cleanup.policy"])
	}

	produceByKey(t, b, "events", 2, "ann", "dan")
	second := newRun(t)
	counts := keyedCounts(t, second, b)
	second.start()
	second.batches(1)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(counts()); got != "map[ann:3 bob:1 cid:1 dan:1]" {
		t.Errorf("second process: %s, want map[ann:3 bob:1 cid:1 dan:1] (restored, then counted)", got)
	}
}

// A windowed count over a keyed stream keeps, in its changelog, each key's counts
// of the window's batches: another process restores it, counts the batches the
// first one read in its windows, and lets them leave the windows in time.
func TestAWindowSurvivesInItsChangelog(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	windowed := func(r *run) func() map[string]int {
		s := kafka.NewDirectStream(r.c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
			kafka.Brokers(b.Addrs()...), kafka.GroupID("g"), kafka.OffsetReset(kafka.Earliest))
		ones := dstream.MapValues(kafka.Keyed(s, kafka.StringSerializer()), func(string) int { return 1 })
		return latest(dstream.Named(dstream.ReduceByKeyAndWindow(ones, ops.Sum[int], 3*interval, interval), "wcounts"))
	}
	firstTwoBatches(t, b, windowed)
	if cfgs := describeTopic(t, b, "g-wcounts-changelog"); cfgs["cleanup.policy"] != "compact" {
		t.Errorf("the window's changelog: cleanup.policy %q, want compact", cfgs["cleanup.policy"])
	}

	// The second process's first batch is batch 3: its window holds batches 1 to 3.
	produceByKey(t, b, "events", 2, "ann", "dan")
	second := newRunAt(t, epoch.Add(2*interval))
	counts := windowed(second)
	second.start()
	for _, want := range []string{
		"map[ann:3 bob:1 cid:1 dan:1]", // batches 1-3: 1 and 2 restored
		"map[ann:1 cid:1 dan:1]",       // batches 2-4: batch 1 left
		"map[ann:1 dan:1]",             // batches 3-5
		"map[]",                        // batches 4-6
	} {
		second.batches(1)
		if got := fmt.Sprint(counts()); got != want {
			t.Errorf("second process: %s, want %s", got, want)
		}
	}
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
}

// firstTwoBatches runs a first process of the job counts builds for two batches,
// ann, bob and ann produced before the first and cid before the second, and checks
// it counted them.
func firstTwoBatches(t *testing.T, b *kafkatest.Broker, counts func(*run) func() map[string]int) {
	t.Helper()
	produceByKey(t, b, "events", 2, "ann", "bob", "ann")
	first := newRun(t)
	last := counts(first)
	first.start()
	first.batches(1)
	produceByKey(t, b, "events", 2, "cid")
	first.batches(1)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(last()); got != "map[ann:2 bob:1 cid:1]" {
		t.Fatalf("first process: %s", got)
	}
}

// countOneBatch runs a first process of keyedCounts for one batch, which writes
// the counts of what b's events hold to the changelog.
func countOneBatch(t *testing.T, b *kafkatest.Broker) {
	t.Helper()
	first := newRun(t)
	keyedCounts(t, first, b)
	first.start()
	first.batches(1)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
}

// describeTopic returns the configuration of topic.
func describeTopic(t *testing.T, b *kafkatest.Broker, topic string) map[string]string {
	t.Helper()
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...), Transport: tr}
	resp, err := cl.DescribeConfigs(context.Background(), &kafkago.DescribeConfigsRequest{
		Resources: []kafkago.DescribeConfigRequestResource{{ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describing %s: %v", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	return out
}

// A changelog topic deleted while the group has committed offsets is an error, not
// an empty state.
func TestAMissingChangelogIsAnError(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	produceByKey(t, b, "events", 2, "ann")
	countOneBatch(t, b)
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...), Transport: tr}
	if _, err := cl.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: []string{"g-counts-changelog"}}); err != nil {
		t.Fatal(err)
	}
	second := newRun(t)
	keyedCounts(t, second, b)
	second.start()
	err := second.batch()
	if !errors.Is(err, kafka.ErrChangelogMissing) || !strings.Contains(err.Error(), "g-counts-changelog") {
		t.Fatalf("batch: %v, want ErrChangelogMissing naming g-counts-changelog", err)
	}
	second.stop()
}

// Two processes of a group share a keyed stream's tasks; each task's state moves
// with it, through its changelog, when the second joins and when the first leaves:
// at every step the counts the two hold together are exactly what was produced.
func TestKeyedStateFollowsItsTasksAcrossMembers(t *testing.T) {
	const parts = 4
	b := kafkatest.New(t, kafkatest.Topic("events", parts))
	want := map[string]int{}
	round := func(n int) {
		var keys []string
		for i := range n {
			k := fmt.Sprintf("k%02d", i)
			keys = append(keys, k)
			want[k]++
		}
		produceByKey(t, b, "events", parts, keys...)
	}
	type proc struct {
		r      *run
		counts func() map[string]int

		mu         sync.Mutex
		restored   []kafka.RestoreInfo
		rebalanced []kafka.RebalanceInfo
	}
	start := func() *proc {
		r := newRun(t)
		p := &proc{r: r}
		p.counts = keyedCounts(t, r, b,
			kafka.OnRestore(func(i kafka.RestoreInfo) { p.mu.Lock(); p.restored = append(p.restored, i); p.mu.Unlock() }),
			kafka.OnRebalance(func(i kafka.RebalanceInfo) { p.mu.Lock(); p.rebalanced = append(p.rebalanced, i); p.mu.Unlock() }))
		r.start()
		return p
	}
	// exact reports whether the processes' latest counts hold each key once, with
	// its count.
	exact := func(ps ...*proc) bool {
		got := map[string]int{}
		for _, p := range ps {
			for k, n := range p.counts() {
				if _, twice := got[k]; twice {
					return false
				}
				got[k] = n
			}
		}
		return fmt.Sprint(got) == fmt.Sprint(want)
	}
	until := func(what string, cond func() bool, ps ...*proc) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				var got []map[string]int
				for _, p := range ps {
					got = append(got, p.counts())
				}
				t.Fatalf("%s: not reached within 30s: counts %v, want %v", what, got, want)
			}
			for _, p := range ps {
				if err := p.r.batch(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	round(10)
	a := start()
	until("one process", func() bool { return exact(a) }, a)
	bb := start()
	round(10)
	until("two processes", func() bool { return len(a.counts()) > 0 && len(bb.counts()) > 0 && exact(a, bb) }, a, bb)
	if err := a.r.stop(); err != nil {
		t.Fatal(err)
	}
	round(10)
	until("the second alone", func() bool { return exact(bb) }, bb)
	if err := bb.r.stop(); err != nil {
		t.Fatal(err)
	}
	// The second restored every task when it joined (those it got) and again when
	// the first left (those it gained), keys included; it heard of the first
	// generation it processed in after a rebalance, with its pause.
	bb.mu.Lock()
	defer bb.mu.Unlock()
	tasks, keys := map[int]bool{}, 0
	for _, i := range bb.restored {
		tasks[i.Task] = true
		keys += i.Keys
		if i.State != "counts" || i.Changelog.Topic != "g-counts-changelog" || i.Changelog.Partition != i.Task {
			t.Errorf("restore %+v", i)
		}
	}
	if len(tasks) != parts || keys == 0 {
		t.Errorf("the second restored tasks %v with %d keys, want all %d tasks, some keys", tasks, keys, parts)
	}
	if len(bb.rebalanced) == 0 || bb.rebalanced[len(bb.rebalanced)-1].Pause <= 0 || len(bb.rebalanced[len(bb.rebalanced)-1].Partitions) != parts {
		t.Errorf("the second heard of rebalances %+v, want the last with all %d partitions and a pause", bb.rebalanced, parts)
	}
}

// With StateDir, a process that stops keeps a local copy of its tasks' state with
// the changelog offset it reflects; the next restores read the copy and only the
// changelog records after it.
func TestALocalCopySparesTheWholeChangelog(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	dir := t.TempDir()
	produceByKey(t, b, "events", 2, "ann", "bob", "ann", "cid", "dan")
	var mu sync.Mutex
	var restores []kafka.RestoreInfo
	opts := []kafka.StreamOpt{kafka.StateDir(dir), kafka.OnRestore(func(i kafka.RestoreInfo) { mu.Lock(); restores = append(restores, i); mu.Unlock() })}
	first := newRun(t)
	keyedCounts(t, first, b, opts...)
	first.start()
	first.batches(2)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	restores = nil
	mu.Unlock()

	produceByKey(t, b, "events", 2, "ann")
	second := newRun(t)
	counts := keyedCounts(t, second, b, opts...)
	second.start()
	second.batches(1)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(counts()); got != "map[ann:3 bob:1 cid:1 dan:1]" {
		t.Errorf("counts %s, want map[ann:3 bob:1 cid:1 dan:1]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	local := 0
	for _, i := range restores {
		local += i.LocalKeys
		if i.Records != 0 {
			t.Errorf("task %d: %d changelog records read after its local copy, want 0", i.Task, i.Records)
		}
	}
	if len(restores) != 2 || local != 4 {
		t.Errorf("restores %+v: want 2 tasks, 4 keys from the local copies", restores)
	}
}

// A restore whose changelog cannot be read is retried through the outage, and
// fails once it lasts UnavailableTimeout, naming the state, the task and the
// changelog: never an empty state.
func TestARestoreThroughABrokerOutage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int // fetches of the changelog that fail; -1: all
	}{
		{"brief", 3},
		{"lasting", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.New(t, kafkatest.Topic("events", 1))
			produceByKey(t, b, "events", 1, "ann", "bob", "ann")
			countOneBatch(t, b)
			fault, err := b.Fail(kafkatest.Fetch, "g-counts-changelog", kafkatest.NotLeader, tc.failures)
			if err != nil {
				t.Fatal(err)
			}
			second := newRun(t)
			counts := keyedCounts(t, second, b, kafka.UnavailableTimeout(2*time.Second), kafka.PollTimeout(time.Second))
			second.start()
			err = second.batch()
			if tc.failures > 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(counts()); got != "map[ann:2 bob:1]" || fault.Hits() < tc.failures {
					t.Errorf("after %d failed fetches: counts %s, want map[ann:2 bob:1]", fault.Hits(), got)
				}
				if err := second.stop(); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, want := range []string{"restoring counts task 0 from g-counts-changelog/0", "Not Leader For Partition"} {
				if err == nil || !strings.Contains(strings.ToUpper(err.Error()), strings.ToUpper(want)) {
					t.Errorf("batch: %v, want an error saying %q", err, want)
				}
			}
			second.stop()
		})
	}
}

// progressLog hears the progress of long work; with clock, it moves the clock by
// step at each report that is not an end, as if the work took that long.
type progressLog struct {
	dstream.BaseListener
	mu    sync.Mutex
	got   []dstream.Progress
	clock *dstream.ManualClock
	step  time.Duration
}

func (l *progressLog) OnProgress(p dstream.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, p)
	if l.clock != nil && !p.Done {
		l.clock.Advance(l.step)
	}
}

// A task's restore from its changelog reports its progress: its start, at a steady
// pace while it reads, and its end, in records of the changelog (by offset) of a
// total that the changelog's end gives.
func TestAChangelogRestoreReportsProgress(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	keys := make([]string, 10000) // more than a restore reads between two counts
	for i := range keys {
		keys[i] = fmt.Sprintf("k%05d", i)
	}
	produceByKey(t, b, "events", 2, keys...)
	countOneBatch(t, b)

	// Each report takes the pace (5s): every count of records is reported.
	pl := &progressLog{step: 5 * time.Second}
	second := newRun(t, dstream.WithListener(pl))
	pl.clock = second.clock
	keyedCounts(t, second, b)
	second.start()
	second.batches(1)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	byTask := map[int][]dstream.Progress{}
	for _, p := range pl.got {
		if p.Op != "kafka.restore" {
			t.Errorf("unexpected progress %+v", p)
			continue
		}
		var task int
		if _, err := fmt.Sscanf(p.Subject, "counts task %d from g-counts-changelog/", &task); err != nil {
			t.Errorf("progress of %q: want a subject naming the state, the task and the changelog", p.Subject)
		}
		byTask[task] = append(byTask[task], p)
	}
	for task := range 2 {
		ps := byTask[task]
		start, end, err := b.Offsets("g-counts-changelog", task)
		if err != nil {
			t.Fatal(err)
		}
		total := end - start
		if len(ps) < 3 || total < 4096 {
			t.Errorf("task %d: %d reports of a changelog of %d records, want a start, steady reports and an end", task, len(ps), total)
			continue
		}
		first, last := ps[0], ps[len(ps)-1]
		if first.Completed != 0 || first.Total != total || first.Unit != "records" || first.Done {
			t.Errorf("task %d: first report %+v, want 0 of %d records done", task, first, total)
		}
		if last.Completed != total || last.Total != total || !last.Done || last.Err != nil {
			t.Errorf("task %d: last report %+v, want all %d records done", task, last, total)
		}
		for i := 1; i < len(ps)-1; i++ {
			p := ps[i]
			if p.Completed <= ps[i-1].Completed || p.Completed >= total || p.Done {
				t.Errorf("task %d: report %d: %d of %d records done after %d: want a steady count", task, i, p.Completed, total, ps[i-1].Completed)
			}
			if _, ok := p.ETA(); !ok {
				t.Errorf("task %d: report %d has no ETA", task, i)
			}
		}
	}
}
