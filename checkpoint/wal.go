package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrClosed is returned by the methods of a WAL after Close.
var ErrClosed = errors.New("checkpoint: write-ahead log is closed")

// The write-ahead log's format (see doc.go). The low-water mark file holds the mark
// (8 bytes, big endian) and the CRC32C of those 8 bytes (4 bytes).
const (
	walMagic         = "SPATEWAL"
	walVersion       = 1
	walHeaderSize    = 12
	recordHeaderSize = 16
	segPrefix        = "wal-"
	segSuffix        = ".log"
	segNameLen       = len(segPrefix) + seqDigits + len(segSuffix)
	lowMarkName      = "wal.low"
	walTempPattern   = ".wal-*.tmp"
	minSegmentSize   = 64
)

// A WAL is a write-ahead log: an append-only sequence of records, each with a sequence
// number one higher than the one before, kept in segment files in a directory. A
// record is durable when Append returns. Its methods are safe for concurrent use. Only
// one WAL (in any process) may use a directory at a time: OpenWAL locks it (see Lock)
// until Close.
type WAL struct {
	dir         string
	segmentSize int64
	logger      *slog.Logger
	lock        *DirLock

	mu     sync.Mutex
	segs   []uint64 // first sequence number of each segment, ascending; the last is active
	f      *os.File // the active segment
	size   int64    // bytes in the active segment
	next   uint64   // sequence number of the next record
	low    uint64   // records below it are truncated
	broken error    // set when a write failed: Append refuses to go on
	closed bool
}

// OpenWAL opens the write-ahead log in dir, creating the directory and the log if
// needed. The sequence numbers of a new log start at 1.
//
// OpenWAL reads the last segment to find the next sequence number. A record at its very
// end that is incomplete or fails its checksum (an append cut short by a crash) is cut
// off with a warning: it was never acknowledged. Corruption anywhere else in that
// segment is an error naming the segment and the offset; the other segments are checked
// by Replay. A directory that another WAL holds (in this process or another) is an
// error wrapping ErrLocked that names the holder's pid. An invalid option is an error
// naming it, wrapping the module's ErrInvalid (rdd.ErrInvalid).
func OpenWAL(dir string, opts ...WALOpt) (w *WAL, err error) {
	cfg := walConfig{segmentSize: 64 << 20}
	if err := applyOpts("checkpoint.OpenWAL", opts, func(o WALOpt) error { return o.applyWAL(&cfg) }); err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	lock, err := Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	defer func() {
		if err != nil {
			lock.Unlock()
		}
	}()
	if err := removeTemps(dir, walTempPattern); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	w = &WAL{dir: dir, segmentSize: cfg.segmentSize, logger: cfg.logger, lock: lock}
	if w.low, err = readLowMark(dir); err != nil {
		return nil, err
	}
	if w.segs, err = listSegments(dir); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if len(w.segs) == 0 {
		if err := w.startSegment(max(1, w.low)); err != nil {
			return nil, err
		}
		return w, nil
	}
	if err := w.openLast(); err != nil {
		return nil, err
	}
	if w.low > w.next {
		w.f.Close()
		return nil, fmt.Errorf("wal: %s: the low-water mark %d is past the end of the log (next sequence number %d)",
			filepath.Join(dir, lowMarkName), w.low, w.next)
	}
	return w, nil
}

func segName(first uint64) string {
	return fmt.Sprintf("%s%0*d%s", segPrefix, seqDigits, first, segSuffix)
}

// listSegments returns the first sequence numbers of the segments in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, e := range entries { // sorted by name, so by first sequence number
		name := e.Name()
		if len(name) != segNameLen || !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(name[len(segPrefix):len(segPrefix)+seqDigits], 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, first)
	}
	return segs, nil
}

