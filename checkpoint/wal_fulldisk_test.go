//go:build unix

package checkpoint_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/fulldisk"
)

// TestWALRepairAfterAFullDisk fills the "disk" (the file size limit) under an append:
// the log refuses appends, Repair fails to help while the disk is full, and once space
// is freed Repair makes it append again, with the sequence numbers and records that
// were acknowledged and nothing of the failed appends, in this process and after
// opening it again.
func TestWALRepairAfterAFullDisk(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir)
	appendRecords(t, w, 1, 2)
	info, err := os.Stat(segments(t, dir)[0])
	if err != nil {
		t.Fatal(err)
	}

	lift := fulldisk.Limit(t, uint64(info.Size())) // full: not one more byte
	_, err = w.Append([]byte("lost"))
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Append on a full disk: %v, want EFBIG", err)
	}
	if _, err := w.Append([]byte("r3")); err == nil {
		t.Fatal("Append after a failed one succeeded without Repair")
	}
	if err := w.Repair(); err != nil {
		t.Fatalf("Repair (cutting back, which needs no space): %v", err)
	}
	if _, err := w.Append([]byte("lost")); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Append on a disk still full: %v, want EFBIG", err)
	}

	lift() // space freed
	if err := w.Repair(); err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, 3, 4)
	if diff := cmp.Diff(records(1, 4), replayAll(t, w)); diff != "" {
		t.Errorf("replay after Repair (-want +got):\n%s", diff)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(records(1, 4), replayAll(t, openWAL(t, dir))); diff != "" {
		t.Errorf("replay after opening again (-want +got):\n%s", diff)
	}
}

func TestWALRepairOfAGoodLogDoesNothing(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir)
	appendRecords(t, w, 1, 2)
	if err := w.Repair(); err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, 3, 3)
	if diff := cmp.Diff(records(1, 3), replayAll(t, w)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	w.Close()
	if err := w.Repair(); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Repair after Close: %v, want ErrClosed", err)
	}
}

// TestLockFailsWhenItCannotWriteThePID: a lock whose holder cannot be named is an
// error, and leaves the directory unlocked.
func TestLockFailsWhenItCannotWriteThePID(t *testing.T) {
	dir := t.TempDir()
	lift := fulldisk.Limit(t, 1)
	if l, err := checkpoint.Lock(dir); !errors.Is(err, syscall.EFBIG) {
		l.Unlock()
		t.Fatalf("Lock on a full disk: %v, want EFBIG", err)
	}
	lift()
	l, err := checkpoint.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
}
