// Package watch is how the examples let a running job be watched: one HTTP server
// (flag -http) with the job's live page (package dstream/ui) at "/" and Go's
// profiler (net/http/pprof) at "/debug/pprof/", on a mux of its own rather than
// http.DefaultServeMux.
package watch

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/dstream/ui"
)

// Demo is the address the demo serves its page on by default: Spark's UI port.
const Demo = "127.0.0.1:4040"

// Any is the default address of the examples that run several processes at once
// (in their tests, or scaled out): a free port, which they print.
const Any = "127.0.0.1:0"

// Flag defines the flag -http, with default def, into p.
func Flag(p *string, def string) {
	flag.StringVar(p, "http", def, `serve the job's page (/) and pprof (/debug/pprof/) on this address ("host:port", port 0: any free port; "": off)`)
}

// Mux returns the examples' mux: the page of ssc, titled title, at "/" and pprof at
// "/debug/pprof/".
func Mux(ssc *dstream.Context, title string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", ui.Handler(ssc, ui.Title(title)))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve serves Mux(ssc, title) on addr until ctx ends, and prints its URL to out as
// a line "ui: <url>". An empty addr serves nothing. Call it before ssc.Run, so that
// the page hears every batch.
func Serve(ctx context.Context, out io.Writer, addr string, ssc *dstream.Context, title string) error {
	if addr == "" {
		return nil
	}
	url, err := ui.Serve(ctx, addr, Mux(ssc, title))
	if err != nil {
		return fmt.Errorf("serving the page (-http %s): %w", addr, err)
	}
	fmt.Fprintf(out, "ui: %s\n", url)
	return nil
}
