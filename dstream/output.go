package dstream

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spatedev/spate/rdd"
)

// output is a registered output operation: for each batch, it prepares the
// job (computing the stream's RDD graph) when the batch is generated, and
// runs it when the batch is processed.
type output struct {
	name    string
	prepare func(ctx context.Context, t time.Time) (func(ctx context.Context) error, error)
	// states are the stateful streams the output is computed from.
	states []statefulStream
}

// addOutput registers an output operation on s's Context.
// An output on a stream of no Context is reported by the next Context to run;
// one registered after Run started fails that Run (as in Spark, the graph cannot
// change once started).
func addOutput[T any](name string, s *DStream[T], run func(ctx context.Context, r *rdd.RDD[T], t time.Time) error) {
	if s == nil {
		orphanOutput(name, &streamInfo{name: "nil"})
		return
	}
	if s.ctx == nil {
		orphanOutput(name, &s.streamInfo)
		return
	}
	states := statefulAncestors(s)
	s.ctx.mu.Lock()
	defer s.ctx.mu.Unlock()
	if s.ctx.started {
		err := fmt.Errorf("%s (called at %s) on %s: %w: output operations cannot be added after Run started", name, callerOutside(), s, ErrInvalid)
		s.ctx.errs = append(s.ctx.errs, err)
		if s.ctx.abort != nil {
			s.ctx.abort(err)
		}
		return
	}
	s.ctx.outputs = append(s.ctx.outputs, &output{name: name, states: states,
		prepare: func(ctx context.Context, t time.Time) (func(context.Context) error, error) {
			// The stateful streams' RDDs at every one of their slides, even
			// when s has none at t (see "Order of a batch", generation).
			for _, st := range states {
				if err := st.prepareAt(ctx, t); err != nil {
					return nil, err
				}
			}
			r, err := s.rddAt(ctx, t)
			if err != nil || r == nil {
				return nil, err // nil: the stream has no RDD at t (a window between slides)
			}
			return func(ctx context.Context) (err error) {
				// A panic in the output function fails the batch, as one in a
				// task does, instead of the process.
				defer func() {
					if v := recover(); v != nil {
						err = &rdd.PanicError{Op: name, Partition: -1, Value: v, Stack: debug.Stack()}
					}
				}()
				return run(ctx, r, t)
			}, nil
		}})
}

// statefulStream is the untyped view of a stateful DStream.
type statefulStream interface {
	stream
	prepareAt(ctx context.Context, t time.Time) error
	materializeAt(ctx context.Context, t time.Time) error
}

// viewStream is the untyped view of a stream that reads a state store: kept
// for windows, its RDD must be computed in its own batch.
type viewStream interface {
	materializeView(ctx context.Context, t time.Time) error
	info() *streamInfo
}

// statefulAncestors returns the stateful streams, and the views of states,
// that s is computed from, s included, parents before children.
func statefulAncestors(s stream) []statefulStream {
	var out []statefulStream
	seen := map[stream]bool{}
	var walk func(s stream)
	walk = func(s stream) {
		in := s.info()
		if in == nil || seen[s] {
			return
		}
		seen[s] = true
		for _, p := range in.parents {
			walk(p)
		}
		// A view of a state too: kept for a window, it is read in its own
		// batch (step 3 of "Order of a batch").
		if p, ok := s.(statefulStream); ok && (in.stateful || in.stateOwner != nil) {
			out = append(out, p)
		}
	}
	walk(s)
	return out
}

// ForeachRDD registers f as an output operation: for every batch, in batch
// order, f gets the batch's RDD and time. This is where results leave the
// stream (write to a store, commit offsets). An error from f fails the
// batch: Run stops and returns it, naming the batch time.
func ForeachRDD[T any](s *DStream[T], f func(ctx context.Context, r *rdd.RDD[T], t time.Time) error) {
	if f == nil {
		if s != nil && s.ctx != nil {
			s.ctx.invalidf("dstream.ForeachRDD", "nil function")
		}
		return
	}
	addOutput("dstream.ForeachRDD", s, f)
}

// Print registers an output operation that writes the first n elements of
// every batch to standard output (see PrintTo).
func Print[T any](s *DStream[T], n int) { PrintTo(s, os.Stdout, n) }

// PrintTo registers an output operation that writes the first n elements of
// every batch to w, one per line, under a header with the batch time in
// milliseconds, as Spark's print does; "..." follows when the batch has
// more.
func PrintTo[T any](s *DStream[T], w io.Writer, n int) {
	if (w == nil || n < 1) && s != nil && s.ctx != nil {
		s.ctx.invalidf("dstream.Print", "writer %v, n = %d: want a writer and n >= 1", w, n)
		return
	}
	addOutput("dstream.Print", s, func(ctx context.Context, r *rdd.RDD[T], t time.Time) error {
		first, err := rdd.Take(ctx, r, n+1)
		if err != nil {
			return err
		}
		const rule = "-------------------------------------------"
		if _, err := fmt.Fprintf(w, "%s\nTime: %d ms\n%s\n", rule, t.UnixMilli(), rule); err != nil {
			return err
		}
		for i, e := range first {
			if i == n {
				_, err = fmt.Fprintln(w, "...")
				break
			}
			if _, err = fmt.Fprintln(w, e); err != nil {
				break
			}
		}
		if err == nil {
			_, err = fmt.Fprintln(w)
		}
		return err
	})
}
