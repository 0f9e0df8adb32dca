package shuffleexec_test

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

func TestMapSideSwitch(t *testing.T) {
	tests := []struct {
		name     string
		distinct int // keys cycle through this many values
		records  int
		want     bool // still combining at the end
	}{
		{"few keys", 10, 3 * shuffleexec.CheckAfter, true},
		{"exactly half distinct", shuffleexec.CheckAfter / 2, 2 * shuffleexec.CheckAfter, true},
		{"just over half distinct", shuffleexec.CheckAfter/2 + 1, 2 * shuffleexec.CheckAfter, false},
		{"all distinct", math.MaxInt, shuffleexec.CheckAfter + 10, false},
		{"all distinct, too few to judge", math.MaxInt, shuffleexec.CheckAfter - 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := shuffleexec.NewMapSide(ops.Reducing(ops.Sum[int]), shuffle.NewHash[int](4))
			for i := range tt.records {
				if err := m.Add(i%tt.distinct, 1); err != nil {
					t.Fatal(err)
				}
				if i < shuffleexec.CheckAfter-1 && !m.Combining() {
					t.Fatalf("stopped combining after %d records, before CheckAfter", i+1)
				}
			}
			if m.Combining() != tt.want {
				t.Errorf("Combining() = %v, want %v", m.Combining(), tt.want)
			}
			out, err := m.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if (out.Raw == nil) != tt.want {
				t.Errorf("Raw = %v, want nil iff still combining", out.Raw)
			}
			if out.Combined.Len() != 4 {
				t.Errorf("Combined has %d buckets, want 4", out.Combined.Len())
			}
			// Combined output holds at most one record per key.
			for q := range 4 {
				seen := map[int]bool{}
				for _, c := range out.Combined.Chunks(q) {
					for _, p := range c {
						if seen[p.Key] {
							t.Fatalf("key %d combined twice in bucket %d", p.Key, q)
						}
						seen[p.Key] = true
					}
				}
			}
		})
	}
}

// reduceAll returns bucket q of outs reduced, whether Reduce returns it or
// streams it.
func reduceAll[K comparable, V, C any](agg ops.Aggregator[V, C], outs []*shuffleexec.MapOutput[K, V, C], q int, sp *shuffleexec.Spiller) ([]ops.KV[K, C], error) {
	var streamed []ops.KV[K, C]
	pairs, err := shuffleexec.Reduce(agg, outs, q, sp, func() error { return nil }, func(kv ops.KV[K, C]) bool {
		streamed = append(streamed, kv)
		return true
	})
	if pairs == nil {
		pairs = streamed
	}
	return pairs, err
}

// task describes one map task's input: record i has key key(i) and value i%5.
type task struct {
	n   int
	key func(i int) string
}

