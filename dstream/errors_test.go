package dstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// dstream's ErrInvalid is rdd's: errors.Is matches either way.
func TestErrInvalidIsRDDs(t *testing.T) {
	if !errors.Is(dstream.ErrInvalid, rdd.ErrInvalid) || !errors.Is(rdd.ErrInvalid, dstream.ErrInvalid) {
		t.Fatal("dstream.ErrInvalid and rdd.ErrInvalid are different errors")
	}
}

// A batch's error names the output operation once, and a panic in one line.
func TestBatchErrorsNameTheOutputOnce(t *testing.T) {
	tests := []struct {
		name string
		f    func(ctx context.Context, r *rdd.RDD[int], _ time.Time) error
		want string
	}{
		{"a panic in the output function", func(context.Context, *rdd.RDD[int], time.Time) error { panic("boom") },
			"dstream: batch 2026-01-01T00:00:01Z: dstream.ForeachRDD: panic: boom"},
		{"an error of an action", func(ctx context.Context, r *rdd.RDD[int], _ time.Time) error {
			return rdd.Foreach(ctx, r, func(context.Context, int) error { return errors.New("boom") })
		}, "dstream: batch 2026-01-01T00:00:01Z: dstream.ForeachRDD: rdd.Foreach (partition 1): boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1})
			dstream.ForeachRDD(in, tt.f)
			h.start(context.Background())
			h.batches(1)
			if err := h.result(); err == nil || err.Error() != tt.want {
				t.Fatalf("Run: %v; want %q", err, tt.want)
			}
		})
	}
}

// Times in errors are RFC 3339, as in BatchError.
func TestErrorsPrintTimesInRFC3339(t *testing.T) {
	h := newHarness(t)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1})
	from, to := epoch.Add(2*time.Second), epoch.Add(time.Second)
	_, err := dstream.Slice(in, from, to)
	if want := "dstream.Slice: invalid argument: from 2026-01-01T00:00:02Z is after to 2026-01-01T00:00:01Z"; err == nil || err.Error() != want {
		t.Errorf("Slice: %v; want %q", err, want)
	}
}

// A source or sink outside dstream reports a construction error through
// ReportInvalid: Run fails with it, naming the operator, wrapping ErrInvalid
// and the cause; on a nil Context the next Context to run reports it.
func TestReportInvalid(t *testing.T) {
	cause := errors.New("empty topic")
	for _, nilContext := range []bool{false, true} {
		h := newHarness(t)
		in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1})
		dstream.ForeachRDD(in, func(context.Context, *rdd.RDD[int], time.Time) error { return nil })
		c := h.c
		if nilContext {
			c = nil
		}
		c.ReportInvalid("mysink.Write", cause)
		err := h.c.Run(context.Background())
		if !errors.Is(err, dstream.ErrInvalid) || !errors.Is(err, cause) || err.Error() != "mysink.Write: invalid argument: empty topic" {
			t.Errorf("nil Context %v: Run: %v; want ErrInvalid of mysink.Write wrapping the cause", nilContext, err)
		}
	}
}
