package ui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/dstream/ui"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
)

// TestMain fails the package if a test leaves goroutines behind (servers, the
// browser's connections).
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const interval = time.Second

// at returns the time of batch k.
func at(k int) time.Time { return epoch.Add(time.Duration(k) * interval) }

// fakeLog is a source that reads a two-partition log of topic "events" as Kafka's
// direct stream would, and says so in InputInfo.Partitions: every batch, 30
// records arrive in partition 0 and 10 in partition 1; rate control lets a batch
// read 20 of partition 0 (a limit of 20 records/s), so partition 0 lags 10 more
// records every batch, and partition 1 none.
type fakeLog struct{ eng *rdd.Engine }

func (*fakeLog) Start(context.Context) error { return nil }
func (*fakeLog) Stop() error                 { return nil }

func (f *fakeLog) Batch(_ context.Context, t time.Time) (*rdd.RDD[string], dstream.InputInfo, error) {
	k := int64(t.Sub(epoch) / interval)
	parts := []dstream.PartitionInfo{
		{Topic: "events", Partition: 0, From: 20 * (k - 1), Until: 20 * k, End: 30 * k, RateLimit: 20},
		{Topic: "events", Partition: 1, From: 10 * (k - 1), Until: 10 * k, End: 10 * k},
	}
	var recs []string
	for _, p := range parts {
		for o := p.From; o < p.Until; o++ {
			recs = append(recs, fmt.Sprintf("%s/%d@%d", p.Topic, p.Partition, o))
		}
	}
	return rdd.Parallelize(f.eng, recs, 2), dstream.InputInfo{Records: int64(len(recs)), Partitions: parts}, nil
}

// job is a Context on a manual clock with two inputs — the fake log
// ("events#1") and a queue of words ("dstream.QueueStream#…") — a running word
// count kept by UpdateStateByKey (named "counts"), and two outputs. The first
// output of batch k holds until hold[k] is closed, if there is one, then moves
// the clock by proc[k] (its processing time) and fails with fail[k]. A
// dstreamtest.Driver runs it.
type job struct {
	t       *testing.T
	clock   *dstream.ManualClock
	c       *dstream.Context
	d       *dstreamtest.Driver
	words   *dstream.Queue[string]
	page    http.Handler
	events  chan string // "submitted <k>", "started <k>", "output <k>.<i>", "completed <k>", from a listener after the page's
	mu      sync.Mutex
	proc    map[int]time.Duration
	hold    map[int]chan struct{}
	fail    map[int]error
	stopped bool
}

func newJob(t *testing.T, opts ...ui.Opt) *job {
	t.Helper()
	j := &job{t: t, clock: dstream.NewManualClock(epoch), events: make(chan string, 1000),
		proc: map[int]time.Duration{}, hold: map[int]chan struct{}{}, fail: map[int]error{}}
	j.c = dstream.NewContext(dstream.BatchInterval(interval), dstream.WithClock(j.clock),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
	log := dstream.FromSource[string](j.c, "events", &fakeLog{eng: j.c.Engine()})
	words, q := dstream.QueueStream[string](j.c, dstream.OneAtATime)
	j.words = q
	counts := dstream.UpdateStateByKey(dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) }),
		func(vs []int, st ops.Maybe[int]) ops.Maybe[int] { return ops.Some(st.Value + len(vs)) })
	dstream.ForeachRDD(log, func(ctx context.Context, r *rdd.RDD[string], bt time.Time) error {
		if _, err := rdd.Count(ctx, r); err != nil {
			return err
		}
		k := int(bt.Sub(epoch) / interval)
		j.mu.Lock()
		hold, d, err := j.hold[k], j.proc[k], j.fail[k]
		j.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		j.clock.Advance(d)
		return err
	})
	dstream.ForeachRDD(dstream.Named(counts, "counts"), func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		return err
	})
	j.page = ui.Handler(j.c, opts...)
	j.c.AddListener(eventListener{ch: j.events}) // after the page's: it has heard what this hears
	j.d = dstreamtest.Drive(j.c, j.clock, dstreamtest.Timeout(20*time.Second))
	t.Cleanup(j.stop)
	return j
}

