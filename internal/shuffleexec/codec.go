package shuffleexec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// The records of a spill file are encoded by a small binary codec of this
// package, compiled once per type from its reflect.Type:
//
//   - a type without pointers (numbers, bools, and arrays and structs of
//     them) is its memory: a record is copied byte for byte, and a chunk of
//     them in one copy;
//   - a string is its length (uvarint) and bytes; a slice its length plus
//     one (0: nil) and elements; a map likewise, its pairs;
//   - an array or struct is its elements or fields in order, unexported
//     fields included.
//
// A decoded value is == to the one encoded (keys merge by ==), and prints
// the same. Pointers, interfaces, channels and functions are not encoded:
// what they point to would stay in memory, and could not be rebuilt equal.
// A record type that holds one cannot spill (its codec's err says why),
// time.Time included (its zone is a pointer; a MarshalBinary encoding
// loses the zone's name and the monotonic clock reading): its shuffles keep
// their records in memory beyond the budget, with a warning (see Spiller).
// Files live only as long as the job that wrote them, in one process, so
// the encoding is native-endian and unversioned.

// codec encodes and decodes the values of one type.
type codec struct {
	typ  reflect.Type
	size int
	// min is the fewest bytes a value's encoding takes.
	min int
	// flat: the type holds no pointers, so a value's bytes are its
	// encoding.
	flat bool
	// enc appends the encoding of the value at p to b.
	enc func(b []byte, p unsafe.Pointer) []byte
	// dec decodes one value from d into p (whose memory holds a zero or
	// stale value of the type: dec overwrites all of it).
	dec func(d *decoder, p unsafe.Pointer)
	// heap returns an estimate of the bytes the value at p holds beyond its
	// own size (string bytes, slice and map contents); nil when none.
	heap func(p unsafe.Pointer) int64
	// err, when set, is why values of the type cannot be encoded.
	err error
}

// decoder reads encoded values from a byte slice. A malformed input sets
// err (once) and makes every later read return zeros.
type decoder struct {
	b   []byte
	err error
}

var errCorrupt = errors.New("corrupt record")

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next n bytes (a view of the input).
func (d *decoder) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// length reads a length that must fit in what is left of the input, each
// element taking at least min bytes.
func (d *decoder) length(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/max(min, 1)) {
		d.fail()
		return 0
	}
	return int(n)
}

var codecs sync.Map // reflect.Type → *codec

// codecOf returns the codec of T.
func codecOf[T any]() *codec { return codecFor(reflect.TypeFor[T]()) }

func codecFor(t reflect.Type) *codec {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec)
	}
	c := compile(t, map[reflect.Type]*codec{})
	actual, _ := codecs.LoadOrStore(t, c)
	return actual.(*codec)
}

// compile builds t's codec. busy holds the codecs being built, so that a
// recursive type (a struct holding a slice of itself) refers to its own.
func compile(t reflect.Type, busy map[reflect.Type]*codec) *codec {
	if c, ok := busy[t]; ok {
		return c
	}
	c := &codec{typ: t, size: int(t.Size())}
	busy[t] = c
	c.min = 1 // a length, for strings, slices and maps
	if isFlat(t) {
		c.flat, c.min = true, c.size
		size := c.size
		c.enc = func(b []byte, p unsafe.Pointer) []byte {
			return append(b, unsafe.Slice((*byte)(p), size)...)
		}
		c.dec = func(d *decoder, p unsafe.Pointer) {
			copy(unsafe.Slice((*byte)(p), size), d.bytes(size))
		}
		return c
	}
	switch t.Kind() {
	case reflect.String:
		c.enc = func(b []byte, p unsafe.Pointer) []byte {
			s := *(*string)(p)
			b = binary.AppendUvarint(b, uint64(len(s)))
			return append(b, s...)
		}
		c.dec = func(d *decoder, p unsafe.Pointer) {
			*(*string)(p) = string(d.bytes(d.length(1)))
		}
		c.heap = func(p unsafe.Pointer) int64 { return int64(len(*(*string)(p))) }
	case reflect.Slice:
		compileSlice(c, compile(t.Elem(), busy))
	case reflect.Array:
		compileArray(c, compile(t.Elem(), busy))
	case reflect.Struct:
		compileStruct(c, busy)
	case reflect.Map:
		compileMap(c, compile(t.Key(), busy), compile(t.Elem(), busy))
	default:
		kind := t.Kind().String()
		if t.Kind() == reflect.Pointer {
			kind = "pointer"
		}
		c.err = fmt.Errorf("%s is a %s, which a spill file cannot hold", t, kind)
	}
	return c
}

