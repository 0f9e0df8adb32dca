//go:build unix

// Package fulldisk makes file writes fail as on a full disk, for tests of what a
// failed write does: it lowers the process's file size limit (RLIMIT_FSIZE), which
// holds for root too and needs no mount, so that a write that would make a regular
// file larger than the limit fails (EFBIG; the Go runtime ignores the SIGXFSZ that
// comes with it). The limit holds for the whole process: a test that sets it must not
// run in parallel with others that write larger files, and the test binary's output
// must not go to a regular file (go test reads it through a pipe). Run such tests
// with -count=1, as make test does: a go test whose result may be cached has the
// binary log the files and variables it reads to a file, which outgrows the limit
// in a package with many tests ("testing: can't write …testlog.txt: file too
// large", and the package fails).
package fulldisk

import (
	"sync"
	"syscall"
	"testing"
)

// Limit makes every write past the first limit bytes of any file fail until the
// returned function is called, or the test ends.
func Limit(t testing.TB, limit uint64) (lift func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatalf("fulldisk: reading the file size limit: %v", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		t.Fatalf("fulldisk: setting the file size limit to %d bytes: %v", limit, err)
	}
	var once sync.Once
	lift = func() {
		once.Do(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Errorf("fulldisk: restoring the file size limit: %v", err)
			}
		})
	}
	t.Cleanup(lift)
	return lift
}
