package ui_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/ui"
)

// chromium returns the path of a headless-capable Chromium or Chrome, and fails
// the test when there is none: `make deps` (and CI) install Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser test needs Chromium (or Chrome) on PATH, and there is none: run `make deps` " +
		"(on Debian: apt-get install --no-install-recommends chromium)")
	return ""
}

// browser is a headless Chromium tab that records every console error, exception
// and error of the browser's log of the pages it shows.
type browser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b := &browser{t: t, ctx: tabCtx}
	messages := chromedp.Console(tabCtx) // subscribes now, and starts the browser
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		for m, err := range messages {
			if err != nil {
				if tabCtx.Err() == nil {
					b.problem("reading the console: " + err.Error())
				}
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.problem(m.String() + " (" + m.URL + ")")
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		<-listening
	})
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// checkConsole fails the test for every error the pages wrote to the console.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("the page's console: %s", p)
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.checkConsole()
		b.t.Fatalf("%s: %v", what, err)
	}
}

// texts returns the trimmed text of every element that the CSS selector sel
// matches, read in one evaluation (the page may swap its live part meanwhile).
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(`+string(q)+`), e => (e.innerText ?? e.textContent).trim().replace(/\s+/g, " "))`))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return got
}

// text returns the text of the one element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	got := b.texts(sel)
	if len(got) != 1 {
		b.t.Fatalf("%d elements match %s, want 1: %q", len(got), sel, got)
	}
	return got[0]
}

func (b *browser) want(what, sel string, want ...string) {
	b.t.Helper()
	got := b.texts(sel)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		b.t.Errorf("%s (%s): %q, want %q", what, sel, got, want)
	}
}

// The page of a running job, in a real browser: the numbers of its charts and
// tables, a live update without a reload, a batch's page through its link, and
// no JavaScript error.
func TestInABrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j := newJob(t, ui.Refresh(100*time.Millisecond), ui.Title("browser test"))
	j.words.Push([]string{"a", "b"})
	j.words.Push([]string{"a", "c", "d"})
	j.plan(1, 300*time.Millisecond, nil, nil)
	j.plan(2, 500*time.Millisecond, nil, nil)
	j.plan(3, 100*time.Millisecond, nil, nil)
	hold := make(chan struct{})
	j.plan(4, 0, hold, nil)
	j.plan(5, 100*time.Millisecond, nil, nil)
	j.start()
	j.batches(1, 3)
	j.generate(4) // processing, held
	j.await("output 4.0")
	j.generate(5) // queued behind it
	j.c.ReportProgress(dstream.Progress{Op: "kafka.restore", Subject: "counts task 3", Completed: 250, Total: 1000,
		Unit: "records", Started: at(5).Add(-10 * time.Second)})
	srv := httptest.NewServer(j.page)
	t.Cleanup(srv.Close)

	b := newBrowser(t, ctx)
	b.do("loading the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("summary")),
		// A mark that a reload would lose.
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	if got := b.text("head > title"); got != "browser test" {
		t.Errorf("title %q", got)
	}
	b.want("completed", "#completed-count", "3")
	b.want("active", "#active-count", "2")
	b.want("records", "#records", "95")
	b.want("the charts' rows", "table.charts tbody tr .stat",
		"Input rate (all inputs)", "Input rate of dstream.QueueStream#2", "Input rate of events#1",
		"Scheduling delay", "Processing time", "Total delay")
	b.want("the processing time's average", "#processing-time .avg", "avg 300 ms")
	b.want("the processing time's axis", "#timeline-processing-time text.tick", "0 ms", "250 ms", "500 ms", "12:00:01", "12:00:03")
	b.want("the processing time's points", "#timeline-processing-time circle title", "12:00:01: 300 ms", "12:00:02: 500 ms", "12:00:03: 100 ms")
	b.want("the processing time's histogram", "#histogram-processing-time rect title",
		"100 ms to 150 ms: 1 batch", "300 ms to 350 ms: 1 batch", "450 ms to 500 ms: 1 batch")
	b.want("the input rate of the log", "#input-rate-1 .avg", "avg 30 records/s")
	// The browser draws them: the lines have a size on the page.
	width, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`document.querySelector("#timeline-processing-time polyline").getBBox().width`))
	if err != nil || width < 100 {
		t.Errorf("the processing time's line is %v px wide (%v), want it drawn across the chart", width, err)
	}
	b.want("the active batches", "#active tbody tr",
		"12:00:04 processing 30 0 ms — — 1 running", "12:00:05 queued 30 — — — —")
	b.want("the completed batches", "#completed tbody tr td:first-child", "12:00:03", "12:00:02", "12:00:01")
	// As of the latest batch, queued.
	b.want("the Kafka lags", ".kafka td.lag", "50", "0")
	b.want("the Kafka rate limits", ".kafka td.rate", "20 records/s", "not limited")
	b.want("the Kafka offsets", ".kafka td.offsets", "[80, 100)", "[40, 50)")
	b.want("the lag plot's legend", ".kafka ul.legend li", "events/0", "events/1")
	b.want("the progress", "#progress tr.running td", "kafka.restore", "counts task 3", "25% 250 of 1,000 records", "10 s", "30 s (at 12:00:35)")

	// The job goes on; the page follows without a reload.
	j.clock.Advance(200 * time.Millisecond) // batch 4 takes 1.2 s, batch 5 waits 200 ms
	close(hold)
	j.await("completed 5")
	b.do("waiting for the page to show batch 5",
		chromedp.Poll[chromedp.Void](`document.getElementById("completed-count").textContent === "5"`, chromedp.WithPollingTimeout(20*time.Second)))
	if ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !ok {
		t.Errorf("the page was reloaded to show the new batches (%v)", err)
	}
	b.want("the active batches", "#active-count", "0")
	b.want("the connection", "#conn", "live")
	b.want("the scheduling delays", "#scheduling-delay .avg", "avg 40 ms")
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	save(t, "index.png", png)

	// A batch's link leads to its page.
	b.do("following the link of batch 2", chromedp.Click(chromedp.CSS(`#completed a[href="batch/2026-01-01T12:00:02Z"]`)),
		chromedp.WaitVisible(chromedp.ID("batch-summary")))
	if loc, err := chromedp.Run(b.ctx, chromedp.Location()); err != nil || loc != srv.URL+"/batch/2026-01-01T12:00:02Z" {
		t.Errorf("the link led to %q (%v)", loc, err)
	}
	b.want("the batch's heading", "h1", "Batch 2026-01-01 12:00:02 UTC")
	b.want("the batch's processing time", "#proc", "500 ms")
	b.want("the batch's outputs", "#outputs tbody tr", "0 dstream.ForeachRDD 12:00:02.000 500 ms ok", "1 dstream.ForeachRDD 12:00:02.500 0 ms ok")
	b.want("the batch's inputs", "#inputs > table:first-of-type tbody tr td:nth-child(2)", "3", "30")
	b.want("the batch's offsets", "#inputs td.offsets", "[20, 40)", "[10, 20)")
	b.want("the batch's state", "#states tbody tr", "counts 4")
	png, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	save(t, "batch.png", png)
	b.do("going back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.ID("summary")))
	b.checkConsole()
}

var screenshots = flag.String("screenshots", "", "also write the browser test's screenshots into this directory")

// save writes a screenshot into the test's temporary directory (and into
// -screenshots).
func save(t *testing.T, name string, png []byte) {
	t.Helper()
	for _, dir := range []string{t.TempDir(), *screenshots} {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
}