// startSegment creates the segment whose first record is first, complete with its
// header, and makes it the active one.
func (w *WAL) startSegment(first uint64) error {
	name := segName(first)
	header := make([]byte, walHeaderSize)
	copy(header, walMagic)
	binary.BigEndian.PutUint32(header[8:], walVersion)
	if err := writeFileAtomic(w.dir, name, walTempPattern, header); err != nil {
		return fmt.Errorf("wal: create segment %s: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if w.f != nil {
		w.f.Close() // synced after its last append
	}
	w.f, w.size, w.next = f, walHeaderSize, first
	w.segs = append(w.segs, first)
	return nil
}

// openLast opens the last segment as the active one: it reads all its records to find
// the next sequence number, and cuts off a torn record at its end.
func (w *WAL) openLast() error {
	first := w.segs[len(w.segs)-1]
	path := filepath.Join(w.dir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	r, err := newSegmentReader(f, path, first)
	if err == nil {
		for {
			if _, _, err = r.record(); err != nil {
				break
			}
		}
		if err == io.EOF {
			err = nil
		}
	}
	var bad *recordError
	if errors.As(err, &bad) {
		var torn bool
		if torn, err = bad.torn(f, r.size); err == nil && !torn {
			err = bad
		}
		if err == nil {
			err = w.cutTail(f, path, bad)
		}
	}
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size, w.next = f, r.off, r.next
	return nil
}

// cutTail truncates the segment f at the torn record bad.
func (w *WAL) cutTail(f *os.File, path string, bad *recordError) error {
	if err := f.Truncate(bad.off); err != nil {
		return fmt.Errorf("wal: cut off torn record: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: cut off torn record: %w", err)
	}
	w.logger.Warn("wal: cut off a torn record at the end of the log (an append cut short by a crash, never acknowledged)",
		"segment", path, "offset", bad.off, "seq", bad.seq, "reason", bad.reason, "bytes", bad.size-bad.off)
	return nil
}

// readLowMark returns the low-water mark stored in dir, or 0 when there is none.
func readLowMark(dir string) (uint64, error) {
	path := filepath.Join(dir, lowMarkName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wal: %w", err)
	}
	if len(data) != 12 || crc32.Checksum(data[:8], castagnoli) != binary.BigEndian.Uint32(data[8:]) {
		return 0, fmt.Errorf("wal: low-water mark file %s is corrupt (%d bytes, want 12 with a valid CRC32C)", path, len(data))
	}
	return binary.BigEndian.Uint64(data), nil
}

// Append adds record to the log and returns its sequence number. The record is durable
// (written and fsynced) when Append returns nil. Records may be empty; they must be
// shorter than 4 GiB.
//
// When a write or fsync fails, the state of the file is unknown: Append returns the
// error and refuses every later append until Repair succeeds (or the log is opened
// again).
func (w *WAL) Append(record []byte) (seq uint64, err error) {
	if uint64(len(record)) > math.MaxUint32 {
		return 0, fmt.Errorf("wal: record of %d bytes is too large (at most %d)", len(record), uint64(math.MaxUint32))
	}
	buf := make([]byte, recordHeaderSize+len(record))
	binary.BigEndian.PutUint32(buf, uint32(len(record)))
	copy(buf[recordHeaderSize:], record)
	crc := crc32.Checksum(record, castagnoli) // outside the lock; the sequence bytes are added below

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.broken != nil {
		return 0, w.broken
	}
	if w.size > walHeaderSize && w.size+int64(len(buf)) > w.segmentSize {
		if err := w.startSegment(w.next); err != nil {
			return 0, err
		}
	}
	seq = w.next
	binary.BigEndian.PutUint64(buf[8:], seq)
	binary.BigEndian.PutUint32(buf[4:], crc32.Update(crc, castagnoli, buf[8:16]))
	_, err = w.f.WriteAt(buf, w.size)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		w.f.Truncate(w.size) // best effort: the log is refused below anyway
		w.broken = fmt.Errorf("wal: append to %s failed, the log takes no more appends until it is repaired: %w",
			w.f.Name(), err)
		return 0, w.broken
	}
	w.size += int64(len(buf))
	w.next++
	return seq, nil
}

// Repair makes a log that refuses appends after a failed write or fsync (see Append)
// take them again, once the cause is gone (a full disk with space freed): it opens the
// active segment again and cuts it back to the end of its last acknowledged record,
// fsynced, without giving up the directory's lock. If that fails too, the log goes on
// refusing appends and Repair returns the error. On a log that takes appends, Repair
// does nothing.
func (w *WAL) Repair() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.broken == nil {
		return nil
	}
	path := filepath.Join(w.dir, segName(w.segs[len(w.segs)-1]))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: repairing %s: %w", path, err)
	}
	if err = f.Truncate(w.size); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: repairing %s: cutting it back to %d bytes: %w", path, w.size, err)
	}
	w.f.Close() // its state is unknown; what it holds up to w.size was fsynced
	w.f, w.broken = f, nil
	w.logger.Info("wal: repaired after a failed append: appending again", "segment", path, "bytes", w.size)
	return nil
}

