package shuffleexec_test

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// spillFiles returns the files under dir, recursively.
func spillFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// spaceIn returns a job's space in a pool of limit bytes, its files under a
// new directory, and checks when the test ends that closing it deletes
// every file and releases every byte.
func spaceIn(t *testing.T, limit int64) (*shuffleexec.Pool, *shuffleexec.Space, string) {
	t.Helper()
	dir := t.TempDir()
	pool := shuffleexec.NewPool(limit, nil)
	space := pool.NewSpace(dir)
	t.Cleanup(func() {
		if err := space.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if files := spillFiles(t, dir); len(files) > 0 {
			t.Errorf("files left after Close: %v", files)
		}
		if u := pool.Used(); u != 0 {
			t.Errorf("%d bytes still counted after Close", u)
		}
	})
	return pool, space, dir
}

// mapTasks runs one MapSide per input, each with its own Spiller of space,
// and returns their outputs.
func mapTasks[K comparable, V, C any](t *testing.T, space *shuffleexec.Space, agg ops.Aggregator[V, C], p shuffle.Partitioner[K], inputs [][]ops.KV[K, V], bySource bool) []*shuffleexec.MapOutput[K, V, C] {
	t.Helper()
	outs := make([]*shuffleexec.MapOutput[K, V, C], len(inputs))
	for j, in := range inputs {
		sp := space.Spiller("map-" + strconv.Itoa(j))
		m := shuffleexec.NewMapSide(agg, p)
		m.SpillTo(sp)
		feed(t, m, in, bySource)
		var err error
		if outs[j], err = m.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return outs
}

// feed adds in's records to m: by Add, or, bySource, as m's source
// (SetSource, AddIndex), so that the records it passes through are kept
// as places in in.
func feed[K comparable, V, C any](t *testing.T, m *shuffleexec.MapSide[K, V, C], in []ops.KV[K, V], bySource bool) {
	t.Helper()
	if bySource {
		m.SetSource(in)
	}
	for i, kv := range in {
		var err error
		if bySource {
			err = m.AddIndex(i)
		} else {
			err = m.Add(kv.Key, kv.Value)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// reduceSpilling reduces every bucket of outs, each with its own Spiller,
// and returns the pairs by bucket.
func reduceSpilling[K comparable, V, C any](t *testing.T, space *shuffleexec.Space, agg ops.Aggregator[V, C], outs []*shuffleexec.MapOutput[K, V, C], n int) [][]ops.KV[K, C] {
	t.Helper()
	got := make([][]ops.KV[K, C], n)
	for q := range n {
		sp := space.Spiller("reduce-" + strconv.Itoa(q))
		pairs, err := reduceAll(agg, outs, q, sp)
		if err != nil {
			t.Fatal(err)
		}
		got[q] = slices.Clone(pairs)
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// sumRef sums values by key.
func sumRef[K comparable](inputs [][]ops.KV[K, int]) map[K]int {
	want := map[K]int{}
	for _, in := range inputs {
		for _, kv := range in {
			want[kv.Key] += kv.Value
		}
	}
	return want
}

// asMap returns the pairs as a map, failing on a key given twice.
func asMap[K comparable, C any](t *testing.T, parts [][]ops.KV[K, C], p shuffle.Partitioner[K]) map[K]C {
	t.Helper()
	got := map[K]C{}
	for q, part := range parts {
		for _, kv := range part {
			if _, dup := got[kv.Key]; dup {
				t.Fatalf("key %v reduced twice", kv.Key)
			}
			if w := p.Partition(kv.Key); w != q {
				t.Fatalf("key %v in partition %d, partitioner says %d", kv.Key, q, w)
			}
			got[kv.Key] = kv.Value
		}
	}
	return got
}

// TestSpillMapSideReduce runs an aggregating shuffle whose map tasks and
// reduce tasks exceed a tiny budget, for the three shapes of a map task
// (combining, passing through, both) and partitioners: the result is the
// in-memory one, files were written, and closing the space deletes them.
func TestSpillMapSideReduce(t *testing.T) {
	inputs := [][]ops.KV[string, int]{
		gen(3*shuffleexec.CheckAfter, func(i int) string { return "d" + strconv.Itoa(i) }), // distinct: passes through
		gen(3*shuffleexec.CheckAfter, func(i int) string { return "r" + strconv.Itoa(i%5000) }),
		gen(2000, func(i int) string { return "d" + strconv.Itoa(i*7) }), // overlaps the first
		nil,
		gen(3, func(int) string { return "" }),
	}
	want := sumRef(inputs)
	for _, p := range []shuffle.Partitioner[string]{shuffle.NewHash[string](1), shuffle.NewHash[string](5), byLen(3)} {
		for _, bySource := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/bySource=%v", p, bySource), func(t *testing.T) {
				pool, space, dir := spaceIn(t, 64<<10)
				agg := ops.Reducing(ops.Sum[int])
				outs := mapTasks(t, space, agg, p, inputs, bySource)
				if !outs[0].Spilled() || !outs[1].Spilled() {
					t.Errorf("map outputs spilled: %v, %v; want both", outs[0].Spilled(), outs[1].Spilled())
				}
				// The distinct task passes records through: as places in its
				// input (Raw is nil) when it reads a source, else as copies.
				if (outs[0].Raw == nil) != bySource {
					t.Errorf("bySource=%v: Raw = %v", bySource, outs[0].Raw)
				}
				if len(spillFiles(t, dir)) == 0 {
					t.Fatal("no spill file")
				}
				got := asMap(t, reduceSpilling(t, space, agg, outs, p.NumPartitions()), p)
				if !maps.Equal(got, want) {
					t.Errorf("%d keys reduced, want %d; sums differ from the reference", len(got), len(want))
				}
				if pool.SpilledBytes() == 0 {
					t.Error("SpilledBytes() = 0")
				}
			})
		}
	}
}

func gen[K comparable](n int, key func(i int) K) []ops.KV[K, int] {
	s := make([]ops.KV[K, int], n)
	for i := range s {
		s[i] = ops.Pair(key(i), i%7+1)
	}
	return s
}

// TestSpillBuckets adds records to buckets far beyond a tiny pool: they
// spill, the pool never counts much more than its limit, and each bucket
// reads back its records in the order they were added.
func TestSpillBuckets(t *testing.T) {
	const limit, n = 32 << 10, 50_000
	pool, space, _ := spaceIn(t, limit)
	sp := space.Spiller("map-0")
	defer sp.Close()
	b := shuffleexec.NewBuckets[ops.KV[string, int]](3)
	b.SpillTo(sp)
	for i := range n {
		if err := b.Add(i%3, ops.Pair(strconv.Itoa(i), i)); err != nil {
			t.Fatal(err)
		}
		// Beyond the share, a task holds at most one new chunk of 64.
		if u := pool.Used(); u > limit+64*64 {
			t.Fatalf("after %d records, %d bytes counted, limit %d", i+1, u, limit)
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if !b.Spilled() || pool.SpilledBytes() == 0 {
		t.Fatalf("Spilled() = %v, SpilledBytes() = %d", b.Spilled(), pool.SpilledBytes())
	}
	for q := range 3 {
		var got []int
		if err := b.Read(q, func(c []ops.KV[string, int]) bool {
			for _, kv := range c {
				if kv.Key != strconv.Itoa(kv.Value) {
					t.Fatalf("record %v read back wrong", kv)
				}
				got = append(got, kv.Value)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != b.Size(q) {
			t.Errorf("bucket %d: %d records read, Size %d", q, len(got), b.Size(q))
		}
		for i, v := range got {
			if v != q+3*i {
				t.Fatalf("bucket %d record %d = %d, want %d", q, i, v, q+3*i)
			}
		}
	}
}

// TestSpillSorter sorts records far beyond a tiny pool, in more runs than
// one merge takes: the order is SortStableFunc's.
func TestSpillSorter(t *testing.T) {
	const limit, n = 16 << 10, 100_000
	pool, space, _ := spaceIn(t, limit)
	sp := space.Spiller("sort-0")
	defer sp.Close()
	type rec struct {
		Key   int
		Label string
	}
	byKey := func(a, b rec) int { return cmpInt(a.Key, b.Key) }
	s := shuffleexec.NewSorter(byKey, 0, sp)
	in := make([]rec, n)
	for i := range in {
		in[i] = rec{Key: i * 7919 % 1000, Label: strconv.Itoa(i)} // many equal keys
		if err := s.Add(in[i]); err != nil {
			t.Fatal(err)
		}
	}
	var got []rec
	sorted, err := s.Finish(func() error { return nil }, func(r rec) bool {
		got = append(got, r)
		return true
	})
	if err != nil || sorted != nil {
		t.Fatalf("Finish = %d records, %v; want them streamed", len(sorted), err)
	}
	want := slices.Clone(in)
	slices.SortStableFunc(want, byKey)
	if !slices.Equal(got, want) {
		t.Errorf("the merged runs are not in stable order (%d records)", len(got))
	}
	if pool.SpilledBytes() == 0 {
		t.Error("SpilledBytes() = 0")
	}
	// Without a Spiller, everything is sorted in memory and returned.
	m := shuffleexec.NewSorter(byKey, 0, nil)
	for _, r := range in {
		if err := m.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := m.Finish(func() error { return nil }, nil)
	if err != nil || !slices.Equal(all, want) {
		t.Errorf("in memory: %d records, %v; want them in stable order", len(all), err)
	}
}

// TestSpillReducerManyRuns reduces with a tiny pool into more runs than one
// merge takes, GroupByKey's aggregator: every key's values come back, in
// the order added.
func TestSpillReducerManyRuns(t *testing.T) {
	const limit, n, keys = 8 << 10, 60_000, 20_000
	_, space, _ := spaceIn(t, limit)
	sp := space.Spiller("reduce-0")
	defer sp.Close()
	r := shuffleexec.NewReducer[int](ops.Grouping[int](), 0, sp)
	for i := range n {
		if err := r.Add(i*7919%keys, i); err != nil {
			t.Fatal(err)
		}
	}
	got := map[int][]int{}
	pairs, err := r.Finish(func() error { return nil }, func(kv ops.KV[int, []int]) bool {
		if _, dup := got[kv.Key]; dup {
			t.Fatalf("key %d twice", kv.Key)
		}
		got[kv.Key] = kv.Value
		return true
	})
	if err != nil || pairs != nil {
		t.Fatalf("Finish = %d pairs, %v; want them streamed", len(pairs), err)
	}
	if len(got) != keys {
		t.Fatalf("%d keys, want %d", len(got), keys)
	}
	for k, vs := range got {
		for j, v := range vs {
			if v*7919%keys != k || j > 0 && v <= vs[j-1] {
				t.Fatalf("key %d: values %v, want its values in the order added", k, vs)
			}
		}
	}
}

// TestSpillGroupingOrderAcrossTheSwitch spills map tasks that combine and
// then pass records through: a key's values keep their order within each
// map task.
func TestSpillGroupingOrderAcrossTheSwitch(t *testing.T) {
	const n = 3 * shuffleexec.CheckAfter
	var inputs [][]ops.KV[int, int]
	for j := range 2 {
		in := make([]ops.KV[int, int], n)
		for i := range in {
			k := i // distinct: the task switches to passing through
			if i%10 == 0 {
				k = -1 - i%7 // recurring keys, before and after the switch
			}
			in[i] = ops.Pair(k, j*n+i)
		}
		inputs = append(inputs, in)
	}
	_, space, _ := spaceIn(t, 64<<10)
	p := shuffle.NewHash[int](3)
	for _, bySource := range []bool{false, true} {
		outs := mapTasks(t, space, ops.Grouping[int](), p, inputs, bySource)
		got := asMap(t, reduceSpilling(t, space, ops.Grouping[int](), outs, 3), p)
		checkGroupOrder(t, got, n)
	}
}

// checkGroupOrder checks that the recurring keys -7…-1 of
// TestSpillGroupingOrderAcrossTheSwitch have their values from each map
// task in the order that task saw them.
func checkGroupOrder(t *testing.T, got map[int][]int, n int) {
	t.Helper()
	for k := -7; k <= -1; k++ {
		last := map[int]int{} // map task → last value
		count := 0
		for _, v := range got[k] {
			if prev, ok := last[v/n]; ok && v <= prev {
				t.Fatalf("key %d: %d after %d from map task %d", k, v, prev, v/n)
			}
			last[v/n] = v
			count++
		}
		if want := 2 * (n / 70); count < want {
			t.Errorf("key %d: %d values, want at least %d", k, count, want)
		}
	}
}

// TestSpillUnencodable buckets records that cannot be encoded (they hold a
// pointer) beyond a tiny pool: they stay in memory, and the pool's logger
// warns once for the type.
func TestSpillUnencodable(t *testing.T) {
	var logs strings.Builder
	pool := shuffleexec.NewPool(4<<10, slog.New(slog.NewTextHandler(&logs, nil)))
	space := pool.NewSpace(t.TempDir())
	defer space.Close()
	type rec struct{ P *int }
	for task := range 2 {
		sp := space.Spiller("map-" + strconv.Itoa(task))
		b := shuffleexec.NewBuckets[rec](2)
		b.SpillTo(sp)
		for i := range 10_000 {
			if err := b.Add(i%2, rec{P: &i}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Finish(); err != nil {
			t.Fatal(err)
		}
		if b.Spilled() || b.Size(0)+b.Size(1) != 10_000 {
			t.Errorf("Spilled() = %v, %d records; want all in memory", b.Spilled(), b.Size(0)+b.Size(1))
		}
		sp.Close()
	}
	if n := strings.Count(logs.String(), "cannot spill"); n != 1 || !strings.Contains(logs.String(), "shuffleexec_test.rec") {
		t.Errorf("%d warnings, want 1 naming the type:\n%s", n, logs.String())
	}
}

// TestSpillReadFails truncates a spill file under its buckets: Read fails
// with a *SpillError naming the file.
func TestSpillReadFails(t *testing.T) {
	_, space, dir := spaceIn(t, 16<<10)
	sp := space.Spiller("map-0")
	defer sp.Close()
	b := shuffleexec.NewBuckets[ops.KV[int, int]](1)
	b.SpillTo(sp)
	for i := range 20_000 {
		if err := b.Add(0, ops.Pair(i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	files := spillFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("spill files %v, want 1", files)
	}
	if err := os.Truncate(files[0], 100); err != nil {
		t.Fatal(err)
	}
	err := b.Read(0, func([]ops.KV[int, int]) bool { return true })
	var se *shuffle.SpillError
	if !errors.As(err, &se) || se.Path != files[0] || !strings.Contains(err.Error(), files[0]) {
		t.Fatalf("Read = %v, want a *SpillError naming %s", err, files[0])
	}
}
