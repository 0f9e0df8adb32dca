package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockName is the file in a directory that Lock locks.
const LockName = "LOCK"

// ErrLocked is wrapped by the error of Lock (and of OpenWAL) when another process, or
// another Lock in this process, holds the directory.
var ErrLocked = errors.New("checkpoint: directory in use")

// LockedError is the error of Lock when the directory is held: it names the directory
// and, when the holder wrote it, the holder's process id. It wraps ErrLocked.
type LockedError struct {
	// Dir is the directory.
	Dir string
	// PID is the holder's process id; 0 if it could not be read.
	PID int
}

// Error names the directory and the holder.
func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("process %d", e.PID)
		if e.PID == os.Getpid() {
			holder = fmt.Sprintf("this process (%d), through another lock", e.PID)
		}
	}
	return fmt.Sprintf("checkpoint: %s is in use by %s: only one job may use a checkpoint or write-ahead log directory at a time", e.Dir, holder)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// DirLock is an exclusive lock on a directory, held until Unlock (or the process's
// end: the operating system releases it even after a SIGKILL).
type DirLock struct {
	f   *os.File
	dir string
}

// Lock takes an exclusive lock on dir, creating the directory if needed, so that two
// processes cannot use it at once: it locks the file LOCK in dir with flock(2) and
// writes the process id into it. A directory already locked is an error that wraps
// ErrLocked and names the holder's pid (a *LockedError); Lock does not wait. On
// systems without flock, Lock only creates the file: nothing is enforced.
func Lock(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: locking %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: locking %s: %w", dir, err)
	}
	held, err := flock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint: locking %s: %w", path, err)
	}
	if held {
		pid, _ := readPID(f)
		f.Close()
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err = f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close() // releases the lock
		return nil, fmt.Errorf("checkpoint: writing the pid into %s: %w", path, err)
	}
	return &DirLock{f: f, dir: dir}, nil
}

// Dir returns the locked directory.
func (l *DirLock) Dir() string { return l.dir }

// Unlock releases the lock. It may be called more than once.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("checkpoint: unlocking %s: %w", l.dir, err)
	}
	return nil
}

func readPID(f *os.File) (int, error) {
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if n == 0 {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(buf[:n])))
}
