package dstream

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/ops"
)

// sums is a window of sums: with the inverse if inv.
func sums(inv bool) *incWindow[string, int] {
	w := &incWindow[string, int]{reduce: func(a, b int) int { return a + b }}
	if inv {
		w.inverse = func(a, b int) int { return a - b }
	}
	return w
}

// entry returns the entry of value v that keeps the values of parts, by batch time.
func entry(v int, parts ...winPart[int]) winEntry[int] {
	var e winEntry[int]
	e.V = v
	e.setParts(parts)
	return e
}

func TestWindowFold(t *testing.T) {
	w := sums(true)
	tests := []struct {
		name      string
		cur       winEntry[int]
		ok, leave bool
		v         int
		want      winEntry[int]
		kept      bool
	}{
		{"a new key enters", winEntry[int]{}, false, false, 3, winEntry[int]{V: 3}, true},
		{"a value enters", winEntry[int]{V: 3}, true, false, 4, winEntry[int]{V: 7}, true},
		{"a value leaves", winEntry[int]{V: 7}, true, true, 3, winEntry[int]{V: 4}, true},
		{"a value of a key keep dropped leaves: nothing to take out", winEntry[int]{}, false, true, 3, winEntry[int]{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kept := w.fold(tt.cur, tt.ok, tt.v, tt.leave)
			if !cmp.Equal(tt.want, got) || kept != tt.kept {
				t.Errorf("fold = %+v, %v; want %+v, %v", got, kept, tt.want, tt.kept)
			}
		})
	}
}

func TestWindowAddPart(t *testing.T) {
	w := sums(false)
	got := w.addPart(winEntry[int]{}, false, winPart[int]{T: 1, V: 3})
	if want := entry(3, winPart[int]{1, 3}); !cmp.Equal(want, got) {
		t.Errorf("a new key: %+v, want %+v", got, want)
	}
	// The values of the entry before are not written over: a rollback restores it.
	before := entry(3, winPart[int]{1, 3})
	*before.Parts = append(make([]winPart[int], 0, 4), *before.Parts...) // room to append in place
	got = w.addPart(before, true, winPart[int]{T: 2, V: 4})
	if want := entry(7, winPart[int]{1, 3}, winPart[int]{2, 4}); !cmp.Equal(want, got) {
		t.Errorf("a second batch: %+v, want %+v", got, want)
	}
	if want := entry(3, winPart[int]{1, 3}); !cmp.Equal(want, before) {
		t.Errorf("the entry before is now %+v, want %+v", before, want)
	}
}

func TestWindowDropParts(t *testing.T) {
	three := func(v int) winEntry[int] {
		return entry(v, winPart[int]{1, 3}, winPart[int]{2, 4}, winPart[int]{3, 5})
	}
	tests := []struct {
		name  string
		inv   bool
		cur   winEntry[int]
		until int64
		want  winEntry[int]
		kept  bool
	}{
		{"nothing leaves", false, three(12), 0, three(12), true},
		{"the oldest leaves, taken out with the inverse", true, three(12), 1, entry(9, winPart[int]{2, 4}, winPart[int]{3, 5}), true},
		{"the oldest leaves, reduced again from those left", false, three(12), 1, entry(9, winPart[int]{2, 4}, winPart[int]{3, 5}), true},
		{"all leave, with the inverse: the key stays", true, three(12), 3, entry(0), true},
		{"all leave, without: the key goes", false, three(12), 3, three(12), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kept := sums(tt.inv).dropParts(tt.cur, tt.until)
			if !cmp.Equal(tt.want, got) || kept != tt.kept {
				t.Errorf("dropParts = %+v, %v; want %+v, %v", got, kept, tt.want, tt.kept)
			}
		})
	}
}

func TestWindowDrops(t *testing.T) {
	w := sums(true)
	if w.drops("a", 0) {
		t.Error("a window without keep drops a key")
	}
	w.keep = func(kv ops.KV[string, int]) bool { return kv.Value != 0 }
	if !w.drops("a", 0) || w.drops("a", 1) {
		t.Error("drops does not follow keep")
	}
}

func TestOldestPart(t *testing.T) {
	if got := oldestPart(entry(1)); got != noTouch {
		t.Errorf("oldestPart of an entry without values = %d, want noTouch", got)
	}
	if got := oldestPart(entry(1, winPart[int]{5, 1}, winPart[int]{7, 0})); got != 5 {
		t.Errorf("oldestPart = %d, want 5", got)
	}
}
