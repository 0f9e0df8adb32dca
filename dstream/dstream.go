package dstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spatedev/spate/rdd"
)

// stream is the untyped view of a DStream that the scheduler walks.
type stream interface {
	info() *streamInfo
	// forget drops the RDDs of batches at or before t.
	forget(t time.Time)
}

type streamInfo struct {
	ctx  *Context
	id   int
	name string
}

func (s *streamInfo) info() *streamInfo { return s }

// DStream is a discretized stream: a sequence of RDDs of T, one per batch
// interval. Transformations (top-level functions such as [Map]) return a new
// DStream whose RDD for a batch is computed from its parents' RDDs for that
// batch; nothing runs until [Context.Run]. A DStream computes each batch's
// RDD once and keeps it while windows or Remember need it.
type DStream[T any] struct {
	streamInfo
	compute func(ctx context.Context, t time.Time) (*rdd.RDD[T], error)

	mu        sync.Mutex
	generated map[time.Time]*rdd.RDD[T]
}

// Name returns the name of the operator that made the stream, e.g.
// "dstream.Map".
func (s *DStream[T]) Name() string { return s.name }

// Context returns the Context the stream belongs to.
func (s *DStream[T]) Context() *Context { return s.ctx }

// String returns the stream's name and id.
func (s *DStream[T]) String() string { return fmt.Sprintf("%s#%d", s.name, s.id) }

// newStream registers a stream named name on c.
func newStream[T any](c *Context, name string, compute func(ctx context.Context, t time.Time) (*rdd.RDD[T], error)) *DStream[T] {
	s := &DStream[T]{streamInfo: streamInfo{ctx: c, name: name}, compute: compute, generated: map[time.Time]*rdd.RDD[T]{}}
	s.id = c.register(s)
	return s
}

// rddAt returns the stream's RDD for batch time t, computing it once.
func (s *DStream[T]) rddAt(ctx context.Context, t time.Time) (*rdd.RDD[T], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.generated[t]; ok {
		return r, nil
	}
	r, err := s.compute(ctx, t)
	if err != nil {
		return nil, err
	}
	s.generated[t] = r
	return r, nil
}

func (s *DStream[T]) forget(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for bt := range s.generated {
		if !bt.After(t) {
			delete(s.generated, bt)
		}
	}
}

// Source is what an input stream reads batches from: the queue stream, the
// Kafka streams. The Context starts every source before the first batch and
// stops it after the last.
type Source[T any] interface {
	// Start prepares the source; ctx ends when Run ends.
	Start(ctx context.Context) error
	// Batch returns the RDD for batch time t and how many records it holds
	// (for metrics). It is called once per batch, in time order.
	Batch(ctx context.Context, t time.Time) (r *rdd.RDD[T], records int64, err error)
	// Stop releases what Start took. It is called once, after the last
	// batch.
	Stop() error
}

// input is the untyped view of an input stream.
type input interface {
	start(ctx context.Context) error
	stop() error
	name() string
}

type sourceInput[T any] struct {
	s   *DStream[T]
	src Source[T]
}

func (in *sourceInput[T]) start(ctx context.Context) error { return in.src.Start(ctx) }
func (in *sourceInput[T]) stop() error                     { return in.src.Stop() }
func (in *sourceInput[T]) name() string                    { return in.s.String() }

// FromSource returns the input stream of src, named name (for example
// "kafka.DirectStream").
func FromSource[T any](c *Context, name string, src Source[T]) *DStream[T] {
	if src == nil {
		c.invalidf(name, "nil source")
		return newStream(c, name, func(context.Context, time.Time) (*rdd.RDD[T], error) {
			return nil, fmt.Errorf("%s: nil source", name)
		})
	}
	s := newStream(c, name, func(ctx context.Context, t time.Time) (*rdd.RDD[T], error) {
		r, _, err := src.Batch(ctx, t)
		return r, err
	})
	c.mu.Lock()
	c.inputs = append(c.inputs, &sourceInput[T]{s: s, src: src})
	c.mu.Unlock()
	return s
}