type eventListener struct {
	dstream.BaseListener
	ch chan string
}

func k(t time.Time) int { return int(t.Sub(epoch) / interval) }

func (l eventListener) OnBatchSubmitted(b dstream.BatchInfo) {
	l.ch <- fmt.Sprint("submitted ", k(b.Time))
}
func (l eventListener) OnBatchStarted(b dstream.BatchInfo) {
	l.ch <- fmt.Sprint("started ", k(b.Time))
}
func (l eventListener) OnOutputStarted(o dstream.OutputInfo) {
	l.ch <- fmt.Sprintf("output %d.%d", k(o.Batch), o.Index)
}
func (l eventListener) OnBatchCompleted(b dstream.BatchInfo) {
	l.ch <- fmt.Sprint("completed ", k(b.Time))
}

// plan sets what the first output of batch k does.
func (j *job) plan(k int, proc time.Duration, hold chan struct{}, fail error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.proc[k], j.hold[k], j.fail[k] = proc, hold, fail
}

func (j *job) start() {
	j.t.Helper()
	if err := j.d.Start(context.Background()); err != nil {
		j.t.Fatal(err)
	}
}

// await waits for the listener's event want ("completed 3"), skipping others.
func (j *job) await(want string) {
	j.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-j.events:
			if e == want {
				return
			}
		case <-j.d.Done():
			for len(j.events) > 0 { // what listeners heard before Run returned
				if <-j.events == want {
					return
				}
			}
			j.t.Fatalf("Run ended (%v) before %q", j.d.Wait(), want)
		case <-deadline:
			j.t.Fatalf("no %q within 20s", want)
		}
	}
}

// generate moves the clock to batch k's time, which must be the next batch
// time, once the scheduler waits for it, and waits until the batch is submitted.
func (j *job) generate(k int) {
	j.t.Helper()
	bt, err := j.d.Advance()
	if err != nil {
		j.t.Fatalf("batch %d: %v", k, err)
	}
	if !bt.Equal(at(k)) {
		j.t.Fatalf("the next batch is at %v, want batch %d at %v", bt, k, at(k))
	}
	j.await(fmt.Sprint("submitted ", k))
}

// batches runs batches from to to, each to its end.
func (j *job) batches(from, to int) {
	j.t.Helper()
	for k := from; k <= to; k++ {
		j.generate(k)
		j.await(fmt.Sprint("completed ", k))
	}
}

// stop stops the job (once) and returns Run's error.
func (j *job) stop() {
	j.mu.Lock()
	stopped := j.stopped
	j.stopped = true
	for _, h := range j.hold {
		if h != nil {
			select {
			case <-h:
			default:
				close(h)
			}
		}
	}
	j.mu.Unlock()
	if stopped {
		return
	}
	if err := j.d.Stop(); errors.Is(err, dstreamtest.ErrTimeout) {
		j.t.Error(err)
	}
}

// result stops the job and returns Run's error.
func (j *job) result() error {
	j.stop()
	select {
	case <-j.d.Done():
		return j.d.Wait()
	default:
		return errors.New("Run did not return")
	}
}

// stopOK stops the job and fails the test if Run failed.
func (j *job) stopOK() {
	j.t.Helper()
	if err := j.result(); err != nil {
		j.t.Fatal(err)
	}
}

// get returns the status, a header and the body of the page at path.
func (j *job) get(path string) (int, http.Header, string) {
	j.t.Helper()
	rec := httptest.NewRecorder()
	j.page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		j.t.Fatal(err)
	}
	return rec.Code, rec.Result().Header, string(body)
}

// page returns the body of the page at path, which must answer 200.
func (j *job) mustGet(path string) string {
	j.t.Helper()
	code, _, body := j.get(path)
	if code != http.StatusOK {
		j.t.Fatalf("GET %s: %d, want 200:\n%s", path, code, body)
	}
	return body
}

// wantIn fails the test for each of wants that body does not contain.
func wantIn(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
	if t.Failed() {
		t.Logf("%s:\n%s", what, body)
	}
}
