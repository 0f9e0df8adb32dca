//go:build unix

package rdd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spatedev/spate/internal/fulldisk"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// TestShuffleSpillDiskFull spills onto a full disk (the process's file size
// limit, 4 KiB): the job fails with a *TaskError of the shuffle's operator
// wrapping a *shuffle.SpillError that names the file it could not write,
// and leaves no file behind.
func TestShuffleSpillDiskFull(t *testing.T) {
	e, dir := sSpillEngine(t)
	sums := rdd.ReduceByKey(sKeyed(e, 100_000, 50_000, 3), ops.Sum[int])
	fulldisk.Limit(t, 4<<10)
	_, err := rdd.Collect(t.Context(), sums)
	var te *rdd.TaskError
	var se *shuffle.SpillError
	if !errors.As(err, &te) || te.Op != "rdd.ReduceByKey" || !errors.As(err, &se) {
		t.Fatalf("Collect = %v, want a *TaskError of rdd.ReduceByKey wrapping a *shuffle.SpillError", err)
	}
	if se.Op != "write" || !strings.HasPrefix(se.Path, dir) || !strings.Contains(err.Error(), se.Path) {
		t.Errorf("the error %q names %s %q, want a write of a file under %s", err, se.Op, se.Path, dir)
	}
	if files := sFiles(t, dir); len(files) > 0 {
		t.Errorf("spill files left after the failed job: %v", files)
	}
}
