package ui_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/ui"
	"github.com/spatedev/spate/internal/leakcheck"
	"github.com/spatedev/spate/rdd"
)

// section returns the part of body from the element with id id to the end of
// its section (the next "</section>" or "</tr>" for a table row).
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element with id %q in:\n%s", id, body)
	}
	rest := body[i:]
	end := strings.Index(rest, "</section>")
	if tr := strings.Index(rest, "</tr>"); strings.HasPrefix(rest, `id="`+id+`"><th>`) && tr >= 0 {
		end = tr
	}
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}

// The index shows the summary, the charts of the completed batches and their
// table, with the numbers of the batches run: 3 batches of 30 log records and
// 2, 3 and 0 words, processed in 300, 500 and 100 ms.
func TestIndexShowsTheBatches(t *testing.T) {
	j := newJob(t)
	j.words.Push([]string{"a", "b"})
	j.words.Push([]string{"a", "c", "d"})
	j.plan(1, 300*time.Millisecond, nil, nil)
	j.plan(2, 500*time.Millisecond, nil, nil)
	j.plan(3, 100*time.Millisecond, nil, nil)
	j.start()
	j.batches(1, 3)
	body := j.mustGet("/")

	wantIn(t, "the summary", section(t, body, "summary"),
		"2026-01-01 12:00:00 UTC", `<dd id="interval">1 s</dd>`,
		`<span id="completed-count">3</span> completed, <span id="failed-count">0</span> failed`,
		`<dd id="records">95</dd>`, `<dd id="last-error">none</dd>`)

	// One input-rate row per input, the three delays; averages as Spark shows them.
	// (The inputs in the order of their names.)
	wantIn(t, "the input rate of the queue", section(t, body, "input-rate-0"), "Input rate of dstream.QueueStream#", "avg 1.7 records/s",
		"12:00:01: 2 records/s", "12:00:02: 3 records/s", "12:00:03: 0 records/s")
	wantIn(t, "the input rate of the log", section(t, body, "input-rate-1"), "Input rate of events#", "avg 30 records/s")
	wantIn(t, "the input rate of all", section(t, body, "input-rate"), "avg 31.7 records/s")
	wantIn(t, "the scheduling delay", section(t, body, "scheduling-delay"), "avg 0 ms")
	proc := section(t, body, "processing-time")
	wantIn(t, "the processing time", proc, "avg 300 ms",
		// The timeline: a point per batch, linked to its page, with its value.
		`<a href="batch/2026-01-01T12:00:01Z"><circle`, "12:00:01: 300 ms", "12:00:02: 500 ms", "12:00:03: 100 ms",
		// The axis goes to 500 ms; the histogram's bands are 50 ms wide.
		`>500 ms</text>`, "<title>100 ms to 150 ms: 1 batch</title>", "<title>450 ms to 500 ms: 1 batch</title>")
	if n := strings.Count(proc, "<circle"); n != 3 {
		t.Errorf("the processing time's timeline has %d points, want 3", n)
	}
	wantIn(t, "the total delay", section(t, body, "total-delay"), "avg 300 ms")

	// The completed batches, the latest first, each linked to its page.
	completed := section(t, body, "completed")
	re := regexp.MustCompile(`<tr class="completed"><td><a href="batch/([^"]+)">([^<]+)</a></td><td>completed</td><td class="num">(\d+)</td><td class="num">([^<]+)</td><td class="num">([^<]+)</td><td class="num">([^<]+)</td><td>([^<]+)</td>`)
	var got []string
	for _, m := range re.FindAllStringSubmatch(completed, -1) {
		got = append(got, strings.Join(m[1:], " | "))
	}
	want := []string{
		"2026-01-01T12:00:03Z | 12:00:03 | 30 | 0 ms | 100 ms | 100 ms | 2 ok",
		"2026-01-01T12:00:02Z | 12:00:02 | 33 | 0 ms | 500 ms | 500 ms | 2 ok",
		"2026-01-01T12:00:01Z | 12:00:01 | 32 | 0 ms | 300 ms | 300 ms | 2 ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("completed batches:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantIn(t, "the active batches", section(t, body, "active"), "Active batches <small>(0)</small>", "None.")
	j.stopOK()
}

// A batch that waits behind a slow one is queued, then processing, and its
// scheduling delay is how long it waited.
func TestActiveBatchesAreQueuedThenProcessing(t *testing.T) {
	j := newJob(t)
	hold := make(chan struct{})
	j.plan(1, 0, hold, nil)
	j.plan(2, 100*time.Millisecond, nil, nil)
	j.start()
	j.generate(1)
	j.await("output 1.0") // (before the clock moves on)
	j.generate(2)         // batch 1 still holds
	active := section(t, j.mustGet("/"), "active")
	wantIn(t, "the active batches", active, "Active batches <small>(2)</small>",
		`<tr class="processing"><td><a href="batch/2026-01-01T12:00:01Z">12:00:01</a></td><td>processing</td><td class="num">30</td><td class="num">0 ms</td><td class="num">—</td><td class="num">—</td><td>1 running</td>`,
		`<tr class="queued"><td><a href="batch/2026-01-01T12:00:02Z">12:00:02</a></td><td>queued</td><td class="num">30</td><td class="num">—</td><td class="num">—</td><td class="num">—</td><td>—</td>`)
	if strings.Index(active, "12:00:01") > strings.Index(active, "12:00:02") {
		t.Errorf("active batches not in time order:\n%s", active)
	}
	wantIn(t, "the queued batch's page", j.mustGet("/batch/2026-01-01T12:00:02Z"), `<dd id="status" class="queued">queued</dd>`, "None started yet.")
	j.clock.Advance(200 * time.Millisecond) // batch 1 takes 1.2 s; batch 2 waits 200 ms
	close(hold)
	j.await("completed 2")
	body := j.mustGet("/")
	wantIn(t, "the completed batches", section(t, body, "completed"),
		`12:00:02</a></td><td>completed</td><td class="num">30</td><td class="num">200 ms</td><td class="num">100 ms</td><td class="num">300 ms</td>`,
		`12:00:01</a></td><td>completed</td><td class="num">30</td><td class="num">0 ms</td><td class="num">1.2 s</td><td class="num">1.2 s</td>`)
	wantIn(t, "the scheduling delay", section(t, body, "scheduling-delay"), "avg 100 ms")
	j.stopOK()
}

// A batch's page: its delays, its outputs with their durations, the records of
// each input, the offsets of each partition of the log, and the keys of the state.
func TestBatchPage(t *testing.T) {
	j := newJob(t)
	j.words.Push([]string{"a", "b"})
	j.words.Push([]string{"a", "c", "d"})
	j.plan(2, 250*time.Millisecond, nil, nil)
	j.start()
	j.batches(1, 2)
	body := j.mustGet("/batch/2026-01-01T12:00:02Z")
	wantIn(t, "batch 2's page", body,
		"<h1>Batch 2026-01-01 12:00:02 UTC</h1>",
		`<dd id="status" class="completed">completed</dd>`, `<dd id="batch-records">33</dd>`,
		`<dd id="sched">0 ms</dd>`, `<dd id="proc">250 ms</dd>`, `<dd id="total">250 ms</dd>`,
		// The outputs: the first took the 250 ms.
		`<td class="num">0</td><td>dstream.ForeachRDD</td><td>12:00:02.000</td><td class="num">250 ms</td><td>ok</td>`,
		`<td class="num">1</td><td>dstream.ForeachRDD</td><td>12:00:02.250</td><td class="num">0 ms</td><td>ok</td>`,
		// The records per input, and the log's offsets.
		`<td class="num">30</td><td class="warn"></td>`, `<td class="num">3</td><td class="warn"></td>`,
		"Offsets read by events#",
		`<td>events</td><td class="num">0</td><td class="num offsets">[20, 40)</td><td class="num">20</td><td class="num">60</td><td class="num lag">20</td><td class="num rate">20 records/s</td>`,
		`<td>events</td><td class="num">1</td><td class="num offsets">[10, 20)</td><td class="num">10</td><td class="num">20</td><td class="num lag">0</td><td class="num rate">not limited</td>`,
		// After batch 2 the state holds a, b, c and d.
		`<td>counts</td><td class="num">4</td>`)
	// The page of a batch that is not known, and of a path that is no batch.
	code, _, body := j.get("/batch/2026-01-01T12:00:09Z")
	if code != http.StatusNotFound || !strings.Contains(body, `id="not-found"`) {
		t.Errorf("an unknown batch: %d\n%s", code, body)
	}
	code, _, body = j.get("/batch/yesterday")
	if code != http.StatusNotFound || !strings.Contains(body, "RFC 3339") {
		t.Errorf("a bad batch time: %d\n%s", code, body)
	}
	if code, _, _ := j.get("/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", code)
	}
	j.stopOK()
}

