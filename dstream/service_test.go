package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// recordingService records its calls into the events of a recordingSource, so
// that their order with the source's and the outputs' is seen.
type recordingService struct {
	src               *recordingSource
	startErr, stopErr error
	ctx               context.Context
}

func (s *recordingService) Start(ctx context.Context) error {
	s.src.record("service start")
	s.ctx = ctx
	return s.startErr
}

func (s *recordingService) Stop() error {
	s.src.record("service stop")
	return s.stopErr
}

func (s *recordingService) String() string { return "test.Service" }

// Run starts a service after the sources and before the first batch, and stops it
// after the last batch, before the sources; its start error fails Run, and its stop
// error is Run's when nothing else failed.
func TestServicesLiveAsLongAsRun(t *testing.T) {
	errStart, errStop := errors.New("no producer"), errors.New("flush failed")
	for _, tc := range []struct {
		name              string
		startErr, stopErr error
		wantErr           error
	}{
		{name: "ok"},
		{name: "start fails", startErr: errStart, wantErr: errStart},
		{name: "stop fails", stopErr: errStop, wantErr: errStop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			src := &recordingSource{eng: h.c.Engine(), data: map[int][]int{1: {1}, 2: {2}}}
			svc := &recordingService{src: src, startErr: tc.startErr, stopErr: tc.stopErr}
			h.c.AddService(svc)
			dstream.ForeachRDD(dstream.FromSource(h.c, "test.Source", src), func(_ context.Context, _ *rdd.RDD[int], t time.Time) error {
				src.record(fmt.Sprintf("output %d", sec(t)))
				return nil
			})
			h.start(context.Background())
			if tc.startErr == nil {
				h.batches(2)
				h.awaitGenerator()
				h.c.Stop()
			}
			err := h.result()
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) || err != nil && !strings.Contains(err.Error(), "test.Service") {
				t.Errorf("Run = %v, want %v naming the service", err, tc.wantErr)
			}
			// The service starts after the source and before any batch, and
			// stops after the last output and before the source; a failed start
			// stops nothing it did not start (only services before it: none).
			calls := src.calls()
			at := func(e string) int { return slices.Index(calls, e) }
			if tc.startErr != nil {
				if got := strings.Join(calls, ","); got != "start,service start,stop" {
					t.Errorf("calls %s, want start,service start,stop", got)
				}
			} else if at("start") != 0 || at("service start") != 1 || at("service stop") != len(calls)-2 || at("stop") != len(calls)-1 ||
				at("output 2") < 0 || at("output 2") > at("service stop") {
				t.Errorf("calls %q: want start, service start, the batches and outputs, service stop, stop", calls)
			}
			if svc.ctx != nil && svc.ctx.Err() == nil {
				t.Error("the service's context did not end with Run")
			}
		})
	}
}

// A service added once Run has started fails Run.
func TestAServiceAddedWhileRunningFailsRun(t *testing.T) {
	h := newHarness(t)
	var once sync.Once
	src := &recordingSource{eng: h.c.Engine(), data: map[int][]int{1: {1}}}
	dstream.ForeachRDD(dstream.FromSource(h.c, "test.Source", src), func(context.Context, *rdd.RDD[int], time.Time) error {
		once.Do(func() { h.c.AddService(&recordingService{src: src}) })
		return nil
	})
	h.start(context.Background())
	h.batches(1)
	err := h.result()
	if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), "services cannot be added after Run started") {
		t.Fatalf("Run = %v, want ErrInvalid: services cannot be added after Run started", err)
	}
}
