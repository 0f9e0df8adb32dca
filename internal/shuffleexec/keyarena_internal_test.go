package shuffleexec

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// within reports whether s's bytes lie inside big's.
func within(s, big string) bool {
	if len(s) == 0 {
		return false
	}
	p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(big)))
	return p >= b && p < b+uintptr(len(big))
}

type word string

// A map task's table stores copies of string keys (of any type whose
// underlying type is string), not substrings of the caller's input; a
// reduce task's table keeps the caller's strings.
func TestMapSideTableCopiesStringKeys(t *testing.T) {
	line := strings.Repeat("alpha beta gamma delta ", 100)
	m := NewMapSide(ops.Reducing(ops.Sum[int]), shuffle.NewHash[string](1))
	mw := NewMapSide(ops.Reducing(ops.Sum[int]), shuffle.NewHash[word](1))
	for w := range strings.FieldsSeq(line) {
		if err := m.Add(w, 1); err != nil {
			t.Fatal(err)
		}
		if err := mw.Add(word(w), 1); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"alpha": 100, "beta": 100, "gamma": 100, "delta": 100}
	check := func(name string, keys []string, values []int) {
		t.Helper()
		if len(keys) != len(want) {
			t.Fatalf("%s: %d keys, want %d", name, len(keys), len(want))
		}
		for i, k := range keys {
			if values[i] != want[k] {
				t.Errorf("%s: %q = %d, want %d", name, k, values[i], want[k])
			}
			if within(k, line) {
				t.Errorf("%s: key %q is a substring of the input line, want a copy", name, k)
			}
		}
	}
	var keys []string
	var values []int
	for _, kv := range m.table.Pairs() {
		keys, values = append(keys, kv.Key), append(values, kv.Value)
	}
	check("string", keys, values)
	keys, values = nil, nil
	for _, kv := range mw.table.Pairs() {
		keys, values = append(keys, string(kv.Key)), append(values, kv.Value)
	}
	check("named string", keys, values)

	r := NewTable[string](ops.Reducing(ops.Sum[int]), 0)
	r.Add(line[:5], 1)
	if k := r.Pairs()[0].Key; unsafe.StringData(k) != unsafe.StringData(line) {
		t.Errorf("a table without copyKeys stored a copy of %q", k)
	}
	ints := NewMapSide(ops.Reducing(ops.Sum[int]), shuffle.NewHash[int](1))
	if ints.table.keys != nil {
		t.Error("a table of int keys has a key arena")
	}
}

// A keyArena never writes over a copy it returned, whatever the lengths
// that follow: empty keys, keys that fill a chunk exactly, keys longer
// than a chunk's quarter (copied on their own), keys longer than a chunk.
func TestKeyArenaKeepsEveryCopy(t *testing.T) {
	var a keyArena
	lengths := []int{0, 1, 7, 255, 256, 1, 257, maxKeyChunk / 4, maxKeyChunk/4 + 1, 3, maxKeyChunk, 2 * maxKeyChunk, 5}
	for range 200 {
		lengths = append(lengths, 1+len(lengths)%97)
	}
	var originals, copies []string
	for i, n := range lengths {
		s := strings.Repeat(string(rune('a'+i%26)), n)
		c := a.copy(s)
		if c != s {
			t.Fatalf("copy %d (%d bytes) = %q…, want the same bytes", i, n, c[:min(len(c), 8)])
		}
		if n > 0 && unsafe.StringData(c) == unsafe.StringData(s) {
			t.Fatalf("copy %d (%d bytes) is the caller's string", i, n)
		}
		originals, copies = append(originals, s), append(copies, c)
	}
	for i := range copies {
		if copies[i] != originals[i] {
			t.Fatalf("copy %d (%d bytes) changed after later copies", i, lengths[i])
		}
	}
	if cap(a.buf) > maxKeyChunk {
		t.Errorf("chunk of %d bytes, want at most %d", cap(a.buf), maxKeyChunk)
	}
}