// The Kafka section shows each partition's lag and rate limit as of the latest
// batch, and plots them over the batches.
func TestKafkaLagAndRateLimit(t *testing.T) {
	j := newJob(t)
	j.start()
	j.batches(1, 3)
	body := j.mustGet("/")
	kafka := body[strings.Index(body, `<section class="kafka">`):]
	kafka = kafka[:strings.Index(kafka, "</section>")]
	wantIn(t, "the Kafka section", kafka,
		`(as of <a href="batch/2026-01-01T12:00:03Z">batch 12:00:03</a>; lag <span class="total-lag">30</span> records)`,
		`<td class="num offsets">[40, 60)</td><td class="num">20</td><td class="num">90</td><td class="num lag">30</td><td class="num rate">20 records/s</td>`,
		`<td class="num offsets">[20, 30)</td><td class="num">10</td><td class="num">30</td><td class="num lag">0</td><td class="num rate">not limited</td>`,
		"12:00:01 events/0: lag 10", "12:00:02 events/0: lag 20", "12:00:03 events/0: lag 30", "12:00:03 events/1: lag 0",
		"12:00:03 events/0: limit 20 records/s", "Rate limit (records/s per partition)",
		`<span class="swatch s0"></span>events/0`, `<span class="swatch s1"></span>events/1`)
	if strings.Contains(kafka, "events/1: limit") {
		t.Errorf("partition 1 is not limited, but its limit is plotted:\n%s", kafka)
	}
	j.stopOK()
}