func TestMapSideReduce(t *testing.T) {
	tasks := []task{
		{2 * shuffleexec.CheckAfter, func(i int) string { return "d" + strconv.Itoa(i) }},    // distinct: passes through
		{2 * shuffleexec.CheckAfter, func(i int) string { return "r" + strconv.Itoa(i%97) }}, // repetitive: combines
		{100, func(i int) string { return "d" + strconv.Itoa(i*3) }},                         // overlaps the first
		{0, nil},                              // empty
		{3, func(i int) string { return "" }}, // zero key
	}
	want := map[string]int{}
	for _, tk := range tasks {
		for i := range tk.n {
			want[tk.key(i)] += i % 5
		}
	}
	parts := []shuffle.Partitioner[string]{shuffle.NewHash[string](1), shuffle.NewHash[string](7), byLen(4)}
	for _, p := range parts {
		for _, bySource := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/bySource=%v", p, bySource), func(t *testing.T) {
				agg := ops.Reducing(ops.Sum[int])
				outs := make([]*shuffleexec.MapOutput[string, int, int], len(tasks)+1) // last one nil: a task with no output
				passing := make([]bool, len(tasks))
				for j, tk := range tasks {
					m := shuffleexec.NewMapSide(agg, p)
					in := make([]ops.KV[string, int], tk.n)
					for i := range in {
						in[i] = ops.Pair(tk.key(i), i%5)
					}
					feed(t, m, in, bySource)
					passing[j] = !m.Combining()
					var err error
					if outs[j], err = m.Finish(); err != nil {
						t.Fatal(err)
					}
				}
				if !passing[0] {
					t.Fatal("distinct task never switched to pass-through")
				}
				if passing[1] {
					t.Fatal("repetitive task switched to pass-through")
				}
				// A task that reads a source passes records through as places
				// in it, not as copies (Raw).
				if (outs[0].Raw == nil) != bySource {
					t.Errorf("Raw = %v", outs[0].Raw)
				}
				got := map[string]int{}
				for q := range p.NumPartitions() {
					pairs, err := reduceAll(agg, outs, q, nil)
					if err != nil {
						t.Fatal(err)
					}
					actual := 0
					for _, kv := range pairs {
						if _, dup := got[kv.Key]; dup {
							t.Fatalf("key %q reduced twice", kv.Key)
						}
						if p.Partition(kv.Key) != q {
							t.Fatalf("key %q reduced in bucket %d, partitioner says %d", kv.Key, q, p.Partition(kv.Key))
						}
						got[kv.Key] = kv.Value
						actual++
					}
					// Distinct sizes the reduce table: within 10% (plus its 5%
					// headroom) when every map task kept sketches (hash), else
					// the count of combined records.
					est := shuffleexec.Distinct(outs, q)
					if _, isHash := p.(*shuffle.Hash[string]); isHash {
						if float64(est) < 0.9*float64(actual) || float64(est) > 1.2*float64(actual)+5 {
							t.Errorf("bucket %d: Distinct = %d, actual %d", q, est, actual)
						}
					} else {
						combined := 0
						for _, o := range outs {
							if o != nil {
								combined += o.Combined.Size(q)
							}
						}
						if est != combined {
							t.Errorf("bucket %d: Distinct = %d, want the %d combined records", q, est, combined)
						}
					}
				}
				if len(got) != len(want) {
					t.Errorf("%d keys, want %d", len(got), len(want))
				}
				if !maps.Equal(got, want) {
					t.Errorf("reduced sums differ from the reference")
				}
			})
		}
	}
}

