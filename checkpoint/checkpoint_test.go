package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spatedev/spate/checkpoint"
)

// The file format, as doc.go documents it; the tests build files by hand with it.
const (
	magic      = "SPATECKP"
	headerSize = 24
)

// fileWith returns a checkpoint file around payload, with a valid header and checksum.
func fileWith(payload []byte) []byte {
	data := make([]byte, headerSize, headerSize+len(payload))
	copy(data, magic)
	binary.BigEndian.PutUint32(data[8:], 1)
	binary.BigEndian.PutUint64(data[12:], uint64(len(payload)))
	binary.BigEndian.PutUint32(data[20:], crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	return append(data, payload...)
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	data, err := checkpoint.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sample returns a checkpoint with every field set.
func sample(t testing.TB, at time.Time) *checkpoint.Checkpoint {
	t.Helper()
	offsets, err := checkpoint.NewEntry("kafka:events", map[int32]int64{0: 42, 1: 7})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := checkpoint.NewEntry("wordcount", map[string]int64{"a": 1, "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	return &checkpoint.Checkpoint{
		Time:     at,
		Interval: time.Second,
		Sources:  []checkpoint.Entry{offsets},
		States:   []checkpoint.Entry{counts, {Name: "empty", Type: "struct {}"}},
	}
}

var t0 = time.Date(2024, 5, 17, 10, 30, 0, 123456789, time.UTC)

func TestEncodeDecode(t *testing.T) {
	in := map[string]int64{"x": 1, "y": -2}
	var out map[string]int64
	if err := checkpoint.Decode(mustEncode(t, in), &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := checkpoint.Decode(append(mustEncode(t, in), 0x01), &out); err == nil {
		t.Error("Decode accepted a trailing byte")
	}
	if err := checkpoint.Decode(nil, &out); err == nil {
		t.Error("Decode accepted no bytes")
	}
}

func TestNewEntry(t *testing.T) {
	e, err := checkpoint.NewEntry("op", map[string]int64{"k": 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "op" || e.Type != "map[string]int64" {
		t.Errorf("NewEntry = %q, %q; want op, map[string]int64", e.Name, e.Type)
	}
	var m map[string]int64
	if err := checkpoint.Decode(e.Data, &m); err != nil || m["k"] != 3 {
		t.Errorf("Decode(entry) = %v, %v", m, err)
	}
	if _, err := checkpoint.NewEntry("bad", make(chan int)); err == nil {
		t.Error("NewEntry encoded a channel")
	}
}

func TestLookup(t *testing.T) {
	cp := sample(t, t0)
	if e, ok := cp.Source("kafka:events"); !ok || e.Name != "kafka:events" {
		t.Errorf("Source(kafka:events) = %v, %v", e, ok)
	}
	if _, ok := cp.Source("wordcount"); ok {
		t.Error("Source found a state entry")
	}
	if e, ok := cp.State("wordcount"); !ok || e.Type != "map[string]int64" {
		t.Errorf("State(wordcount) = %v, %v", e, ok)
	}
	if _, ok := cp.State("missing"); ok {
		t.Error("State found a missing entry")
	}
}

func TestParseRejects(t *testing.T) {
	valid := fileWith(mustEncode(t, sample(t, t0)))
	if _, err := checkpoint.Parse(valid); err != nil {
		t.Fatalf("Parse(valid) = %v", err)
	}
	modify := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	tests := []struct {
		name string
		data []byte
		want string // in the error
	}{
		{"empty", nil, "truncated: 0 bytes"},
		{"short header", valid[:10], "shorter than the 24-byte header"},
		{"bad magic", modify(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic bytes"},
		{"unknown version", modify(func(b []byte) []byte { b[11] = 9; return b }), "unknown format version 9"},
		{"truncated payload", valid[:len(valid)-5], "truncated: header declares"},
		{"trailing bytes", append(bytes.Clone(valid), 0), "wrong length"},
		{"flipped payload byte", modify(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), "checksum mismatch"},
		{"flipped checksum", modify(func(b []byte) []byte { b[20] ^= 1; return b }), "checksum mismatch"},
		{"payload not msgpack", fileWith([]byte{0xc1}), "invalid type byte 0xc1"},
		{"payload wrong type", fileWith(mustEncode(t, "a string")), "payload"},
		{"payload truncated msgpack", fileWith(mustEncode(t, sample(t, t0))[:30]), "payload: msgpack: "},
		{"duplicate source names", fileWith(mustEncode(t, &checkpoint.Checkpoint{
			Sources: []checkpoint.Entry{{Name: "s"}, {Name: "s"}}})), `two source entries named "s"`},
		{"nil time", fileWith([]byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0xc0}), "decoder panicked"},
		{"negative interval", fileWith(mustEncode(t, &checkpoint.Checkpoint{Interval: -1})), "negative batch interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, err := checkpoint.Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", cp)
			}
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("error %q does not wrap ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestHugeDeclaredLengths checks that a payload declaring a huge string, byte slice,
// array or map, with a valid header and checksum around it, is an error without a huge
// allocation: msgpack/v5 alone would allocate what the length says.
func TestHugeDeclaredLengths(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xf0}
	field := func(name string) []byte { return append([]byte{0x81, 0xa0 | byte(len(name))}, name...) }
	entry := func(key string) []byte { // {"sources": [{key: ...
		return append(append(field("sources"), 0x91), field(key)...)
	}
	tests := map[string][]byte{
		"array of entries":  append(field("sources"), append([]byte{0xdd}, huge...)...),
		"array of times":    append(field("pending"), append([]byte{0xdd}, huge...)...),
		"bin data":          append(entry("data"), append([]byte{0xc6}, huge...)...),
		"str name":          append(entry("name"), append([]byte{0xdb}, huge...)...),
		"map":               append([]byte{0xdf}, huge...),
		"nested arrays":     bytes.Repeat([]byte{0xdd, 0x00, 0x10, 0x00, 0x00}, 50),
		"ext":               append(field("time"), append([]byte{0xc9}, append(huge, 0xff)...)...),
		"array of 16 bytes": append(field("sources"), 0xdc, 0xff, 0xff),
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			data := fileWith(payload)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cp, err := checkpoint.Parse(data)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", cp)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Errorf("Parse allocated %d bytes for a %d-byte file (error %v)", n, len(data), err)
			}
			var v any
			runtime.ReadMemStats(&before)
			err = checkpoint.Decode(payload, &v)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Decode = %v, want an error", v)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Errorf("Decode allocated %d bytes for %d bytes (error %v)", n, len(payload), err)
			}
		})
	}
}

func TestDecodeDeepNesting(t *testing.T) {
	var v any
	deep := append(bytes.Repeat([]byte{0x91}, 100_000), 0xc0)
	err := checkpoint.Decode(deep, &v)
	if err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("Decode(100000 nested arrays) = %v, want a nesting error", err)
	}
	ok := append(bytes.Repeat([]byte{0x91}, 50), 0xc0)
	if err := checkpoint.Decode(ok, &v); err != nil {
		t.Errorf("Decode(50 nested arrays) = %v", err)
	}
}

func TestParseRoundTrip(t *testing.T) {
	want := sample(t, t0)
	got, err := checkpoint.Parse(fileWith(mustEncode(t, want)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// A checkpoint written before the Pending field was dropped (it held batch times
// nothing read) still parses: the unknown field is skipped.
func TestACheckpointWithPendingStillParses(t *testing.T) {
	data, err := os.ReadFile("testdata/with-pending.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Parse(data)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if cp.Time.IsZero() || len(cp.Sources) == 0 {
		t.Errorf("parsed %+v, want its time and sources", cp)
	}
}
