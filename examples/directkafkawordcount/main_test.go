package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoCountsAndSummarizes runs the demo on the embedded broker for a few short
// batches and checks what it prints: ranges, top words, and the summary line last,
// whose record count equals the sum of the batches'.
func TestDemoCountsAndSummarizes(t *testing.T) {
	var out bytes.Buffer
	o := options{topics: "sentences", group: "test", batch: 200 * time.Millisecond, duration: 1500 * time.Millisecond, top: 3}
	if err := run(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	m := regexp.MustCompile(`^summary records=(\d+) batches=(\d+)$`).FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q is not the summary:\n%s", lines[len(lines)-1], text)
	}
	records, _ := strconv.Atoi(m[1])
	batches, _ := strconv.Atoi(m[2])
	sum := 0
	for _, bm := range regexp.MustCompile(`(?m)^--- batch \S+: (\d+) records$`).FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(bm[1])
		sum += n
	}
	if batches < 3 || records == 0 || records != sum {
		t.Errorf("summary records=%d batches=%d, batches' records sum to %d:\n%s", records, batches, sum, text)
	}
	if !strings.Contains(text, "sentences/3 offsets [") || !strings.Contains(text, "top words: the=") {
		t.Errorf("no ranges or top words printed:\n%s", text)
	}
	if strings.Contains(text, "ui: ") {
		t.Errorf("with -http \"\" the demo serves no page, but says it does:\n%s", text)
	}
}

// TestDemoServesItsPage runs the demo with -http on a free port: it prints the
// page's URL, where the page shows its batches and Kafka partitions, the
// Prometheus metrics are at /metrics, and pprof answers at /debug/pprof/.
func TestDemoServesItsPage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, pw, options{topics: "sentences", group: "test", http: "127.0.0.1:0", batch: 200 * time.Millisecond, top: 3})
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	url := ""
	for url == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "ui: "); ok {
			url = u
		}
	}
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, pr); close(drained) }()
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(url) {
		cancel()
		t.Fatalf("no line \"ui: http://127.0.0.1:<port>/\" (got %q); run: %v", url, <-done)
	}

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v\n%s", url+path, resp.Status, err, body)
		}
		return string(body)
	}
	// The page follows the job: wait for a completed batch that read something.
	completed := regexp.MustCompile(`<span id="completed-count">([1-9][0-9]*)</span>`)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	page := get("")
	for !completed.MatchString(page) || strings.Contains(page, `<dd id="records">0</dd>`) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the page shows no completed batch with records:\n%s", page)
		}
		<-tick.C
		page = get("")
	}
	for _, want := range []string{"<title>directkafkawordcount</title>", "Kafka: kafka.DirectStream#", "<td>sentences</td>", `id="timeline-processing-time"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q:\n%s", want, page)
		}
	}
	if body := get("debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ lists no goroutine profile:\n%s", body)
	}
	get("debug/pprof/cmdline")
	// The metrics: batches counted, the Kafka lag of each partition, and (once a
	// commit has gone through) the committed offsets.
	metrics := get("metrics")
	for _, want := range []string{`spate_batches_total{status="completed"}`, `spate_kafka_lag_records{input="kafka.DirectStream#1",partition="0",topic="sentences"}`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s:\n%s", want, metrics)
		}
	}
	for !strings.Contains(metrics, `spate_kafka_committed_offset{group="test",partition="0",topic="sentences"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s /metrics has no committed offset:\n%s", metrics)
		}
		<-tick.C
		metrics = get("metrics")
	}

	cancel() // stops the job gracefully
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-drained
}
