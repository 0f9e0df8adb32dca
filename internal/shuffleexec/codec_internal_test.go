package shuffleexec

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/ops"
)

// roundTrip encodes vals one after the other in one buffer and decodes
// them back.
func roundTrip[T any](t *testing.T, vals []T) []T {
	t.Helper()
	c := codecOf[T]()
	if c.err != nil {
		t.Fatalf("codec of %s: %v", c.typ, c.err)
	}
	var b []byte
	for i := range vals {
		b = c.enc(b, unsafe.Pointer(&vals[i]))
	}
	if min := len(vals) * c.min; len(b) < min {
		t.Errorf("%s: %d values in %d bytes, fewer than min %d", c.typ, len(vals), len(b), min)
	}
	d := decoder{b: b}
	out := make([]T, len(vals))
	for i := range out {
		c.dec(&d, unsafe.Pointer(&out[i]))
	}
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("%s: decode: %v, %d bytes left", c.typ, d.err, len(d.b))
	}
	return out
}

type inner struct {
	S  string
	xs []int8 // unexported
	M  map[string][]string
}

type record struct {
	ID     int64
	Name   string
	Tags   []string
	In     inner
	Arr    [3]inner
	Flat   [2]struct{ A, B int32 }
	Empty  struct{}
	Nested [][]float64
}

type tree struct {
	Label    string
	Children []tree
}

// TestCodecRoundTrip checks that decoded values equal the encoded ones, for
// flat types, strings, nil and empty slices and maps, nested and recursive
// types.
func TestCodecRoundTrip(t *testing.T) {
	ints := []ops.KV[int, float64]{{Key: -1, Value: math.Inf(1)}, {Key: math.MaxInt, Value: -0.5}, {}}
	if diff := cmp.Diff(ints, roundTrip(t, ints)); diff != "" {
		t.Errorf("flat pairs (-want +got):\n%s", diff)
	}
	strs := []string{"", "a", strings.Repeat("é", 300), "\x00"}
	if diff := cmp.Diff(strs, roundTrip(t, strs)); diff != "" {
		t.Errorf("strings (-want +got):\n%s", diff)
	}
	// Many empty strings: each takes one byte, less than a string header.
	empties := [][]string{nil, {}, make([]string, 100)}
	got := roundTrip(t, empties)
	if got[0] != nil || got[1] == nil || len(got[1]) != 0 || len(got[2]) != 100 {
		t.Errorf("nil, empty and 100 empty strings came back as %#v, %#v and %d strings", got[0], got[1], len(got[2]))
	}
	recs := []record{
		{},
		{ID: 7, Name: "r", Tags: []string{"x", ""}, In: inner{S: "s", xs: []int8{-1, 2}, M: map[string][]string{"k": {"v"}, "": nil}},
			Arr: [3]inner{{S: "a"}, {M: map[string][]string{}}, {xs: []int8{}}}, Flat: [2]struct{ A, B int32 }{{1, 2}, {3, 4}},
			Nested: [][]float64{{1}, nil, {}}},
	}
	if diff := cmp.Diff(recs, roundTrip(t, recs), cmp.AllowUnexported(inner{})); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	trees := []tree{{Label: "root", Children: []tree{{Label: "a"}, {Label: "b", Children: []tree{{Label: "c"}}}}}}
	if diff := cmp.Diff(trees, roundTrip(t, trees)); diff != "" {
		t.Errorf("recursive type (-want +got):\n%s", diff)
	}
	zero := []map[struct{}]struct{}{{struct{}{}: {}}, nil}
	if got := roundTrip(t, zero); len(got[0]) != 1 || got[1] != nil {
		t.Errorf("maps of zero-size types came back as %v", got)
	}
}

// TestCodecRefuses checks that types holding pointers, interfaces,
// channels or functions, time.Time included, have no codec, and say why.
func TestCodecRefuses(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[*int](),
		reflect.TypeFor[ops.KV[string, any]](),
		reflect.TypeFor[struct{ C chan int }](),
		reflect.TypeFor[[]func()](),
		reflect.TypeFor[map[string]*record](),
		reflect.TypeFor[ops.KV[string, time.Time]](),
	} {
		if c := codecFor(typ); c.err == nil {
			t.Errorf("%s has a codec", typ)
		}
	}
}

// TestCodecCorrupt checks that truncated or garbled input is an error,
// never a panic or a huge allocation.
func TestCodecCorrupt(t *testing.T) {
	c := codecOf[record]()
	v := record{Name: "name", Tags: []string{"a", "b"}, In: inner{M: map[string][]string{"k": {"v"}}}}
	b := c.enc(nil, unsafe.Pointer(&v))
	for n := range len(b) {
		d := decoder{b: b[:n]}
		var out record
		c.dec(&d, unsafe.Pointer(&out))
		if d.err == nil {
			t.Errorf("decoding %d of %d bytes: no error", n, len(b))
		}
	}
	// A huge slice length.
	d := decoder{b: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}}
	var out []string
	codecOf[[]string]().dec(&d, unsafe.Pointer(&out))
	if !errors.Is(d.err, errCorrupt) {
		t.Errorf("a huge slice length: %v, want errCorrupt", d.err)
	}
}

// TestCodecHeap checks the estimate of what a value holds beyond its size.
func TestCodecHeap(t *testing.T) {
	v := ops.KV[string, []int64]{Key: "abcd", Value: make([]int64, 2, 10)}
	if got, want := codecOf[ops.KV[string, []int64]]().heap(unsafe.Pointer(&v)), int64(4+10*8); got != want {
		t.Errorf("heap = %d, want %d", got, want)
	}
	if codecOf[ops.KV[int, int]]().heap != nil {
		t.Error("a flat type has a heap estimate")
	}
}