func TestMapSideGroupingOrder(t *testing.T) {
	// Grouped values keep their order across the switch to pass-through:
	// the combined part of a key comes before its raw records.
	m := shuffleexec.NewMapSide(ops.Grouping[int](), shuffle.NewHash[int](3))
	n := shuffleexec.CheckAfter + 1000
	for i := range n {
		k := i
		if i%100 == 0 {
			k = -1 // one key that repeats through both phases
		}
		if err := m.Add(k, i); err != nil {
			t.Fatal(err)
		}
	}
	if m.Combining() {
		t.Fatal("still combining")
	}
	out, err := m.Finish()
	if err != nil {
		t.Fatal(err)
	}
	outs := []*shuffleexec.MapOutput[int, int, []int]{out}
	var got []int
	for q := range 3 {
		pairs, err := reduceAll(ops.Grouping[int](), outs, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range pairs {
			if kv.Key == -1 {
				got = kv.Value
			}
		}
	}
	var want []int
	for i := 0; i < n; i += 100 {
		want = append(want, i)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values of the repeated key (-want +got):\n%s", diff)
	}
}

func TestMapSideBadPartitioner(t *testing.T) {
	bad := &funcPart[int]{n: 2, f: func(k int) int {
		if k == 4242 {
			return 2
		}
		return k & 1
	}}
	// Combining: the error comes from Finish.
	m := shuffleexec.NewMapSide(ops.Reducing(ops.Sum[int]), bad)
	for i := range 5000 {
		if err := m.Add(i, 1); err != nil {
			t.Fatalf("Add while combining: %v", err)
		}
	}
	if _, err := m.Finish(); !errors.Is(err, shuffle.ErrPartition) || !contains(err.Error(), "4242") {
		t.Errorf("Finish = %v, want ErrPartition naming 4242", err)
	}
	// Passing through: the error comes from Add.
	m = shuffleexec.NewMapSide(ops.Reducing(ops.Sum[int]), bad)
	var err error
	for i := 0; err == nil && i < 2*shuffleexec.CheckAfter; i++ {
		k := i + 10_000
		if i == shuffleexec.CheckAfter+5 {
			k = 4242
		}
		err = m.Add(k, 1)
	}
	if m.Combining() {
		t.Fatal("still combining")
	}
	if !errors.Is(err, shuffle.ErrPartition) || !contains(err.Error(), "4242") {
		t.Errorf("Add = %v, want ErrPartition naming 4242", err)
	}
}

func TestReduceTickError(t *testing.T) {
	// Two map outputs: one alone, all combined, would be the partition as
	// it is, with no record to tick.
	outs := make([]*shuffleexec.MapOutput[int, int, int], 2)
	for j := range outs {
		m := shuffleexec.NewMapSide(ops.Reducing(ops.Sum[int]), shuffle.NewHash[int](1))
		for i := range 100 {
			_ = m.Add(i, i)
		}
		outs[j], _ = m.Finish()
	}
	stop := errors.New("stop")
	calls := 0
	_, err := shuffleexec.Reduce(ops.Reducing(ops.Sum[int]), outs, 0, nil, func() error {
		if calls++; calls == 10 {
			return stop
		}
		return nil
	}, nil)
	if !errors.Is(err, stop) || calls != 10 {
		t.Errorf("Reduce = %v after %d ticks, want stop after 10", err, calls)
	}
}

func TestSketchEstimate(t *testing.T) {
	h := shuffle.NewHash[int](2) // its Sum64 is the hash the map side feeds
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		var s shuffleexec.Sketch
		for i := range n {
			s.Add(h.Sum64(i))
		}
		// Duplicates do not count.
		for i := range n / 10 {
			s.Add(h.Sum64(i))
		}
		est := s.Estimate()
		if math.Abs(float64(est-n)) > 0.1*float64(n) {
			t.Errorf("%d distinct: Estimate() = %d, more than 10%% off", n, est)
		}
	}
	var empty shuffleexec.Sketch
	if e := empty.Estimate(); e != 0 {
		t.Errorf("empty sketch: Estimate() = %d", e)
	}
	var one shuffleexec.Sketch
	one.Add(h.Sum64(7))
	one.Add(h.Sum64(7))
	if e := one.Estimate(); e != 1 {
		t.Errorf("one hash: Estimate() = %d", e)
	}
}

func TestSketchMerge(t *testing.T) {
	h := shuffle.NewHash[int](2)
	// sketch returns the sketch of the integers [from, to).
	sketch := func(from, to int) *shuffleexec.Sketch {
		var s shuffleexec.Sketch
		for i := from; i < to; i++ {
			s.Add(h.Sum64(i))
		}
		return &s
	}
	tests := []struct {
		name       string
		a, b       [2]int // ranges, overlapping
		wantApprox int    // distinct, for the estimate's accuracy
	}{
		{"dense into dense", [2]int{0, 40_000}, [2]int{20_000, 60_000}, 60_000},
		{"sparse into sparse", [2]int{0, 100}, [2]int{50, 200}, 200},
		{"sparse into sparse, past the sparse size", [2]int{0, 400}, [2]int{300, 800}, 800},
		{"sparse into dense", [2]int{0, 5_000}, [2]int{4_900, 5_100}, 5_100},
		{"dense into sparse", [2]int{4_900, 5_100}, [2]int{0, 5_000}, 5_100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sketch(tt.a[0], tt.a[1]), sketch(tt.b[0], tt.b[1])
			all := sketch(min(tt.a[0], tt.b[0]), max(tt.a[1], tt.b[1]))
			a.Merge(b)
			if got, want := a.Estimate(), all.Estimate(); got != want {
				t.Errorf("merged Estimate() = %d, the union's sketch says %d", got, want)
			}
			if est := a.Estimate(); math.Abs(float64(est-tt.wantApprox)) > 0.1*float64(tt.wantApprox) {
				t.Errorf("merged Estimate() = %d, want about %d", est, tt.wantApprox)
			}
		})
	}
	for _, n := range []int{0, 10, 10_000} {
		b := sketch(0, n)
		before := b.Estimate()
		b.Merge(&shuffleexec.Sketch{})
		if after := b.Estimate(); after != before {
			t.Errorf("merging an empty sketch into one of %d changed its estimate from %d to %d", n, before, after)
		}
	}
}

