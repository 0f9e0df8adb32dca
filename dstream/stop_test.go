package dstream_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// slowJob queues batches 1..3 with an output that waits for release before
// each batch, so that generated batches queue up behind it.
func slowJob(t *testing.T, opts ...dstream.Opt) (h *harness, release chan struct{}, got *collector[int]) {
	h = newHarness(t, opts...)
	in, _ := dstream.QueueStream(h.c, dstream.OneAtATime, []int{1}, []int{2}, []int{3})
	release = make(chan struct{})
	got = &collector[int]{}
	dstream.ForeachRDD(in, func(ctx context.Context, r *rdd.RDD[int], bt time.Time) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return got.foreach(ctx, r, bt)
	})
	return h, release, got
}

func TestStopGracefullyWhenFinishesTheGeneratedBatches(t *testing.T) {
	stop, cancelStop := context.WithCancel(context.Background())
	h, release, got := slowJob(t, dstream.StopGracefullyWhen(stop))
	h.start(context.Background())
	h.batches(3) // three batches generated; the first is held by its output
	cancelStop()
	close(release)
	if err := h.result(); err != nil {
		t.Fatalf("Run: %v; want nil after a graceful stop", err)
	}
	if diff := cmp.Diff([][]int{{1}, {2}, {3}}, got.data); diff != "" {
		t.Errorf("the outputs (-want +got):\n%s", diff)
	}
}

func TestStopGracefullyOnShutdown(t *testing.T) {
	t.Run("one signal finishes the generated batches", func(t *testing.T) {
		h, release, got := slowJob(t, dstream.StopGracefullyOnShutdown())
		h.start(context.Background())
		h.batches(3)
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-h.c.Stopping() // the signal was handled
		close(release)
		if err := h.result(); err != nil {
			t.Fatalf("Run: %v; want nil after a graceful stop", err)
		}
		if diff := cmp.Diff([][]int{{1}, {2}, {3}}, got.data); diff != "" {
			t.Errorf("the outputs (-want +got):\n%s", diff)
		}
	})
	t.Run("a second signal stops at once", func(t *testing.T) {
		h, _, got := slowJob(t, dstream.StopGracefullyOnShutdown(syscall.SIGUSR1))
		h.start(context.Background())
		h.batches(3)
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		<-h.c.Stopping() // the first was handled: the second is not merged with it
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		err := h.result()
		if err == nil || !strings.Contains(err.Error(), "second user defined signal 1") {
			t.Fatalf("Run: %v; want the error of a stop at once", err)
		}
		if len(got.data) != 0 {
			t.Errorf("outputs ran: %v", got.data)
		}
	})
}