// Replay calls fn for every record in the log, in order of sequence number, skipping
// the truncated ones. It stops at the first error fn returns and returns it. fn may
// keep record. Replay reads the records that were appended when it started; fn may call
// Append and Truncate.
//
// A record that is damaged, or missing between others, is an error naming the segment
// and the offset.
func (w *WAL) Replay(fn func(seq uint64, record []byte) error) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	segs, low, end := slices.Clone(w.segs), w.low, w.next
	w.mu.Unlock()

	for i, first := range segs {
		segEnd := end // one past the last record of the segment
		if i+1 < len(segs) {
			segEnd = segs[i+1]
		}
		if segEnd <= low {
			continue // truncated; its file may not be deleted yet
		}
		if err := w.replaySegment(first, segEnd, low, fn); err != nil {
			return err
		}
	}
	return nil
}

// replaySegment calls fn for the records from low to end of the segment that starts at
// first.
func (w *WAL) replaySegment(first, end, low uint64, fn func(uint64, []byte) error) error {
	path := filepath.Join(w.dir, segName(first))
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		w.mu.Lock()
		truncated := w.low >= end // by a Truncate since Replay started
		w.mu.Unlock()
		if truncated {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	r, err := newSegmentReader(f, path, first)
	if err != nil {
		return err
	}
	for r.next < end {
		seq, rec, err := r.record()
		if err == io.EOF {
			return fmt.Errorf("wal: segment %s ends at offset %d before record %d (records up to %d expected)",
				path, r.off, r.next, end-1)
		}
		if err != nil {
			return err
		}
		if seq < low {
			continue
		}
		if err := fn(seq, rec); err != nil {
			return err
		}
	}
	return nil
}

// Truncate drops the records with a sequence number below before: no Replay started
// after it returns sees them, even after the log is opened again. Segments that hold
// only such records are deleted. before may be at most the next sequence number.
func (w *WAL) Truncate(before uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if before > w.next {
		return fmt.Errorf("wal: Truncate(%d): past the end of the log (next sequence number %d)", before, w.next)
	}
	if before <= w.low {
		return nil
	}
	// The mark goes first: once it is durable, the records below it are gone for every
	// reader, whether or not their segments are deleted below.
	mark := make([]byte, 12)
	binary.BigEndian.PutUint64(mark, before)
	binary.BigEndian.PutUint32(mark[8:], crc32.Checksum(mark[:8], castagnoli))
	if err := writeFileAtomic(w.dir, lowMarkName, walTempPattern, mark); err != nil {
		return fmt.Errorf("wal: write low-water mark: %w", err)
	}
	w.low = before
	for len(w.segs) > 1 && w.segs[1] <= before {
		if err := os.Remove(filepath.Join(w.dir, segName(w.segs[0]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wal: delete truncated segment: %w", err)
		}
		w.segs = w.segs[1:]
	}
	return nil
}

// Close closes the log. Later calls of its methods return ErrClosed; Close itself
// returns nil when called again.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.f.Close()
	if uerr := w.lock.Unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// A segmentReader reads the records of one segment file from the start.
type segmentReader struct {
	r    *bufio.Reader
	path string
	size int64  // of the file when the reader was made
	off  int64  // of the next record
	next uint64 // sequence number the next record must have
}

// newSegmentReader checks the header of the segment f, whose first record is first.
func newSegmentReader(f *os.File, path string, first uint64) (*segmentReader, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	r := &segmentReader{r: bufio.NewReaderSize(f, 64<<10), path: path, size: info.Size(), next: first}
	header := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(r.r, header); err != nil {
		return nil, fmt.Errorf("wal: segment %s: header: %w", path, err)
	}
	if string(header[:8]) != walMagic {
		return nil, fmt.Errorf("wal: segment %s: bad magic bytes %q, want %q", path, header[:8], walMagic)
	}
	if v := binary.BigEndian.Uint32(header[8:]); v != walVersion {
		return nil, fmt.Errorf("wal: segment %s: unknown format version %d (this build reads version %d)", path, v, walVersion)
	}
	r.off = walHeaderSize
	return r, nil
}

// A recordError reports a damaged record.
type recordError struct {
	path   string
	off    int64  // of the record
	seq    uint64 // the sequence number it should have
	size   int64  // of the segment
	reason string
	// reachesEnd: the record, as its header declares it, extends to the end of the file
	// or past it.
	reachesEnd bool
}

func (e *recordError) Error() string {
	return fmt.Sprintf("wal: segment %s: record %d at offset %d: %s", e.path, e.seq, e.off, e.reason)
}

// torn reports whether e, found in the last segment f, is a torn append: a record that
// reaches the end of the file, or that is followed only by zero bytes (which some file
// systems leave after a crash).
func (e *recordError) torn(f *os.File, size int64) (bool, error) {
	if e.reachesEnd {
		return true, nil
	}
	buf := make([]byte, 64<<10)
	for off := e.off; off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if !allZero(buf[:n]) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("wal: %w", err)
		}
		off += int64(n)
	}
	return true, nil
}

func allZero(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}

// record reads the next record. It returns io.EOF at the clean end of the segment and a
// *recordError for a damaged record.
func (r *segmentReader) record() (seq uint64, record []byte, err error) {
	left := r.size - r.off
	if left == 0 {
		return 0, nil, io.EOF
	}
	bad := func(reachesEnd bool, format string, args ...any) error {
		return &recordError{path: r.path, off: r.off, seq: r.next, size: r.size,
			reason: fmt.Sprintf(format, args...), reachesEnd: reachesEnd}
	}
	if left < recordHeaderSize {
		return 0, nil, bad(true, "incomplete header: %d bytes left in the segment", left)
	}
	var header [recordHeaderSize]byte
	if _, err := io.ReadFull(r.r, header[:]); err != nil {
		return 0, nil, fmt.Errorf("wal: segment %s offset %d: %w", r.path, r.off, err)
	}
	n := int64(binary.BigEndian.Uint32(header[:]))
	if n > left-recordHeaderSize {
		return 0, nil, bad(true, "declares %d bytes, %d left in the segment", n, left-recordHeaderSize)
	}
	record = make([]byte, n)
	if _, err := io.ReadFull(r.r, record); err != nil {
		return 0, nil, fmt.Errorf("wal: segment %s offset %d: %w", r.path, r.off, err)
	}
	reachesEnd := recordHeaderSize+n == left
	want := binary.BigEndian.Uint32(header[4:])
	if got := crc32.Update(crc32.Checksum(record, castagnoli), castagnoli, header[8:16]); got != want {
		return 0, nil, bad(reachesEnd, "checksum mismatch: CRC32C is %08x, header says %08x", got, want)
	}
	if seq = binary.BigEndian.Uint64(header[8:]); seq != r.next {
		return 0, nil, bad(false, "has sequence number %d", seq)
	}
	r.off += recordHeaderSize + n
	r.next++
	return seq, record, nil
}
