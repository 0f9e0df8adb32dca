package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spatedev/spate/dstream"
)

// An Opt configures Handler. Opts are made only by this package's functions:
// RetainedBatches, Refresh and Title. A nil Opt is no option. An invalid value
// is a construction error of the Context (see dstream.Context.ReportInvalid):
// its Run fails before the first batch, naming Handler, the option and its value.
type Opt interface{ applyHandler(*config) error }

// handlerOpt is an Opt: it sets its value, or returns what is wrong with it.
type handlerOpt func(*config) error

func (o handlerOpt) applyHandler(c *config) error { return o(c) }

type config struct {
	retained int
	refresh  time.Duration
	title    string
}

// RetainedBatches sets how many completed batches the page keeps for its charts,
// its tables and the batches' pages (Spark's spark.streaming.ui.retainedBatches).
// n must be at least 1. Default 1000, as Spark's.
func RetainedBatches(n int) Opt {
	return handlerOpt(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("RetainedBatches(%d), want at least 1", n)
		}
		c.retained = n
		return nil
	})
}

// Refresh sets how often an open page asks the server for what changed. d must be
// > 0. Default 1s.
func Refresh(d time.Duration) Opt {
	return handlerOpt(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("Refresh(%v), want > 0", d)
		}
		c.refresh = d
		return nil
	})
}

// Title sets the page's title, e.g. the job's name; it must not be empty.
// Default "Spate streaming".
func Title(s string) Opt {
	return handlerOpt(func(c *config) error {
		if s == "" {
			return errors.New(`Title(""), want a title`)
		}
		c.title = s
		return nil
	})
}

// Handler returns the page of c: a summary, charts and tables of its batches, and a
// page per batch (see the package documentation). It adds a listener to c (with
// AddListener), so the page shows what happens from the call on: call it before
// c.Run to see every batch. Mount it on a mux at "/", or under a prefix with
// http.StripPrefix; its links are relative. A nil c gives a handler that answers
// every request with that error.
func Handler(c *dstream.Context, opts ...Opt) http.Handler {
	if c == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "ui.Handler: nil *dstream.Context", http.StatusInternalServerError)
		})
	}
	cfg := config{retained: 1000, refresh: time.Second, title: "Spate streaming"}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyHandler(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		c.ReportInvalid("ui.Handler", errors.Join(errs...))
	}
	h := &handler{c: c, cfg: cfg, st: newState(c.Clock(), cfg.retained)}
	c.AddListener(h.st)
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /batch/{time}", h.batch)
	return h
}

type handler struct {
	c   *dstream.Context
	cfg config
	st  *state
	mux http.ServeMux
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// versionHeader carries the state's version to the page's script, which sends it
// back (parameter v) to be told 204 No Content when nothing changed.
const versionHeader = "X-Spate-Version"

// fragment reports whether r asks only for the live part of a page, and answers
// 204 when the page's version is still v.
func fragment(w http.ResponseWriter, r *http.Request, v uint64) (part, done bool) {
	if r.URL.Query().Get("fragment") == "" {
		return false, false
	}
	if r.URL.Query().Get("v") == strconv.FormatUint(v, 10) {
		w.WriteHeader(http.StatusNoContent)
		return true, true
	}
	return true, false
}

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	sn := h.st.snapshot()
	part, done := fragment(w, r, sn.version)
	if done {
		return
	}
	h.render(w, http.StatusOK, part, "index", h.indexView(sn, r.URL.Query().Has("all")))
}

func (h *handler) batch(w http.ResponseWriter, r *http.Request) {
	t, err := time.Parse(time.RFC3339Nano, r.PathValue("time"))
	if err != nil {
		http.Error(w, fmt.Sprintf("no batch %q: a batch's time is written as in RFC 3339 (%s)", r.PathValue("time"), err), http.StatusNotFound)
		return
	}
	b, v, ok := h.st.batchAt(t)
	part, done := fragment(w, r, v)
	if done {
		return
	}
	status := http.StatusOK
	if !ok && !part {
		// (The script's polls get the page's live part, which says so, without a
		// status that the browser's console reports as an error.)
		status = http.StatusNotFound
	}
	h.render(w, status, part, "batch", h.batchView(t, b, ok, v))
}

// render writes the page named name, or only its live part, with status.
func (h *handler) render(w http.ResponseWriter, status int, part bool, name string, view any) {
	if part {
		name += "-live"
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, view); err != nil {
		slog.Error("ui: rendering a page failed", "page", name, "error", err)
		http.Error(w, "ui: rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if v, ok := view.(interface{ version() uint64 }); ok {
		w.Header().Set(versionHeader, strconv.FormatUint(v.version(), 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a client that went away is no failure of the job
}

// Serve serves h over HTTP on addr ("host:port"; port 0 picks a free port) until
// ctx ends, and returns its URL once it listens, e.g. "http://127.0.0.1:4040/". h is
// the page (Handler), or a mux that holds it next to other handlers (metrics,
// pprof):
//
//	url, err := ui.Serve(ctx, "127.0.0.1:4040", ui.Handler(ssc))
//
// When ctx ends the server closes its listener and connections, and the goroutine
// that serves ends. An address that cannot be listened on is the error; a server
// that fails later is logged (with slog) and stops.
func Serve(ctx context.Context, addr string, h http.Handler) (url string, err error) {
	if h == nil {
		return "", errors.New("ui.Serve: nil handler")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ui.Serve: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			stop()
			_ = srv.Close()
			slog.Error("ui: serving stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return urlOf(ln.Addr()), nil
}

// urlOf returns the URL of the server listening at a: an address that listens on
// every interface is reached on localhost.
func urlOf(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
