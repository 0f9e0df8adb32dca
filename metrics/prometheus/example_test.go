package prometheus_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spatedev/spate/dstream"
	spateprom "github.com/spatedev/spate/metrics/prometheus"
	"github.com/spatedev/spate/rdd"
)

// A Collector on its own registry, served by promhttp: in a program, mount the
// handler on your mux (http.Handle("/metrics", …)) and give the Kafka streams
// kafka.OnCommit(col.Committed). The example runs one batch on a manual clock, then
// reads the page a scrape would get.
func ExampleNew() {
	clock := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := dstream.NewContext(dstream.BatchInterval(time.Second), dstream.WithClock(clock))
	col := spateprom.New(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	words, _ := dstream.QueueStream(c, dstream.OneAtATime, []string{"to", "be", "or", "not"})
	processed := make(chan struct{})
	dstream.ForeachRDD(words, func(ctx context.Context, r *rdd.RDD[string], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		close(processed)
		return err
	})
	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	_ = clock.AwaitWaiters(context.Background(), 1)
	clock.Advance(time.Second)
	<-processed
	c.Stop() // graceful: the batch completes first
	if err := <-done; err != nil {
		fmt.Println(err)
	}

	scrape := httptest.NewRecorder()
	metrics.ServeHTTP(scrape, httptest.NewRequest("GET", "/metrics", nil))
	lines := bufio.NewScanner(scrape.Body)
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "spate_batches_total") || strings.HasPrefix(l, "spate_input_records_total") ||
			strings.HasPrefix(l, `spate_batch_processing_seconds_bucket{le="0.01"}`) {
			fmt.Println(l)
		}
	}
	// Output:
	// spate_batch_processing_seconds_bucket{le="0.01"} 1
	// spate_batches_total{status="completed"} 1
	// spate_batches_total{status="failed"} 0
	// spate_input_records_total{input="dstream.QueueStream#1"} 4
}
