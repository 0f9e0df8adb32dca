package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoCheckpoint is returned by [Store.Latest] when the directory holds no checkpoint
// file: the job has never saved one and starts fresh.
var ErrNoCheckpoint = errors.New("checkpoint: no checkpoint")

// Checkpoint files are named
//
//	checkpoint-<time>-<seq>.ckpt
//
// where <time> is the checkpoint's Time in UTC as 20060102T150405.000000000Z and <seq> is
// a 20-digit sequence number, so that names sort by time, then by order of saving.
const (
	filePrefix  = "checkpoint-"
	fileSuffix  = ".ckpt"
	timeLayout  = "20060102T150405.000000000Z"
	seqDigits   = 20
	nameLen     = len(filePrefix) + len(timeLayout) + 1 + seqDigits + len(fileSuffix)
	tempPattern = ".checkpoint-*.tmp"
)

// A Store saves checkpoints as files in a directory and finds the newest valid one.
// Its methods are safe for concurrent use. Only one Store (in any process) may use a
// directory at a time.
type Store struct {
	dir    string
	keep   int
	logger *slog.Logger

	mu  sync.Mutex // serializes Save and Latest
	seq uint64     // sequence number of the next file
}

// Open returns a Store that keeps its files in dir, creating the directory if needed.
// An invalid option is an error naming it, wrapping the module's ErrInvalid
// (rdd.ErrInvalid).
func Open(dir string, opts ...Opt) (*Store, error) {
	cfg := storeConfig{keep: 3}
	if err := applyOpts("checkpoint.Open", opts, func(o Opt) error { return o.applyStore(&cfg) }); err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	names, err := listCheckpoints(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	s := &Store{dir: dir, keep: cfg.keep, logger: cfg.logger, seq: 1}
	for _, name := range names {
		_, seq, _ := parseName(name)
		s.seq = max(s.seq, seq+1)
	}
	return s, nil
}

// Dir returns the directory of the store.
func (s *Store) Dir() string { return s.dir }

// fileName returns the name of the checkpoint file for time t and sequence number seq.
func fileName(t time.Time, seq uint64) string {
	return fmt.Sprintf("%s%s-%0*d%s", filePrefix, t.UTC().Format(timeLayout), seqDigits, seq, fileSuffix)
}

// parseName returns the time and sequence number in a checkpoint file name, and whether
// name is one.
func parseName(name string) (time.Time, uint64, bool) {
	if len(name) != nameLen || !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
		return time.Time{}, 0, false
	}
	ts, seqs, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix), "-")
	if !ok || len(seqs) != seqDigits {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(timeLayout, ts)
	if err != nil {
		return time.Time{}, 0, false
	}
	seq, err := strconv.ParseUint(seqs, 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	return t, seq, true
}

// listCheckpoints returns the names of the checkpoint files in dir, oldest first.
func listCheckpoints(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, _, ok := parseName(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Save writes cp as a new checkpoint file, atomically: a crash leaves either the whole
// file or none of it. When Save returns nil the file is durable. It then deletes all but
// the newest Keep checkpoint files and any temporary file a crash left behind; failing
// to delete is logged, not returned, since the checkpoint itself is saved.
//
// cp.Time must lie in the years 0 to 9999, and the names of cp.Sources, and of
// cp.States, must be non-empty and distinct.
func (s *Store) Save(cp *Checkpoint) error {
	if cp == nil {
		return errors.New("checkpoint: Save(nil)")
	}
	if y := cp.Time.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("checkpoint: save: time %v is outside the years 0 to 9999", cp.Time)
	}
	if err := cp.check(); err != nil {
		return fmt.Errorf("checkpoint: save: %w", err)
	}
	data, err := marshal(cp)
	if err != nil {
		return fmt.Errorf("checkpoint: save: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	name := fileName(cp.Time, s.seq)
	if err := writeFileAtomic(s.dir, name, tempPattern, data); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", filepath.Join(s.dir, name), err)
	}
	s.seq++
	s.prune()
	return nil
}

// prune deletes all but the newest s.keep checkpoint files (none with KeepAll), and
// temporary files.
func (s *Store) prune() {
	if err := removeTemps(s.dir, tempPattern); err != nil {
		s.logger.Warn("checkpoint: cannot remove temporary files", "dir", s.dir, "err", err)
	}
	if s.keep < 0 {
		return
	}
	names, err := listCheckpoints(s.dir)
	if err != nil {
		s.logger.Warn("checkpoint: cannot list old checkpoints to delete", "dir", s.dir, "err", err)
		return
	}
	s.remove(names[:max(0, len(names)-s.keep)])
}

// remove deletes the named files, logging failures: a file left only takes room.
func (s *Store) remove(names []string) {
	for _, name := range names {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logger.Warn("checkpoint: cannot delete old checkpoint", "file", filepath.Join(s.dir, name), "err", err)
		}
	}
}

// PruneBefore deletes the checkpoint files whose time is before t (for a Store with
// KeepAll, whose owner knows what it still needs). Failing to delete is logged.
func (s *Store) PruneBefore(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := listCheckpoints(s.dir)
	if err != nil {
		s.logger.Warn("checkpoint: cannot list old checkpoints to delete", "dir", s.dir, "err", err)
		return
	}
	s.remove(slices.DeleteFunc(names, func(name string) bool {
		ft, _, _ := parseName(name)
		return !ft.Before(t)
	}))
}

// At returns the newest valid checkpoint whose time is t, as named by its file; an
// invalid newer file of that time is skipped with a warning, as by Latest. No file of
// that time is ErrNoCheckpoint; files of which none is valid, an error wrapping
// ErrCorrupt.
func (s *Store) At(t time.Time) (*Checkpoint, error) {
	return s.newest(func(ft time.Time) bool { return ft.Equal(t) })
}

// Latest returns the newest valid checkpoint in the store.
//
// A checkpoint file that is not valid (see [Parse]) is skipped with a warning that names
// it and says why, and Latest falls back to the one before. When the directory holds no
// checkpoint file, Latest returns ErrNoCheckpoint; when it holds some but none is valid,
// it returns an error that wraps [ErrCorrupt] and lists each file and why it was
// rejected. A file that cannot be read (as opposed to one that reads but is not valid)
// is an error, not a reason to fall back. Temporary files are ignored.
func (s *Store) Latest() (*Checkpoint, error) {
	return s.LatestUntil(time.Time{})
}

// LatestUntil is Latest among the checkpoints whose time is at or before until
// (the zero time: no limit), as named by their files; newer ones are not read.
// When no file is that old it returns ErrNoCheckpoint.
func (s *Store) LatestUntil(until time.Time) (*Checkpoint, error) {
	return s.newest(func(ft time.Time) bool { return until.IsZero() || !ft.After(until) })
}

// newest returns the newest valid checkpoint among the files whose time is wanted.
func (s *Store) newest(wanted func(time.Time) bool) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := listCheckpoints(s.dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	names = slices.DeleteFunc(names, func(name string) bool {
		t, _, _ := parseName(name)
		return !wanted(t)
	})
	if len(names) == 0 {
		return nil, ErrNoCheckpoint
	}
	var rejected []string
	for _, name := range slices.Backward(names) {
		path := filepath.Join(s.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		cp, err := parse(data)
		if err == nil {
			return cp, nil
		}
		s.logger.Warn("checkpoint: skipping invalid checkpoint file, falling back to the one before",
			"file", path, "reason", err)
		rejected = append(rejected, fmt.Sprintf("%s: %v", name, err))
	}
	return nil, fmt.Errorf("%w: none of the %d checkpoint files in %s is valid: %s",
		ErrCorrupt, len(names), s.dir, strings.Join(rejected, "; "))
}