// TestSketchSize checks that a sketch costs what it holds: 2 bytes per hash
// up to the size of the registers, never more than the 1 KiB of registers.
// (A map task keeps one sketch per output partition: a fixed 1 KiB each
// made a shuffle's memory grow with partitions².)
func TestSketchSize(t *testing.T) {
	h := shuffle.NewHash[int](2)
	var s shuffleexec.Sketch
	if b := s.Bytes(); b != 0 {
		t.Errorf("empty sketch: Bytes() = %d, want 0", b)
	}
	for i := range 5_000 {
		s.Add(h.Sum64(i))
		if b, want := s.Bytes(), min(2*(i+1), 1024); b > want {
			t.Fatalf("after %d hashes: Bytes() = %d, want at most %d", i+1, b, want)
		}
	}
}

// TestMapSideMemoryLinearInPartitions runs small map tasks over many
// output partitions: a task's memory must grow with its records plus a few
// words per partition, not a 1 KiB sketch per partition (which made a
// shuffle of n map tasks into n partitions hold n² KiB).
func TestMapSideMemoryLinearInPartitions(t *testing.T) {
	agg := ops.Reducing(ops.Sum[int])
	for _, n := range []int{100, 1000} {
		part := shuffle.NewHash[int](n)
		outs := make([]*shuffleexec.MapOutput[int, int, int], 20)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for j := range outs {
			m := shuffleexec.NewMapSide(agg, part)
			for i := range 50 {
				if err := m.Add(j*50+i, 1); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if outs[j], err = m.Finish(); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		perTask := (after.TotalAlloc - before.TotalAlloc) / uint64(len(outs))
		if limit := uint64(128*n + 16<<10); perTask > limit {
			t.Errorf("%d partitions: a map task of 50 records allocated %d bytes, want at most %d", n, perTask, limit)
		}
		// Every key is still found by the reduce side.
		total := 0
		for q := range n {
			pairs, err := reduceAll(agg, outs, q, nil)
			if err != nil {
				t.Fatal(err)
			}
			total += len(pairs)
		}
		if total != 50*len(outs) {
			t.Errorf("%d partitions: %d keys reduced, want %d", n, total, 50*len(outs))
		}
	}
}

// A map side with a source takes its records by AddIndex: a record given
// by Add once it passes records through as places is an error, not a
// record lost.
func TestMapSideAddAfterSetSource(t *testing.T) {
	in := gen(shuffleexec.CheckAfter, func(i int) string { return "d" + strconv.Itoa(i) })
	m := shuffleexec.NewMapSide(ops.Reducing(ops.Sum[int]), shuffle.NewHash[string](2))
	feed(t, m, in, true)
	if m.Combining() {
		t.Fatal("distinct task never switched to pass-through")
	}
	if err := m.Add("other", 1); err == nil || !strings.Contains(err.Error(), "SetSource") {
		t.Errorf("Add after SetSource = %v, want an error naming SetSource", err)
	}
}