// Long work that reports its progress is shown with its percentage and the time
// it has left, then as finished.
func TestProgressOfLongWork(t *testing.T) {
	j := newJob(t)
	j.start()
	j.batches(1, 1)
	j.clock.Advance(10 * time.Second)
	p := dstream.Progress{Op: "kafka.restore", Subject: "counts task 3", Completed: 250, Total: 1000, Unit: "records", Started: at(1)}
	j.c.ReportProgress(p)
	progress := section(t, j.mustGet("/"), "progress")
	wantIn(t, "the progress", progress,
		`<tr class="running"><td>kafka.restore</td><td>counts task 3</td>`,
		`<progress max="100" value="25"></progress> <span class="percent">25%</span> <span class="amount">250 of 1,000 records</span>`,
		"<td>10 s</td>", `<td class="eta">30 s (at 12:00:41)</td>`)
	p.Completed, p.Done = 1000, true
	j.clock.Advance(30 * time.Second)
	j.c.ReportProgress(p)
	p.Subject, p.Completed, p.Done, p.Err = "counts task 4", 7, true, errors.New("changelog gone")
	j.c.ReportProgress(p)
	progress = section(t, j.mustGet("/"), "progress")
	wantIn(t, "the finished work", progress,
		`<tr class="finished"><td>kafka.restore</td><td>counts task 3</td><td>done: <span class="amount">1,000 of 1,000 records</span></td><td>40 s</td>`,
		`<tr class="failed"><td>kafka.restore</td><td>counts task 4</td><td><span class="err">failed: changelog gone</span>`)
	if strings.Contains(progress, `class="running"`) {
		t.Errorf("work that is done is still shown running:\n%s", progress)
	}
	j.stopOK()
}

// A failed batch is counted, is the last error, and its page says why.
func TestAFailedBatchIsTheLastError(t *testing.T) {
	j := newJob(t)
	j.plan(2, 0, nil, errors.New("the sink is full"))
	j.start()
	j.batches(1, 2)
	if err := j.result(); err == nil || !strings.Contains(err.Error(), "the sink is full") {
		t.Fatalf("Run: %v, want the output's failure", err)
	}
	body := j.mustGet("/")
	wantIn(t, "the summary", section(t, body, "summary"),
		`<span id="completed-count">1</span> completed, <span id="failed-count">1</span> failed`,
		`<a href="batch/2026-01-01T12:00:02Z">batch 12:00:02</a>: <span class="err">`, "the sink is full")
	wantIn(t, "the failed batch's page", j.mustGet("/batch/2026-01-01T12:00:02Z"),
		`<dd id="status" class="failed">failed</dd>`, `<dd id="batch-error" class="err">`,
		`<td>dstream.ForeachRDD</td><td>12:00:02.000</td><td class="num">0 ms</td><td>failed</td><td class="err">the sink is full</td>`)
}

// The page keeps the last RetainedBatches completed batches.
func TestRetainedBatches(t *testing.T) {
	j := newJob(t, ui.RetainedBatches(2))
	j.start()
	j.batches(1, 3)
	body := j.mustGet("/")
	wantIn(t, "the index", body, "the last 2 completed", "(all 2 retained)", `href="batch/2026-01-01T12:00:03Z"`, `href="batch/2026-01-01T12:00:02Z"`)
	if strings.Contains(body, "12:00:01") {
		t.Error("the index still shows batch 1, which is no longer retained")
	}
	if code, _, _ := j.get("/batch/2026-01-01T12:00:01Z"); code != http.StatusNotFound {
		t.Errorf("the page of batch 1, no longer retained: %d, want 404", code)
	}
	j.stopOK()
}

