package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// wCheckSorted checks a sorted RDD's partitions against its input: the same
// elements, in order within and across partitions, and elements with equal
// keys in input order within each map task (the value is the input index).
func wCheckSorted(t *testing.T, in wIn[string], parts [][]wKV, compare func(a, b string) int) {
	t.Helper()
	byKey := func(a, b wKV) int { return compare(a.Key, b.Key) }
	wCheckTotalOrder(t, parts, byKey)
	got := slices.Concat(parts...)
	if d := wDiff(in.data, got, wCmpKV); d != "" {
		t.Fatalf("elements differ from the input: %s", d)
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if compare(a.Key, b.Key) == 0 && in.inputPartition(a.Value) == in.inputPartition(b.Value) && a.Value > b.Value {
			t.Fatalf("not stable: %v before %v from the same map task", a, b)
		}
	}
}

func TestSortByKey(t *testing.T) {
	eng := wEng()
	asc, desc := strings.Compare, func(a, b string) int { return strings.Compare(b, a) }
	for _, in := range wInputs() {
		for _, dir := range []struct {
			name    string
			order   rdd.Order
			compare func(a, b string) int
			bounds  *shuffle.Range[string]
		}{
			{"ascending", rdd.Ascending, asc, shuffle.NewRange([]string{"d", "k3", "r"}, shuffle.Ascending)},
			{"descending", rdd.Descending, desc, shuffle.NewRange([]string{"r", "k3", "d"}, shuffle.Descending)},
		} {
			for _, o := range []struct {
				name   string
				opts   []rdd.ShuffleOpt[string]
				nparts int
			}{
				{"default", nil, max(in.parts, 1)},
				{"Partitions(1)", []rdd.ShuffleOpt[string]{rdd.Partitions[string](1)}, 1},
				{"Partitions(3)", []rdd.ShuffleOpt[string]{rdd.Partitions[string](3)}, 3},
				{"Partitions(50)", []rdd.ShuffleOpt[string]{rdd.Partitions[string](50)}, 50},
				{"WithPartitioner(Range)", []rdd.ShuffleOpt[string]{rdd.WithPartitioner(dir.bounds)}, 4},
			} {
				if wLarge(len(in.data)) && (o.name != "Partitions(3)" || dir.order != rdd.Ascending || in.name != "many distinct") {
					continue // large inputs add little to sorting but time
				}
				t.Run(fmt.Sprintf("%s/%s/%s", in.name, dir.name, o.name), func(t *testing.T) {
					r := rdd.SortByKey(in.rdd(eng), dir.order, o.opts...)
					if r.Name() != "rdd.SortByKey" {
						t.Errorf("Name() = %q", r.Name())
					}
					if r.NumPartitions() != o.nparts {
						t.Errorf("NumPartitions() = %d, want %d", r.NumPartitions(), o.nparts)
					}
					parts := wParts(t, r)
					wCheckSorted(t, in, parts, dir.compare)
					if strings.HasPrefix(o.name, "WithPartitioner") {
						wCheckPlaced(t, parts, shuffle.Partitioner[string](dir.bounds))
					}
					// Collect is the partitions in order.
					if d := wDiffOrdered(slices.Concat(parts...), wCollect(t, r), wCmpKV); d != "" {
						t.Errorf("Collect differs from CollectPartitions: %s", d)
					}
				})
			}
		}
	}
}

func TestSortByKeyBalanced(t *testing.T) {
	// Uniform distinct keys: the sampled bounds split them about evenly.
	in := wGen("uniform", 20_000, 3, func(i int) string { return fmt.Sprintf("%08d", (i*7919)%20_000) })
	for _, n := range []int{2, 4, 7} {
		r := rdd.SortByKey(in.rdd(wEng()), rdd.Ascending, rdd.Partitions[string](n))
		parts := wParts(t, r)
		wCheckSorted(t, in, parts, strings.Compare)
		avg := len(in.data) / n
		for q, p := range parts {
			if len(p) < avg/2 || len(p) > avg*3/2 {
				t.Errorf("n=%d: partition %d holds %d elements, want about %d", n, q, len(p), avg)
			}
		}
	}
}

func TestSortByKeyIntKeys(t *testing.T) {
	eng := wEng()
	for _, in := range wIntInputs() {
		for _, order := range []rdd.Order{rdd.Ascending, rdd.Descending} {
			r := rdd.SortByKey(in.rdd(eng), order, rdd.Partitions[int](4))
			parts := wParts(t, r)
			compare := cmp.Compare[int]
			if order == rdd.Descending {
				compare = func(a, b int) int { return cmp.Compare(b, a) }
			}
			wCheckTotalOrder(t, parts, func(a, b ops.KV[int, int]) int { return compare(a.Key, b.Key) })
			if d := wDiff(in.data, slices.Concat(parts...), wCmpKV); d != "" {
				t.Errorf("%s %v: %s", in.name, order, d)
			}
		}
	}
}

