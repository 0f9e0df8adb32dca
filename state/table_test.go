package state

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
	"unsafe"
)

// TestTableAgainstAMap runs random puts, removes, rebuilds and shrinks on tables of
// int, string and struct keys (the hash's three paths) against a plain map, holding
// a Ref to each key's entry: a Ref must stay valid while its entry neither moved (a
// rebuild) nor went, and must reach only its key's entry.
func TestTableAgainstAMap(t *testing.T) {
	t.Run("int", func(t *testing.T) { checkTable(t, func(i int) int { return i }) })
	t.Run("string", func(t *testing.T) { checkTable(t, strconv.Itoa) })
	type pair struct {
		a int32
		b string
	}
	t.Run("struct", func(t *testing.T) { checkTable(t, func(i int) pair { return pair{int32(i % 7), strconv.Itoa(i / 7)} }) })
}

func checkTable[K comparable](t *testing.T, key func(int) K) {
	rng := rand.New(rand.NewPCG(7, 8))
	tb := newTable[K, int]()
	want := map[K]int{}
	type held struct {
		r     Ref
		valid bool // neither removed nor moved since r was taken
	}
	refs := map[K]*held{}
	stale := func() {
		for _, h := range refs {
			h.valid = false
		}
	}
	for step := range 20_000 {
		// The key space grows and shrinks, so that the table does too.
		space := 1 + (step/2000%5)*200
		k := key(rng.IntN(space))
		switch op := rng.IntN(100); {
		case op < 50:
			gen := tb.gen
			v := rng.Int()
			i := tb.slot(k)
			tb.slots[i].v = v
			want[k] = v
			if tb.gen != gen {
				stale()
			}
			refs[k] = &held{tb.ref(i), true}
		case op < 85:
			tb.remove(k)
			delete(want, k)
			if h := refs[k]; h != nil {
				h.valid = false
			}
		case op < 97:
			wv, wok := want[k]
			if v, ok := tb.get(k); ok != wok || v != wv {
				t.Fatalf("step %d: get(%v) = %d, %v; want %d, %v", step, k, v, ok, wv, wok)
			}
		case op < 99:
			if tb.shrink() {
				stale()
			}
		default:
			tb.rebuild(tb.live + rng.IntN(50))
			stale()
		}
		for rk, h := range refs {
			i, ok := tb.at(h.r, rk)
			if h.valid && !ok {
				t.Fatalf("step %d: the Ref of %v, neither moved nor removed, is not valid", step, rk)
			}
			if ok && (tb.slots[i].k != rk || tb.slots[i].v != want[rk]) {
				t.Fatalf("step %d: the Ref of %v reaches the entry of %v", step, rk, tb.slots[i].k)
			}
		}
		if tb.used*5 > len(tb.ctrl)*4 || tb.live != len(want) {
			t.Fatalf("step %d: %d slots, %d used, %d live; want %d live, at most 4/5 used", step, len(tb.ctrl), tb.used, tb.live, len(want))
		}
		if step%500 == 0 {
			got := map[K]int{}
			tb.all(func(k K, v int) bool { got[k] = v; return true })
			if !maps.Equal(got, want) {
				t.Fatalf("step %d: all() yields %d entries, want %d", step, len(got), len(want))
			}
		}
	}
}

// TestTableAllWhileRebuilt changes, removes and adds entries while all() yields, so
// that adding rebuilds the table under it: every entry there from start to end is
// yielded once, with its value of the moment.
func TestTableAllWhileRebuilt(t *testing.T) {
	tb := newTable[int, int]()
	for k := range 100 {
		tb.put(k, k)
	}
	gen := tb.gen
	seen, removed := map[int]int{}, map[int]bool{}
	tb.all(func(k, v int) bool {
		if now, ok := tb.get(k); !ok || now != v {
			t.Errorf("key %d yielded with %d; its value is %d, %v", k, v, now, ok)
		}
		seen[k]++
		if k < 100 && k%2 == 0 {
			tb.put(k+1, -1) // changed before it is yielded, or after
		}
		if k < 100 && k%3 == 0 {
			tb.remove((k + 50) % 100)
			removed[(k+50)%100] = true
		}
		tb.put(1000+k, k) // grows the table
		return true
	})
	if tb.gen == gen {
		t.Fatal("the table was not rebuilt during the walk: the test tests nothing")
	}
	for k := range 100 {
		if !removed[k] && seen[k] != 1 {
			t.Errorf("key %d, there throughout, yielded %d times", k, seen[k])
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("key %d yielded %d times", k, n)
		}
	}
}