// The completed batches' table lists the last 50; ?all lists every one retained.
func TestCompletedTableShowsTheLast50(t *testing.T) {
	j := newJob(t)
	j.start()
	j.batches(1, 52)
	body := j.mustGet("/")
	wantIn(t, "the index", body, `(the last 50 of 52 retained; <a href="?all">show all</a>)`)
	if n := strings.Count(section(t, body, "completed"), `<tr class="completed">`); n != 50 {
		t.Errorf("the table lists %d batches, want 50", n)
	}
	if n := strings.Count(section(t, j.mustGet("/?all"), "completed"), `<tr class="completed">`); n != 52 {
		t.Errorf("with ?all the table lists %d batches, want 52", n)
	}
	j.stopOK()
}

// The page's script asks for the live part with the version it has: it gets 204
// while nothing changed, and the new part, with its version, when something did.
func TestLivePartAndVersion(t *testing.T) {
	j := newJob(t, ui.Refresh(250*time.Millisecond), ui.Title("wordcount"))
	j.start()
	j.batches(1, 1)
	code, h, body := j.get("/")
	v := h.Get("X-Spate-Version")
	if code != http.StatusOK || v == "" {
		t.Fatalf("GET /: %d, version %q", code, v)
	}
	wantIn(t, "the page", body, "<title>wordcount</title>", `data-version="`+v+`"`, `data-poll="250"`, "<script>", "fetch(")
	if code, _, body := j.get("/?fragment=1&v=" + v); code != http.StatusNoContent || body != "" {
		t.Errorf("the live part at the same version: %d %q, want 204 and nothing", code, body)
	}
	j.batches(2, 2)
	code, h, body = j.get("/?fragment=1&v=" + v)
	if code != http.StatusOK || h.Get("X-Spate-Version") == v {
		t.Fatalf("the live part after a batch: %d, version %q (was %q)", code, h.Get("X-Spate-Version"), v)
	}
	if strings.Contains(body, "<html") || strings.Contains(body, "<script") || !strings.Contains(body, `<span id="completed-count">2</span>`) {
		t.Errorf("the live part is not the page's live part with 2 batches:\n%s", body)
	}
	// A batch's page too; a batch not known is said so without a 404 to the script.
	if code, _, body := j.get("/batch/2026-01-01T12:00:07Z?fragment=1&v=0"); code != http.StatusOK || !strings.Contains(body, `id="not-found"`) {
		t.Errorf("the live part of an unknown batch: %d\n%s", code, body)
	}
	j.stopOK()
}

// Before Run, the page says the job has not started.
func TestBeforeRun(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(200 * time.Millisecond))
	rec := httptest.NewRecorder()
	ui.Handler(c).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	wantIn(t, "the page", rec.Body.String(), `<dd id="started">not started</dd>`, `<dd id="interval">200 ms</dd>`, "No batch has completed yet.")
}

// A nil Context is the handler's error, not a panic.
func TestNilContext(t *testing.T) {
	rec := httptest.NewRecorder()
	ui.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "nil *dstream.Context") {
		t.Errorf("nil Context: %d %q", rec.Code, rec.Body.String())
	}
	if _, err := ui.Serve(context.Background(), "127.0.0.1:0", nil); err == nil {
		t.Error("Serve of a nil handler: no error")
	}
}

// An invalid option is a construction error of the Context: Run fails before the
// first batch, naming Handler and each option with its value. None is ignored.
func TestInvalidOptionsFailRun(t *testing.T) {
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(dstream.NewManualClock(time.Unix(0, 0))))
	ui.Handler(c, ui.RetainedBatches(0), ui.Refresh(-time.Second), ui.Title(""), nil)
	in, _ := dstream.QueueStream[int](c, dstream.OneAtATime)
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Run(ctx)
	for _, want := range []string{"ui.Handler: invalid argument: RetainedBatches(0), want at least 1", "Refresh(-1s), want > 0", `Title(""), want a title`} {
		if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("Run = %v, want ErrInvalid with %q", err, want)
		}
	}
}

// Serve listens, serves until its context ends, then closes, leaving no goroutine.
func TestServe(t *testing.T) {
	leakcheck.Check(t)
	c := dstream.NewContext(dstream.BatchInterval(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := ui.Serve(ctx, "127.0.0.1:0", ui.Handler(c))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(url) {
		t.Errorf("URL %q", url)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", url, resp.Status)
	}
	// The address is taken: a second server on it is an error that names it.
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	if _, err := ui.Serve(ctx, addr, ui.Handler(c)); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Serve on a taken address: %v", err)
	}
	cancel()
	// The server closes once the context ends (in a goroutine of its own): poll.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err != nil {
			break
		}
		resp.Body.Close()
		select {
		case <-deadline:
			t.Fatal("the server still answers 10s after its context ended")
		case <-tick.C:
		}
	}
}