func TestSortBy(t *testing.T) {
	eng := wEng()
	words := strings.Fields("pear fig banana kiwi apple plum date cherry elderberry grape lime nectarine")
	for _, order := range []rdd.Order{rdd.Ascending, rdd.Descending} {
		for _, n := range []int{1, 3, 20} {
			r := rdd.SortBy(rdd.Parallelize(eng, words, 4), func(w string) int { return len(w) }, order, rdd.Partitions[int](n))
			if r.Name() != "rdd.SortBy" || r.NumPartitions() != n {
				t.Errorf("%s with %d partitions, want rdd.SortBy with %d", r.Name(), r.NumPartitions(), n)
			}
			// The output is placed by the sort key, not by any key of the
			// elements: it must not claim a partitioner.
			if wAnyPart(r) != nil {
				t.Errorf("Partitioner() = %v, want nil", wAnyPart(r))
			}
			parts := wParts(t, r)
			byLen := func(a, b string) int { return cmp.Compare(len(a), len(b)) }
			if order == rdd.Descending {
				byLen = func(a, b string) int { return cmp.Compare(len(b), len(a)) }
			}
			wCheckTotalOrder(t, parts, byLen)
			// Words of equal length keep their input order (here the map
			// tasks are in input order, so overall).
			want := slices.Clone(words)
			slices.SortStableFunc(want, byLen)
			if d := wDiffOrdered(want, slices.Concat(parts...), strings.Compare); d != "" {
				t.Errorf("%v n=%d: %s", order, n, d)
			}
		}
	}
	// Numbers of a Range source sorted by their last digit, descending.
	r := rdd.SortBy(rdd.Range(eng, 0, 100, 1, 3), func(v int64) int64 { return v % 10 }, rdd.Descending)
	got := wCollect(t, r)
	if len(got) != 100 || got[0] != 9 || got[1] != 19 || got[99] != 90 {
		t.Errorf("SortBy(last digit, descending) = %v", got)
	}
}

type wPoint struct{ X, Y int }

func TestSortByFunc(t *testing.T) {
	eng := wEng()
	var pts []wPoint
	for i := range 500 {
		pts = append(pts, wPoint{X: (i * 37) % 11, Y: (i * 53) % 7})
	}
	byXThenY := func(a, b wPoint) int { return cmp.Or(cmp.Compare(a.X, b.X), cmp.Compare(a.Y, b.Y)) }
	for _, n := range []int{1, 4, 100} {
		r := rdd.SortByFunc(rdd.Parallelize(eng, pts, 3), ops.Identity[wPoint], byXThenY, rdd.Partitions[wPoint](n))
		if r.Name() != "rdd.SortByFunc" || r.NumPartitions() != n {
			t.Errorf("%s with %d partitions", r.Name(), r.NumPartitions())
		}
		parts := wParts(t, r)
		wCheckTotalOrder(t, parts, byXThenY)
		want := slices.Clone(pts)
		slices.SortFunc(want, byXThenY)
		if d := wDiffOrdered(want, slices.Concat(parts...), byXThenY); d != "" {
			t.Errorf("n=%d: %s", n, d)
		}
	}
	// A custom order-preserving partitioner over the sort key.
	part := shuffle.NewRangeFunc([]wPoint{{3, 0}, {7, 6}}, byXThenY)
	r := rdd.SortByFunc(rdd.Parallelize(eng, pts, 3), ops.Identity[wPoint], byXThenY, rdd.WithPartitioner(part))
	parts := wParts(t, r)
	if len(parts) != 3 {
		t.Fatalf("%d partitions, want 3", len(parts))
	}
	for q, p := range parts {
		for _, pt := range p {
			if part.Partition(pt) != q {
				t.Fatalf("%v in partition %d, want %d", pt, q, part.Partition(pt))
			}
		}
	}
	wCheckTotalOrder(t, parts, byXThenY)
}

func TestSortPanics(t *testing.T) {
	eng := wEng()
	in := rdd.Parallelize(eng, []string{"b", "a", "c", "d", "e", "f"}, 3)
	wPanics(t, rdd.SortBy(in, func(string) int { panic("boom") }, rdd.Ascending), "rdd.SortBy")
	boom := func(a, b string) int { panic("boom") }
	// With several output partitions the compare function first runs to
	// pick the range bounds; with one, to sort the partition.
	wPanics(t, rdd.SortByFunc(in, ops.Identity[string], boom, rdd.Partitions[string](3)), "rdd.SortByFunc")
	wPanics(t, rdd.SortByFunc(in, ops.Identity[string], boom, rdd.Partitions[string](1)), "rdd.SortByFunc")
}

func TestSortInvalid(t *testing.T) {
	in := rdd.Parallelize(wEng(), []wKV{ops.Pair("a", 1)}, 1)
	for name, err := range map[string]error{
		"SortBy nil key":         rdd.SortBy[wKV, string](in, nil, rdd.Ascending).Err(),
		"SortByFunc nil compare": rdd.SortByFunc(in, func(kv wKV) string { return kv.Key }, nil).Err(),
		"SortByKey nil RDD":      rdd.SortByKey[string, int](nil, rdd.Ascending).Err(),
		"SortByKey unsorted bounds": rdd.SortByKey(in, rdd.Ascending,
			rdd.WithPartitioner[string](shuffle.NewRange([]string{"m", "c"}, shuffle.Ascending))).Err(),
	} {
		if !errors.Is(err, rdd.ErrInvalid) {
			t.Errorf("%s: Err() = %v, want ErrInvalid", name, err)
		}
	}
}

// SortBy's order is one of two values (not a boolean, nor an int that could
// be neither).
func TestSortByDescending(t *testing.T) {
	r := rdd.Parallelize(rdd.NewEngine(), []int{3, 1, 2}, 2)
	got, err := rdd.Collect(context.Background(), rdd.SortBy(r, func(x int) int { return x }, rdd.Descending))
	if err != nil || fmt.Sprint(got) != "[3 2 1]" {
		t.Errorf("SortBy(Descending) = %v, %v", got, err)
	}
	if rdd.Descending.String() != "Descending" || (rdd.Order{}) != rdd.Ascending || rdd.Ascending != shuffle.Ascending {
		t.Errorf("Order: Descending is %q; the zero Order is Ascending: %v; rdd's is shuffle's: %v",
			rdd.Descending, rdd.Order{} == rdd.Ascending, rdd.Ascending == shuffle.Ascending)
	}
}
