package shuffleexec

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"unsafe"

	"github.com/spatedev/spate/shuffle"
)

// A spill file is written by one task and read by any (with ReadAt, which
// is safe for concurrent use). It holds segments: a segment is a sequence
// of records of one type (a spilled chunk of a bucket, a sorted run of one
// bucket), written as blocks of about blockBytes:
//
//	block:  body length (uint32) | record count (uint32) | records (see codec)
//
// A segment's place in the file is kept in memory by its owner (the
// buckets, the map output, the reducer), never in the file.

// blockBytes is the size above which a block is closed. A reader holds one
// block per segment it reads at once (a k-way merge: one per run).
const blockBytes = 32 << 10

// maxBlockRecords bounds a block's record count (zero-sized records make
// no bytes).
const maxBlockRecords = 1 << 16

// spillErr wraps err, dropping the path an *fs.PathError repeats.
func spillErr(path, op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &shuffle.SpillError{Path: path, Op: op, Err: err}
}

// spillFile is one task's spill file.
type spillFile struct {
	path string
	f    *os.File
	size int64 // bytes written
}

func (f *spillFile) write(b []byte) error {
	n, err := f.f.Write(b)
	f.size += int64(n)
	if err != nil {
		return spillErr(f.path, "write", err)
	}
	return nil
}

func (f *spillFile) readAt(b []byte, off int64) error {
	_, err := f.f.ReadAt(b, off)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return spillErr(f.path, "read", err)
	}
	return nil
}

// segment is where a sequence of records is in a spill file.
type segment struct {
	off, size int64
	n         int // records
}

// segWriter encodes records of one type into segments of a spill file.
type segWriter struct {
	f   *spillFile
	c   *codec
	buf []byte // the block being built, its header first
	n   int    // records in the block
	seg segment
}

const blockHeader = 8

func newSegWriter(f *spillFile, c *codec) *segWriter {
	return &segWriter{f: f, c: c, buf: make([]byte, blockHeader, blockBytes+blockHeader)}
}

// begin starts a segment at the end of the file.
func (w *segWriter) begin() { w.seg = segment{off: w.f.size} }

// add appends the record at p to the segment.
func (w *segWriter) add(p unsafe.Pointer) error {
	if w.c.flat {
		w.buf = append(w.buf, unsafe.Slice((*byte)(p), w.c.size)...)
	} else {
		w.buf = w.c.enc(w.buf, p)
	}
	w.n++
	if len(w.buf) >= blockBytes+blockHeader || w.n == maxBlockRecords {
		return w.flush()
	}
	return nil
}

// addFlat appends n records whose memory is data (a chunk of a flat type).
func (w *segWriter) addFlat(data []byte, n int) error {
	size := w.c.size
	for n > 0 {
		room := maxBlockRecords - w.n
		if size > 0 {
			room = min(room, max((blockBytes+blockHeader-len(w.buf))/size, 1))
		}
		k := min(n, room)
		w.buf = append(w.buf, data[:k*size]...)
		data, n, w.n = data[k*size:], n-k, w.n+k
		if len(w.buf) >= blockBytes+blockHeader || w.n == maxBlockRecords {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the block being built, if it has records.
func (w *segWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	binary.LittleEndian.PutUint32(w.buf[0:], uint32(len(w.buf)-blockHeader))
	binary.LittleEndian.PutUint32(w.buf[4:], uint32(w.n))
	err := w.f.write(w.buf)
	w.seg.n += w.n
	w.buf, w.n = w.buf[:blockHeader], 0
	return err
}

// end closes the segment and returns it.
func (w *segWriter) end() (segment, error) {
	err := w.flush()
	w.seg.size = w.f.size - w.seg.off
	return w.seg, err
}

// segReader reads the records of segments of one file, a block at a time.
type segReader[T any] struct {
	f        *spillFile
	c        *codec
	segs     []segment // segments still to read
	off, end int64     // the rest of the current segment
	raw      []byte    // the block's bytes (non-flat records), reused
	out      []T       // the block's records, reused
}

func newSegReader[T any](f *spillFile, segs []segment) *segReader[T] {
	return &segReader[T]{f: f, c: codecOf[T](), segs: segs}
}

// next returns the records of the next block, valid until the next call,
// or nil at the end of the segments.
func (r *segReader[T]) next() ([]T, error) {
	for r.off == r.end {
		if len(r.segs) == 0 {
			return nil, nil
		}
		r.off, r.end = r.segs[0].off, r.segs[0].off+r.segs[0].size
		r.segs = r.segs[1:]
	}
	var hdr [blockHeader]byte
	if err := r.f.readAt(hdr[:], r.off); err != nil {
		return nil, err
	}
	size := int(binary.LittleEndian.Uint32(hdr[0:]))
	n := int(binary.LittleEndian.Uint32(hdr[4:]))
	if r.off+blockHeader+int64(size) > r.end || (r.c.flat && size != n*r.c.size) {
		return nil, spillErr(r.f.path, "read", errCorrupt)
	}
	if cap(r.out) < n {
		r.out = make([]T, n)
	}
	out := r.out[:n]
	if r.c.flat {
		if size > 0 {
			if err := r.f.readAt(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), size), r.off+blockHeader); err != nil {
				return nil, err
			}
		}
	} else {
		if cap(r.raw) < size {
			r.raw = make([]byte, size)
		}
		raw := r.raw[:size]
		if err := r.f.readAt(raw, r.off+blockHeader); err != nil {
			return nil, err
		}
		d := decoder{b: raw}
		for i := range out {
			r.c.dec(&d, unsafe.Pointer(&out[i]))
		}
		if d.err == nil && len(d.b) != 0 {
			d.err = errCorrupt
		}
		if d.err != nil {
			return nil, spillErr(r.f.path, "decode", d.err)
		}
	}
	r.off += blockHeader + int64(size)
	return out, nil
}