// TestTableMemory checks that an entry costs its slot over the table's load, and
// that a table whose entries went gives its memory back.
func TestTableMemory(t *testing.T) {
	tb := newTable[int64, int64]()
	const n = 100_000
	for k := range int64(n) {
		tb.put(k, k)
	}
	perEntry := float64(tb.bytes()) / n
	if slot := float64(unsafe.Sizeof(slot[int64, int64]{}) + 1); perEntry < slot*5/4 || perEntry > slot*5/3 {
		t.Errorf("%.1f bytes per entry; want between %.1f and %.1f (loads 4/5 to 3/5)", perEntry, slot*5/4, slot*5/3)
	}
	for k := range int64(n - 100) {
		tb.remove(k)
	}
	if !tb.shrink() || tb.bytes() > int64(slotsFor(100))*tb.slotBytes() {
		t.Errorf("after removing all but 100 entries: %d bytes", tb.bytes())
	}
	for k := range int64(n) {
		if v, ok := tb.get(k); ok != (k >= n-100) || ok && v != k {
			t.Fatalf("get(%d) = %d, %v", k, v, ok)
		}
	}
}

// TestTableFromAnotherInItsSlotOrder copies entries in the slot order of a table
// (the order of its hash) into another, and rebuilds a table whose entries left are
// the last in its slot order (as Evict leaves them): the entries must spread over the
// new table. With the old table's hash they would pile up in one run of slots that
// each insertion probes to its end.
func TestTableFromAnotherInItsSlotOrder(t *testing.T) {
	// meanDisplacement returns how far past their home slots the entries lie.
	meanDisplacement := func(tb *table[int, int]) float64 {
		total := 0
		for j, c := range tb.ctrl {
			if c < ctrlEmpty {
				home := tb.home(tb.hash(tb.slots[j].k))
				total += (j - home + len(tb.ctrl)) % len(tb.ctrl)
			}
		}
		return float64(total) / float64(tb.live)
	}
	src := newTable[int, int]()
	for k := range 200_000 {
		src.put(k, k)
	}
	// A table sized for the first keys copied, as a growing table is: with the
	// old table's hash, they would all have their homes in its first 1%.
	const copied = 2000
	dst := newTable[int, int]()
	dst.rebuild(copied)
	n := 0
	src.all(func(k, v int) bool {
		dst.put(k, v)
		n++
		return n < copied
	})
	if d := meanDisplacement(&dst); d > 5 {
		t.Errorf("copied entries lie %.1f slots past their home on average; want about 1", d)
	}
	// All but the last entries in slot order go, and the table is rebuilt for
	// those left: with its hash of before, they would all have their homes in
	// its last 1%.
	for j := range len(src.ctrl) * 99 / 100 {
		if src.ctrl[j] < ctrlEmpty {
			src.removeAt(j)
		}
	}
	src.rebuild(src.live)
	if d := meanDisplacement(&src); d > 5 {
		t.Errorf("entries left lie %.1f slots past their home on average after the rebuild; want about 1", d)
	}
}

func TestRefsKeepTheirRefs(t *testing.T) {
	var l Refs
	a, b := Ref{i: 1, gen: 3}, Ref{i: 7, gen: 3}
	l.Append(a)
	l.Append(Ref{})
	l.Append(b)
	for j, want := range []Ref{a, {}, b, {}} {
		if got := l.At(j); got != want {
			t.Errorf("At(%d) = %v, want %v", j, got, want)
		}
	}
	// A Ref of a newer table generation: those before it are stale.
	c := Ref{i: 2, gen: 4}
	l.Append(c)
	if l.Len() != 4 || l.At(3) != c || l.At(0) != (Ref{}) || l.At(2) != (Ref{}) {
		t.Errorf("after a Ref of a newer generation: %d Refs, %v %v %v", l.Len(), l.At(0), l.At(2), l.At(3))
	}
}
