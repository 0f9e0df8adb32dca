package checkpoint

import (
	"encoding/binary"
	"fmt"
)

// maxDepth is how deeply arrays and maps may nest in data given to Decode and Parse.
const maxDepth = 100

// checkMsgpack reports whether data is exactly one well-formed msgpack value, without
// decoding it.
//
// It exists because msgpack/v5 trusts the lengths it reads: a bin or str header that
// declares 4 GiB makes it allocate 4 GiB before reading, and so does an array header
// decoded into a slice. checkMsgpack walks the value and rejects any length that the
// remaining bytes cannot hold: a str, bin or ext must fit in what is left, and an array
// or map of n elements needs at least one byte per element still to be read (counting
// the elements of every enclosing container too). After it passes, every length the
// decoder sees is at most len(data), so what it allocates is bounded by a small
// multiple of len(data). It also bounds the nesting depth, so that decoding cannot
// exhaust the stack.
func checkMsgpack(data []byte) error {
	// open holds, for each array or map being read, how many of its elements (keys and
	// values of a map count separately) are still to be read; the outermost level is
	// the single top-level value. pending is their sum.
	open := []uint64{1}
	pending := uint64(1)
	off := 0
	for pending > 0 {
		for open[len(open)-1] == 0 {
			open = open[:len(open)-1]
		}
		open[len(open)-1]--
		pending--

		start := off
		if off >= len(data) {
			return fmt.Errorf("msgpack: truncated at byte %d: %d more values expected", off, pending+1)
		}
		c := data[off]
		off++
		// Each case sets skip (bytes of content after the header) or elems (values
		// inside an array or map).
		var skip, elems uint64
		size := func(n int) (uint64, bool) { // reads an n-byte big-endian length
			if len(data)-off < n {
				return 0, false
			}
			var v uint64
			switch n {
			case 1:
				v = uint64(data[off])
			case 2:
				v = uint64(binary.BigEndian.Uint16(data[off:]))
			case 4:
				v = uint64(binary.BigEndian.Uint32(data[off:]))
			}
			off += n
			return v, true
		}
		ok := true
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		case c <= 0x8f: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			elems = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		case c == 0xc4, c == 0xd9: // bin 8, str 8
			skip, ok = size(1)
		case c == 0xc5, c == 0xda: // bin 16, str 16
			skip, ok = size(2)
		case c == 0xc6, c == 0xdb: // bin 32, str 32
			skip, ok = size(4)
		case c == 0xc7, c == 0xc8, c == 0xc9: // ext 8, 16, 32: length, type, data
			skip, ok = size(1 << (c - 0xc7))
			skip++
		case c == 0xca, c == 0xce, c == 0xd2: // float 32, uint 32, int 32
			skip = 4
		case c == 0xcb, c == 0xcf, c == 0xd3: // float 64, uint 64, int 64
			skip = 8
		case c == 0xcc, c == 0xd0: // uint 8, int 8
			skip = 1
		case c == 0xcd, c == 0xd1: // uint 16, int 16
			skip = 2
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16: type, data
			skip = 1 + 1<<(c-0xd4)
		case c == 0xdc: // array 16
			elems, ok = size(2)
		case c == 0xdd: // array 32
			elems, ok = size(4)
		case c == 0xde: // map 16
			elems, ok = size(2)
			elems *= 2
		case c == 0xdf: // map 32
			elems, ok = size(4)
			elems *= 2
		default: // 0xc1, never used
			return fmt.Errorf("msgpack: invalid type byte 0x%02x at byte %d", c, start)
		}
		if !ok {
			return fmt.Errorf("msgpack: truncated header at byte %d", start)
		}
		left := uint64(len(data) - off)
		if skip > left {
			return fmt.Errorf("msgpack: value at byte %d declares %d bytes, %d left", start, skip, left)
		}
		off += int(skip)
		if elems > 0 {
			if pending+elems > left {
				return fmt.Errorf("msgpack: value at byte %d declares %d elements, only %d bytes left for them and %d more values",
					start, elems, left, pending)
			}
			if len(open) > maxDepth {
				return fmt.Errorf("msgpack: value at byte %d nests deeper than %d", start, maxDepth)
			}
			open = append(open, elems)
			pending += elems
		}
	}
	if off != len(data) {
		return fmt.Errorf("msgpack: %d unexpected bytes after the value", len(data)-off)
	}
	return nil
}
