package checkpoint_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/checkpoint"
)

// The segment format, as wal.go documents it.
const (
	walHeaderSize    = 12
	recordHeaderSize = 16
)

type walRecord struct {
	Seq  uint64
	Data string
}

func openWAL(t *testing.T, dir string, opts ...checkpoint.WALOpt) *checkpoint.WAL {
	t.Helper()
	w, err := checkpoint.OpenWAL(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func appendAll(t *testing.T, w *checkpoint.WAL, records ...string) {
	t.Helper()
	for _, r := range records {
		if _, err := w.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
}

func replayAll(t *testing.T, w *checkpoint.WAL) []walRecord {
	t.Helper()
	got, err := replay(w)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func replay(w *checkpoint.WAL) ([]walRecord, error) {
	var got []walRecord
	err := w.Replay(func(seq uint64, record []byte) error {
		got = append(got, walRecord{seq, string(record)})
		return nil
	})
	return got, err
}

// records returns the records "r<from>" to "r<to>" with sequence numbers from to to.
func records(from, to uint64) []walRecord {
	var rs []walRecord
	for seq := from; seq <= to; seq++ {
		rs = append(rs, walRecord{seq, fmt.Sprintf("r%d", seq)})
	}
	return rs
}

func appendRecords(t *testing.T, w *checkpoint.WAL, from, to uint64) {
	t.Helper()
	for _, r := range records(from, to) {
		seq, err := w.Append([]byte(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		if seq != r.Seq {
			t.Fatalf("Append(%s) = %d, want %d", r.Data, seq, r.Seq)
		}
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// smallSegments makes a segment hold about three of the records of records().
var smallSegments = checkpoint.SegmentSize(walHeaderSize + 3*(recordHeaderSize+3))

func TestWALAppendReplayReopen(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir, smallSegments)
	if got := replayAll(t, w); len(got) != 0 {
		t.Errorf("new log replays %v", got)
	}
	appendRecords(t, w, 1, 10)
	if diff := cmp.Diff(records(1, 10), replayAll(t, w)); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
	if n := len(segments(t, dir)); n < 3 {
		t.Errorf("%d segments, want several", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = openWAL(t, dir, smallSegments)
	if diff := cmp.Diff(records(1, 10), replayAll(t, w)); diff != "" {
		t.Errorf("Replay after reopening (-want +got):\n%s", diff)
	}
	appendRecords(t, w, 11, 12) // sequence numbers go on
	if diff := cmp.Diff(records(1, 12), replayAll(t, w)); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
}

func TestWALLargeRecord(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir, checkpoint.SegmentSize(64))
	big := strings.Repeat("x", 1000) // larger than a segment: gets one of its own
	appendAll(t, w, "a", big, "b")
	want := []walRecord{{1, "a"}, {2, big}, {3, "b"}}
	if diff := cmp.Diff(want, replayAll(t, w)); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
	if _, err := checkpoint.OpenWAL(t.TempDir(), checkpoint.SegmentSize(10)); err == nil {
		t.Error("OpenWAL accepted SegmentSize(10)")
	}
}

func TestWALTruncate(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir, smallSegments)
	appendRecords(t, w, 1, 10)
	before := len(segments(t, dir))
	if err := w.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(records(5, 10), replayAll(t, w)); diff != "" {
		t.Errorf("Replay after Truncate(5) (-want +got):\n%s", diff)
	}
	if after := len(segments(t, dir)); after >= before {
		t.Errorf("Truncate(5) kept all %d segments", after)
	}
	if err := w.Truncate(3); err != nil { // lower than before: nothing to do
		t.Fatal(err)
	}
	if err := w.Truncate(12); err == nil {
		t.Error("Truncate past the end of the log succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Record 5 shares its segment with record 4, which must not come back.
	w = openWAL(t, dir, smallSegments)
	if diff := cmp.Diff(records(5, 10), replayAll(t, w)); diff != "" {
		t.Errorf("Replay after reopening (-want +got):\n%s", diff)
	}
	// Truncating everything keeps the sequence numbers going.
	if err := w.Truncate(11); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, w); len(got) != 0 {
		t.Errorf("Replay after truncating everything = %v", got)
	}
	w.Close()
	w = openWAL(t, dir, smallSegments)
	appendRecords(t, w, 11, 11)
	if diff := cmp.Diff(records(11, 11), replayAll(t, w)); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
}

// A torn append at the end of the log is cut off on open, with a warning, and its
// sequence number is reused.
func TestWALTornTail(t *testing.T) {
	tests := []struct {
		name  string
		spoil func([]byte) []byte
	}{
		{"partial header", func(b []byte) []byte { return append(b, 0, 0, 0) }},
		{"partial record", func(b []byte) []byte { return append(b, 0, 0, 0, 9, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5, 'h') }},
		{"cut last record", func(b []byte) []byte { return b[:len(b)-1] }},
		{"garbled last record", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"zero tail", func(b []byte) []byte { return append(b, make([]byte, 100)...) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWAL(t, dir, smallSegments)
			appendRecords(t, w, 1, 5)
			w.Close()
			segs := segments(t, dir)
			last := segs[len(segs)-1]
			spoil(t, last, tt.spoil)

			logger, logs := captureLogs()
			w = openWAL(t, dir, smallSegments, checkpoint.WithLogger(logger))
			want := records(1, 5)
			if tt.name == "cut last record" || tt.name == "garbled last record" {
				want = records(1, 4)
			}
			if diff := cmp.Diff(want, replayAll(t, w)); diff != "" {
				t.Errorf("Replay (-want +got):\n%s", diff)
			}
			for _, s := range []string{"level=WARN", "torn", filepath.Base(last)} {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log does not contain %q:\n%s", s, logs)
				}
			}
			next := uint64(len(want) + 1)
			appendRecords(t, w, next, next)
			w.Close()
			w = openWAL(t, dir, smallSegments)
			if diff := cmp.Diff(append(want, records(next, next)...), replayAll(t, w)); diff != "" {
				t.Errorf("Replay after appending (-want +got):\n%s", diff)
			}
		})
	}
}

// Damage before the end of the last segment is not a torn append: OpenWAL reports it.
// Damage in an earlier segment is reported by Replay.
func TestWALCorruption(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir, smallSegments)
	appendRecords(t, w, 1, 8) // segments: 1-3, 4-6, 7-8
	w.Close()
	segs := segments(t, dir)
	if len(segs) != 3 {
		t.Fatalf("segments %v, want 3", segs)
	}
	firstRecord := walHeaderSize + recordHeaderSize // first byte of the first record's data

	spoil(t, segs[0], func(b []byte) []byte { b[firstRecord] ^= 0xff; return b })
	w = openWAL(t, dir, smallSegments)
	got, err := replay(w)
	if err == nil {
		t.Fatalf("Replay over a damaged segment = %v, nil", got)
	}
	for _, s := range []string{filepath.Base(segs[0]), fmt.Sprintf("offset %d", walHeaderSize), "checksum"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Replay error does not contain %q: %v", s, err)
		}
	}
	w.Close()

	spoil(t, segs[2], func(b []byte) []byte { b[firstRecord] ^= 0xff; return b })
	if w, err := checkpoint.OpenWAL(dir, smallSegments); err == nil {
		w.Close()
		t.Fatal("OpenWAL accepted a damaged record followed by a good one")
	} else {
		for _, s := range []string{filepath.Base(segs[2]), fmt.Sprintf("offset %d", walHeaderSize), "checksum"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("OpenWAL error does not contain %q: %v", s, err)
			}
		}
	}
}

func TestWALMissingSegment(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir, smallSegments)
	appendRecords(t, w, 1, 8)
	w.Close()
	if err := os.Remove(segments(t, dir)[1]); err != nil {
		t.Fatal(err)
	}
	w = openWAL(t, dir, smallSegments)
	if got, err := replay(w); err == nil {
		t.Errorf("Replay with a segment missing = %v, nil", got)
	}
}

func TestWALBadLowMark(t *testing.T) {
	dir := t.TempDir()
	w := openWAL(t, dir)
	appendRecords(t, w, 1, 3)
	if err := w.Truncate(2); err != nil {
		t.Fatal(err)
	}
	w.Close()
	spoil(t, filepath.Join(dir, "wal.low"), func(b []byte) []byte { b[0] ^= 1; return b })
	if w, err := checkpoint.OpenWAL(dir); err == nil {
		w.Close()
		t.Error("OpenWAL accepted a damaged low-water mark")
	}
}

func TestWALConcurrentAppend(t *testing.T) {
	const writers, perWriter = 8, 50
	dir := t.TempDir()
	w := openWAL(t, dir, checkpoint.SegmentSize(1024))
	var (
		mu       sync.Mutex
		appended = map[uint64]string{}
		wg       sync.WaitGroup
	)
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				rec := fmt.Sprintf("writer %d record %d", g, i)
				seq, err := w.Append([]byte(rec))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := appended[seq]; dup {
					t.Errorf("sequence number %d given to %q and %q", seq, prev, rec)
				}
				appended[seq] = rec
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	w.Close()

	w = openWAL(t, dir, checkpoint.SegmentSize(1024))
	got := replayAll(t, w)
	if len(got) != writers*perWriter {
		t.Fatalf("replayed %d records, want %d", len(got), writers*perWriter)
	}
	for i, r := range got {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has sequence number %d", i, r.Seq)
		}
		if appended[r.Seq] != r.Data {
			t.Errorf("record %d is %q, Append returned it for %q", r.Seq, r.Data, appended[r.Seq])
		}
	}
}

func TestWALReplayCallback(t *testing.T) {
	w := openWAL(t, t.TempDir())
	appendRecords(t, w, 1, 5)
	stop := errors.New("stop")
	var seen []uint64
	err := w.Replay(func(seq uint64, _ []byte) error {
		seen = append(seen, seq)
		if seq == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(seen, []uint64{1, 2}) {
		t.Errorf("Replay = %v after %v, want stop after [1 2]", err, seen)
	}
	// fn may append and truncate; Replay reads what was there when it started.
	err = w.Replay(func(seq uint64, record []byte) error {
		if _, err := w.Append(record); err != nil {
			return err
		}
		return w.Truncate(seq)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []walRecord{{5, "r5"}, {6, "r1"}, {7, "r2"}, {8, "r3"}, {9, "r4"}, {10, "r5"}}
	if diff := cmp.Diff(want, replayAll(t, w)); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
}

func TestWALClosed(t *testing.T) {
	w := openWAL(t, t.TempDir())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(nil); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if err := w.Replay(func(uint64, []byte) error { return nil }); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Replay after Close = %v", err)
	}
	if err := w.Truncate(1); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Truncate after Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
