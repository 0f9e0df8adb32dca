package checkpoint_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/spatedev/spate/checkpoint"
)

// lockChildEnv names the directory the test binary, started again as a child
// process, tries to lock (see TestLockRefusesAnotherProcess).
const lockChildEnv = "SPATE_LOCK_CHILD_DIR"

func init() {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		return
	}
	_, err := checkpoint.Lock(dir)
	fmt.Println(err)
	os.Exit(0)
}

func TestLockRefusesAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := checkpoint.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		return cmd
	}
	out, err := child().CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := fmt.Sprintf("checkpoint: %s is in use by process %d", dir, os.Getpid())
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("the other process got %q; want an error starting %q", out, want)
	}
	// Released, the directory can be taken by another process.
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	out, err = child().CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "<nil>" {
		t.Errorf("after Unlock the other process got %q, %v; want <nil>", out, err)
	}
}

func TestLockNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := checkpoint.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, err = checkpoint.Lock(dir)
	var locked *checkpoint.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, checkpoint.ErrLocked) || locked.Dir != dir || locked.PID != os.Getpid() {
		t.Fatalf("second Lock: %v; want a *LockedError for %s held by pid %d", err, dir, os.Getpid())
	}
	if pid, err := os.ReadFile(dir + "/" + checkpoint.LockName); err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("the lock file holds %q, %v; want the pid", pid, err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("a second Unlock: %v", err)
	}
	again, err := checkpoint.Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	again.Unlock()
}

func TestOpenWALLocksItsDirectory(t *testing.T) {
	dir := t.TempDir()
	w, err := checkpoint.OpenWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.OpenWAL(dir); !errors.Is(err, checkpoint.ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a second OpenWAL of %s: %v; want ErrLocked naming the directory", dir, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = checkpoint.OpenWAL(dir)
	if err != nil {
		t.Fatalf("OpenWAL after Close: %v", err)
	}
	n := 0
	if err := w.Replay(func(uint64, []byte) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("replayed %d records, %v; want 1 (the lock file is not a segment)", n, err)
	}
	w.Close()
}
