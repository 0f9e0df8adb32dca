// Package watch is how the examples let a running job be watched: one HTTP server
// (flag -http) with the job's live page (package dstream/ui) at "/", its Prometheus
// metrics (package metrics/prometheus, with Go's runtime and process metrics) at
// "/metrics" and Go's profiler (net/http/pprof) at "/debug/pprof/", on a mux of its
// own rather than http.DefaultServeMux.
package watch

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/ui"
	spateprom "github.com/spatedev/spate/metrics/prometheus"
	"github.com/spatedev/spate/source/kafka"
)

// Demo is the address the demo serves its page on by default: Spark's UI port.
const Demo = "127.0.0.1:4040"

// Any is the default address of the examples that run several processes at once
// (in their tests, or scaled out): a free port, which they print.
const Any = "127.0.0.1:0"

// Flag defines the flag -http, with default def, into p.
func Flag(p *string, def string) {
	flag.StringVar(p, "http", def, `serve the job's page (/), its Prometheus metrics (/metrics) and pprof (/debug/pprof/) on this address ("host:port", port 0: any free port; "": off)`)
}

// Watch is a job's page and metrics, made before the job runs so that they hear
// every batch.
type Watch struct {
	ssc   *dstream.Context
	title string
	page  http.Handler
	col   *spateprom.Collector
	reg   *prometheus.Registry
}

// New returns the page and the metrics of ssc, titled title: the collector listens
// from now on.
func New(ssc *dstream.Context, title string) (*Watch, error) {
	w := &Watch{ssc: ssc, title: title, page: ui.Handler(ssc, ui.Title(title)), col: spateprom.New(ssc), reg: prometheus.NewRegistry()}
	for _, c := range []prometheus.Collector{w.col, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := w.reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the metrics: %w", err)
		}
	}
	return w, nil
}

// KafkaCommits returns the option that gives the metrics a Kafka stream's commits
// (spate_kafka_committed_offset).
func (w *Watch) KafkaCommits() kafka.GroupOpt { return kafka.OnCommit(w.col.Committed) }

// Mux returns the examples' mux: the page at "/", the metrics at "/metrics" and
// pprof at "/debug/pprof/".
func (w *Watch) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", w.page)
	mux.Handle("/metrics", promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve serves Mux on addr until ctx ends, and prints its URL to out as a line
// "ui: <url>". An empty addr serves nothing.
func (w *Watch) Serve(ctx context.Context, out io.Writer, addr string) error {
	if addr == "" {
		return nil
	}
	url, err := ui.Serve(ctx, addr, w.Mux())
	if err != nil {
		return fmt.Errorf("serving the page (-http %s): %w", addr, err)
	}
	fmt.Fprintf(out, "ui: %s\n", url)
	return nil
}

// Serve is New and Watch.Serve, for an example that gives its streams no option of
// the metrics. Call it before ssc.Run, so that the page hears every batch.
func Serve(ctx context.Context, out io.Writer, addr string, ssc *dstream.Context, title string) error {
	if addr == "" {
		return nil
	}
	w, err := New(ssc, title)
	if err != nil {
		return err
	}
	return w.Serve(ctx, out, addr)
}
