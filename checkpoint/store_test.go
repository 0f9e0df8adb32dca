package checkpoint_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/checkpoint"
)

// logBuffer is a slog handler's destination that tests read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs returns a logger writing text to the returned buffer.
func captureLogs() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func openStore(t *testing.T, dir string, opts ...checkpoint.Opt) *checkpoint.Store {
	t.Helper()
	s, err := checkpoint.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkpointFiles returns the names of the checkpoint files in dir, oldest first.
func checkpointFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func save(t *testing.T, s *checkpoint.Store, cp *checkpoint.Checkpoint) {
	t.Helper()
	if err := s.Save(cp); err != nil {
		t.Fatal(err)
	}
}

func latest(t *testing.T, s *checkpoint.Store) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := s.Latest()
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b") // Open creates it
	s := openStore(t, dir)
	want := sample(t, t0.In(time.FixedZone("X", 3600)))
	save(t, s, want)
	got := latest(t, s)
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Latest (-want +got):\n%s", diff)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("Latest().Time is in %v, want UTC", got.Time.Location())
	}
	e, _ := got.State("wordcount")
	var counts map[string]int64
	if err := checkpoint.Decode(e.Data, &counts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{"a": 1, "b": 2}, counts); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

func TestStoreZeroCheckpoint(t *testing.T) {
	s := openStore(t, t.TempDir())
	save(t, s, &checkpoint.Checkpoint{})
	got := latest(t, s)
	if !got.Time.IsZero() || got.Interval != 0 || len(got.Sources)+len(got.States) != 0 {
		t.Errorf("Latest = %+v, want a zero checkpoint", got)
	}
}

func TestStoreKeep(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, checkpoint.Keep(2))
	for i := range 5 {
		save(t, s, &checkpoint.Checkpoint{Time: t0.Add(time.Duration(i) * time.Second), Interval: time.Second})
	}
	if files := checkpointFiles(t, dir); len(files) != 2 {
		t.Fatalf("files after 5 saves with Keep(2): %v", files)
	}
	if got := latest(t, s); !got.Time.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("Latest().Time = %v, want the last saved", got.Time)
	}

	s = openStore(t, dir) // default: 3
	for i := range 5 {
		save(t, s, &checkpoint.Checkpoint{Time: t0.Add(time.Duration(10+i) * time.Second)})
	}
	if files := checkpointFiles(t, dir); len(files) != 3 {
		t.Fatalf("files after 5 saves with the default Keep: %v", files)
	}
	if _, err := checkpoint.Open(dir, checkpoint.Keep(0)); err == nil {
		t.Error("Open accepted Keep(0)")
	}
}

// Two saves for the same batch time get different files, also across reopening, and the
// later one wins.
func TestStoreSameTime(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	save(t, s, &checkpoint.Checkpoint{Time: t0, Interval: 1})
	save(t, s, &checkpoint.Checkpoint{Time: t0, Interval: 2})
	s = openStore(t, dir)
	save(t, s, &checkpoint.Checkpoint{Time: t0, Interval: 3})
	if files := checkpointFiles(t, dir); len(files) != 3 {
		t.Fatalf("files: %v, want 3", files)
	}
	if got := latest(t, s); got.Interval != 3 {
		t.Errorf("Latest().Interval = %v, want the last saved (3)", got.Interval)
	}
}

// Names sort by time first: a checkpoint of an earlier batch saved later is not the
// latest.
func TestStoreOrderByTime(t *testing.T) {
	s := openStore(t, t.TempDir())
	save(t, s, &checkpoint.Checkpoint{Time: t0.Add(time.Hour)})
	save(t, s, &checkpoint.Checkpoint{Time: t0})
	if got := latest(t, s); !got.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("Latest().Time = %v, want %v", got.Time, t0.Add(time.Hour))
	}
}

func TestStoreEmpty(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if cp, err := s.Latest(); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("Latest on an empty directory = %v, %v; want ErrNoCheckpoint", cp, err)
	}
	// Files that are not checkpoints, and temporary files, do not count.
	for _, name := range []string{"README", ".checkpoint-123.tmp", "checkpoint-x.ckpt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if cp, err := s.Latest(); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("Latest on a directory without checkpoint files = %v, %v; want ErrNoCheckpoint", cp, err)
	}
}

// A crash during Save leaves a temporary file: Latest ignores it and the next Save
// removes it.
func TestStoreTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	save(t, s, &checkpoint.Checkpoint{Time: t0, Interval: time.Second})
	tmp := filepath.Join(dir, ".checkpoint-4242.tmp")
	if err := os.WriteFile(tmp, []byte("SPATECKP half written"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := latest(t, s); !got.Time.Equal(t0) {
		t.Errorf("Latest().Time = %v, want %v", got.Time, t0)
	}
	save(t, s, &checkpoint.Checkpoint{Time: t0.Add(time.Second)})
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file still there after a save: %v", err)
	}
	if readme := filepath.Join(dir, "README"); os.WriteFile(readme, nil, 0o644) == nil {
		save(t, s, &checkpoint.Checkpoint{Time: t0.Add(2 * time.Second)})
		if _, err := os.Stat(readme); err != nil {
			t.Errorf("Save removed a file that is not its own: %v", err)
		}
	}
}