// isFlat reports whether t's values hold no pointers.
func isFlat(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return isFlat(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !isFlat(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

func compileSlice(c, elem *codec) {
	if elem.err != nil {
		c.err = elem.err
		return
	}
	esize := elem.size
	et := c.typ.Elem()
	c.enc = func(b []byte, p unsafe.Pointer) []byte {
		s := (*sliceHeader)(p)
		if s.data == nil {
			return append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(s.len)+1)
		if elem.flat {
			return append(b, unsafe.Slice((*byte)(s.data), s.len*esize)...)
		}
		for i := range s.len {
			b = elem.enc(b, unsafe.Add(s.data, i*esize))
		}
		return b
	}
	c.dec = func(d *decoder, p unsafe.Pointer) {
		n := d.uvarint()
		if n == 0 {
			*(*sliceHeader)(p) = sliceHeader{}
			return
		}
		l := int(n - 1)
		if uint64(l) != n-1 || l < 0 || (elem.min > 0 && l > len(d.b)/elem.min) {
			d.fail()
			return
		}
		s := reflect.MakeSlice(reflect.SliceOf(et), l, l)
		data := s.UnsafePointer()
		if elem.flat {
			copy(unsafe.Slice((*byte)(data), l*esize), d.bytes(l*esize))
		} else {
			for i := range l {
				elem.dec(d, unsafe.Add(data, i*esize))
			}
		}
		*(*sliceHeader)(p) = sliceHeader{data: data, len: l, cap: l}
	}
	c.heap = func(p unsafe.Pointer) int64 {
		s := (*sliceHeader)(p)
		return int64(s.cap*esize) + sampledHeap(elem, s.data, s.len)
	}
}

// sliceHeader is the memory layout of a slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// sampledHeap estimates the heap of the n elements at data: exactly for a
// few, from 16 evenly spaced ones for more.
func sampledHeap(elem *codec, data unsafe.Pointer, n int) int64 {
	if elem.heap == nil || n == 0 {
		return 0
	}
	const samples = 16
	if n <= samples {
		var sum int64
		for i := range n {
			sum += elem.heap(unsafe.Add(data, i*elem.size))
		}
		return sum
	}
	var sum int64
	for i := range samples {
		sum += elem.heap(unsafe.Add(data, i*(n/samples)*elem.size))
	}
	return sum * int64(n) / samples
}

func compileArray(c, elem *codec) {
	if elem.err != nil {
		c.err = elem.err
		return
	}
	n, esize := c.typ.Len(), elem.size
	c.min = n * elem.min
	c.enc = func(b []byte, p unsafe.Pointer) []byte {
		for i := range n {
			b = elem.enc(b, unsafe.Add(p, i*esize))
		}
		return b
	}
	c.dec = func(d *decoder, p unsafe.Pointer) {
		for i := range n {
			elem.dec(d, unsafe.Add(p, i*esize))
		}
	}
	c.heap = func(p unsafe.Pointer) int64 { return sampledHeap(elem, p, n) }
}

func compileStruct(c *codec, busy map[reflect.Type]*codec) {
	type field struct {
		off uintptr
		c   *codec
	}
	var fields []field
	c.min = 0
	for i := range c.typ.NumField() {
		f := c.typ.Field(i)
		fc := compile(f.Type, busy)
		if fc.err != nil {
			c.err = fmt.Errorf("%s.%s: %w", c.typ, f.Name, fc.err)
			return
		}
		fields = append(fields, field{f.Offset, fc})
		c.min += fc.min
	}
	c.enc = func(b []byte, p unsafe.Pointer) []byte {
		for _, f := range fields {
			b = f.c.enc(b, unsafe.Add(p, f.off))
		}
		return b
	}
	c.dec = func(d *decoder, p unsafe.Pointer) {
		for _, f := range fields {
			f.c.dec(d, unsafe.Add(p, f.off))
		}
	}
	c.heap = func(p unsafe.Pointer) int64 {
		var sum int64
		for _, f := range fields {
			if f.c.heap != nil {
				sum += f.c.heap(unsafe.Add(p, f.off))
			}
		}
		return sum
	}
}

// mapEntryOverhead is what a Go map adds to each entry, roughly.
const mapEntryOverhead = 16

func compileMap(c, key, elem *codec) {
	if key.err != nil || elem.err != nil {
		c.err = errors.Join(key.err, elem.err)
		return
	}
	t := c.typ
	c.enc = func(b []byte, p unsafe.Pointer) []byte {
		m := reflect.NewAt(t, p).Elem()
		if m.IsNil() {
			return append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(m.Len())+1)
		k, v := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for it := m.MapRange(); it.Next(); {
			k.SetIterKey(it)
			v.SetIterValue(it)
			b = key.enc(b, k.Addr().UnsafePointer())
			b = elem.enc(b, v.Addr().UnsafePointer())
		}
		return b
	}
	c.dec = func(d *decoder, p unsafe.Pointer) {
		n := d.uvarint()
		m := reflect.NewAt(t, p).Elem()
		if n == 0 || d.err != nil {
			m.SetZero()
			return
		}
		l := int(n - 1)
		if per := key.min + elem.min; uint64(l) != n-1 || (per > 0 && l > len(d.b)/per) {
			d.fail()
			return
		}
		mv := reflect.MakeMapWithSize(t, min(l, len(d.b)+1))
		for range l {
			k, v := reflect.New(t.Key()), reflect.New(t.Elem())
			key.dec(d, k.UnsafePointer())
			elem.dec(d, v.UnsafePointer())
			if d.err != nil {
				return
			}
			mv.SetMapIndex(k.Elem(), v.Elem())
		}
		m.Set(mv)
	}
	per := int64(key.size + elem.size + mapEntryOverhead)
	c.heap = func(p unsafe.Pointer) int64 {
		m := reflect.NewAt(t, p).Elem()
		sum := int64(m.Len()) * per
		if key.heap == nil && elem.heap == nil {
			return sum
		}
		const samples = 8
		var n, vs int64
		k, v := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for it := m.MapRange(); it.Next() && n < samples; n++ {
			k.SetIterKey(it)
			v.SetIterValue(it)
			if key.heap != nil {
				vs += key.heap(k.Addr().UnsafePointer())
			}
			if elem.heap != nil {
				vs += elem.heap(v.Addr().UnsafePointer())
			}
		}
		if n > 0 {
			sum += vs * int64(m.Len()) / n
		}
		return sum
	}
}
