package dstream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// nilSource returns a nil RDD (and no error) for every batch.
type nilSource struct{}

func (nilSource) Start(context.Context) error { return nil }
func (nilSource) Stop() error                 { return nil }
func (nilSource) Batch(context.Context, time.Time) (*rdd.RDD[int], dstream.InputInfo, error) {
	return nil, dstream.InputInfo{}, nil
}

func TestANilRDDFailsTheBatch(t *testing.T) {
	tests := []struct {
		name  string
		build func(c *dstream.Context) *dstream.DStream[int]
		op    string // the stream the error names
	}{
		{"Transform returns nil", func(c *dstream.Context) *dstream.DStream[int] {
			in, _ := dstream.QueueStream(c, dstream.OneAtATime, []int{1})
			return dstream.Transform(in, func(*rdd.RDD[int], time.Time) *rdd.RDD[int] { return nil })
		}, "dstream.Transform#2"},
		{"TransformWith returns nil", func(c *dstream.Context) *dstream.DStream[int] {
			a, _ := dstream.QueueStream(c, dstream.OneAtATime, []int{1})
			b, _ := dstream.QueueStream(c, dstream.OneAtATime, []int{2})
			return dstream.TransformWith(a, b, func(*rdd.RDD[int], *rdd.RDD[int], time.Time) *rdd.RDD[int] { return nil })
		}, "dstream.TransformWith#3"},
		{"a source of a union returns nil", func(c *dstream.Context) *dstream.DStream[int] {
			a, _ := dstream.QueueStream(c, dstream.OneAtATime, []int{1})
			b := dstream.FromSource(c, "test.Nil", dstream.Source[int](nilSource{}))
			return dstream.Union(a, b)
		}, "test.Nil#2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var got collector[int]
			dstream.ForeachRDD(tt.build(h.c), got.foreach)
			h.start(context.Background())
			h.batches(1)
			err := h.result()
			var be *dstream.BatchError
			if !errors.As(err, &be) || !errors.Is(err, dstream.ErrNilRDD) || !be.Time.Equal(epoch.Add(interval)) ||
				!strings.Contains(err.Error(), tt.op) || !strings.Contains(err.Error(), "2026-01-01T00:00:01Z") {
				t.Fatalf("Run: %v; want a *BatchError of batch 1 wrapping ErrNilRDD and naming %s", err, tt.op)
			}
			if len(got.data) != 0 {
				t.Errorf("the output ran on %v", got.data)
			}
		})
	}
}

func TestAnOutputOnANilStreamIsReportedByTheNextRun(t *testing.T) {
	var nilStream *dstream.DStream[int]
	tests := []struct {
		name     string
		register func()
		stream   string
	}{
		{"ForeachRDD on nil", func() {
			dstream.ForeachRDD(nilStream, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
		}, "nil"},
		{"Print on a Map of nil", func() { dstream.Print(dstream.Map(nilStream, func(x int) int { return x }), 1) }, "dstream.Map"},
		{"QueueStream of a nil Context", func() {
			in, _ := dstream.QueueStream[int](nil, dstream.OneAtATime, []int{1})
			dstream.ForeachRDD(dstream.Filter(in, func(int) bool { return true }), func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
		}, "dstream.Filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.register()
			h := newHarness(t)
			in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1})
			dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
			err := h.c.Run(context.Background())
			if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "("+tt.stream+")") ||
				!strings.Contains(err.Error(), "belongs to no Context") || !strings.Contains(err.Error(), "invalid_test.go:") {
				t.Fatalf("Run: %v; want ErrInvalid naming the stream %s and where the output was registered", err, tt.stream)
			}
			// Reported once: the next Context runs.
			h = newHarness(t)
			in, _ = dstream.QueueStream(h.c, dstream.OneAtATime, []int{1})
			dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
			h.runBatches(1)
		})
	}
}

func TestAnOutputAddedWhileRunningFailsRun(t *testing.T) {
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2})
	added := make(chan struct{})
	dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error {
		select {
		case <-added:
		default:
			dstream.Print(in, 1)
			close(added)
		}
		return nil
	})
	h.start(context.Background())
	h.batches(1)
	err := h.result()
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "dstream.Print") ||
		!strings.Contains(err.Error(), "after Run started") || !strings.Contains(err.Error(), "invalid_test.go") {
		t.Fatalf("Run: %v; want ErrInvalid naming dstream.Print, where it was called, and that Run had started", err)
	}
}