// damage returns ways to spoil a checkpoint file, and a part of the reason each gives.
var damage = []struct {
	name   string
	spoil  func([]byte) []byte
	reason string
}{
	{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "truncated"},
	{"empty", func([]byte) []byte { return nil }, "truncated: 0 bytes"},
	{"bit flip", func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b }, "checksum mismatch"},
	{"bad magic", func(b []byte) []byte { copy(b, "GARBAGE!"); return b }, "bad magic"},
	{"unknown version", func(b []byte) []byte { b[8] = 1; return b }, "unknown format version"},
	{"appended bytes", func(b []byte) []byte { return append(b, "more"...) }, "wrong length"},
	{"undecodable payload", func([]byte) []byte { return fileWith([]byte{0x92, 0x01}) }, "payload"},
}

func spoil(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLatestFallsBack(t *testing.T) {
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			logger, logs := captureLogs()
			s := openStore(t, dir, checkpoint.WithLogger(logger))
			save(t, s, sample(t, t0))
			save(t, s, sample(t, t0.Add(time.Second)))
			files := checkpointFiles(t, dir)
			spoil(t, filepath.Join(dir, files[1]), d.spoil)

			got := latest(t, s)
			if !got.Time.Equal(t0) {
				t.Errorf("Latest().Time = %v, want the previous checkpoint's %v", got.Time, t0)
			}
			out := logs.String()
			for _, want := range []string{"level=WARN", files[1], d.reason} {
				if !strings.Contains(out, want) {
					t.Errorf("log does not contain %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, files[0]) {
				t.Errorf("log names the good file %s:\n%s", files[0], out)
			}
		})
	}
}

func TestLatestAllCorrupt(t *testing.T) {
	dir := t.TempDir()
	logger, logs := captureLogs()
	s := openStore(t, dir, checkpoint.WithLogger(logger))
	save(t, s, sample(t, t0))
	save(t, s, sample(t, t0.Add(time.Second)))
	files := checkpointFiles(t, dir)
	spoil(t, filepath.Join(dir, files[0]), damage[0].spoil)
	spoil(t, filepath.Join(dir, files[1]), damage[2].spoil)

	cp, err := s.Latest()
	if !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Latest = %v, %v; want an error wrapping ErrCorrupt", cp, err)
	}
	for _, want := range []string{files[0], damage[0].reason, files[1], damage[2].reason, dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs)
	}
}

func TestSaveRejects(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	tests := map[string]*checkpoint.Checkpoint{
		"nil":             nil,
		"unnamed source":  {Sources: []checkpoint.Entry{{Type: "int"}}},
		"duplicate state": {States: []checkpoint.Entry{{Name: "a"}, {Name: "a"}}},
		"year 10000":      {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year -1":         {Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, cp := range tests {
		if err := s.Save(cp); err == nil {
			t.Errorf("Save(%s) = nil, want an error", name)
		}
	}
	if files := checkpointFiles(t, dir); len(files) != 0 {
		t.Errorf("rejected saves left files: %v", files)
	}
}

// discard is a logger for tests that expect warnings but do not look at them.
var discard = slog.New(slog.DiscardHandler)

func TestStoreLatestUntil(t *testing.T) {
	s, err := checkpoint.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := s.Save(&checkpoint.Checkpoint{Time: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		until, want time.Time
	}{{t0.Add(time.Second), t0.Add(time.Second)}, {t0.Add(1500 * time.Millisecond), t0.Add(time.Second)}, {t0.Add(time.Hour), t0.Add(2 * time.Second)}} {
		cp, err := s.LatestUntil(c.until)
		if err != nil || !cp.Time.Equal(c.want) {
			t.Errorf("LatestUntil(%v) = %v, %v; want the checkpoint of %v", c.until, cp, err, c.want)
		}
	}
	if _, err := s.LatestUntil(t0.Add(-time.Second)); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("LatestUntil before every checkpoint = %v, want ErrNoCheckpoint", err)
	}
}

func TestKeepAllAtAndPruneBefore(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.Open(dir, checkpoint.KeepAll())
	if err != nil {
		t.Fatal(err)
	}
	at := func(k int) time.Time { return t0.Add(time.Duration(k) * time.Second) }
	for k := range 6 {
		if err := s.Save(sample(t, at(k))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(checkpointFiles(t, dir)); n != 6 {
		t.Fatalf("%d files with KeepAll, want 6", n)
	}
	// Two files of one time: At gives the newest valid one.
	second := sample(t, at(3))
	second.Interval = 42 * time.Second
	if err := s.Save(second); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.At(at(3)); err != nil || cp.Interval != 42*time.Second {
		t.Fatalf("At(3) = %v, %v; want the newer file of that time", cp, err)
	}
	files := checkpointFiles(t, dir) // 0, 1, 2, 3, 3 (the newer), 4, 5
	if err := os.WriteFile(filepath.Join(dir, files[4]), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.At(at(3)); err != nil || cp.Interval == 42*time.Second {
		t.Fatalf("At(3) with its newer file damaged = %v, %v; want the older file of that time", cp, err)
	}
	if _, err := s.At(at(9)); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("At of a time with no file: %v; want ErrNoCheckpoint", err)
	}
	s.PruneBefore(at(4))
	if n := len(checkpointFiles(t, dir)); n != 2 {
		t.Errorf("%d files after PruneBefore(4), want 2 (4 and 5)", n)
	}
	if _, err := s.At(at(3)); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("At(3) after pruning: %v; want ErrNoCheckpoint", err)
	}
}
