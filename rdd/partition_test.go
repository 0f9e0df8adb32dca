package rdd_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

func TestPartitionBy(t *testing.T) {
	eng := wEng()
	for _, in := range wInputs() {
		for _, o := range wOpts(in.parts, wStrPart(3)) {
			if wSkip(len(in.data), o.name) {
				continue
			}
			t.Run(in.name+"/"+o.name, func(t *testing.T) {
				r := rdd.PartitionBy(in.rdd(eng), o.opts...)
				if r.Name() != "rdd.PartitionBy" {
					t.Errorf("Name() = %q", r.Name())
				}
				parts := wPartitioned(t, r, o)
				// Pairs keep their order within each map task.
				for q, part := range parts {
					last := map[int]int{}
					for _, kv := range part {
						p := in.inputPartition(kv.Value)
						if l, ok := last[p]; ok && l > kv.Value {
							t.Fatalf("partition %d: record %d after %d from the same map task", q, kv.Value, l)
						}
						last[p] = kv.Value
					}
				}
				if d := wDiff(in.data, slices.Concat(parts...), wCmpKV); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

func TestPartitionByAlreadyPartitioned(t *testing.T) {
	eng := wEng()
	in := rdd.Parallelize(eng, []wKV{ops.Pair("a", 1), ops.Pair("b", 2)}, 2)
	custom := wStrPart(3)
	h := rdd.PartitionBy(in, rdd.Partitions[string](4))
	c := rdd.PartitionBy(in, rdd.WithPartitioner(custom))
	for name, tt := range map[string]struct {
		got, want *rdd.RDD[wKV]
	}{
		"default over hash(4)":    {rdd.PartitionBy(h), h},
		"Partitions(4)":           {rdd.PartitionBy(h, rdd.Partitions[string](4)), h},
		"equal hash partitioner":  {rdd.PartitionBy(h, rdd.WithPartitioner(shuffle.NewHash[string](4))), h},
		"same custom partitioner": {rdd.PartitionBy(c, rdd.WithPartitioner(custom)), c},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: PartitionBy returned %s, want its input %s", name, tt.got, tt.want)
		}
	}
	// Filter keeps the partitioner, so PartitionBy returns its input.
	kept := rdd.Filter(h, func(wKV) bool { return true })
	if got := rdd.PartitionBy(kept, rdd.Partitions[string](4)); got != kept {
		t.Errorf("PartitionBy after Filter returned %s, want its input:\n%s", got, got.DebugString())
	}
	// A different partitioning shuffles.
	again := rdd.PartitionBy(h, rdd.Partitions[string](3))
	if again == h || wDirectShuffles(again.DebugString()) != 1 || again.NumPartitions() != 3 {
		t.Errorf("PartitionBy(Partitions(3)) over hash(4):\n%s", again.DebugString())
	}
	// Map may change keys: its output has no partitioner, and is shuffled.
	mapped := rdd.Map(h, ops.Identity[wKV])
	if wPart(mapped) != nil {
		t.Errorf("Map kept the partitioner %v", wPart(mapped))
	}
	if pb := rdd.PartitionBy(mapped, rdd.Partitions[string](4)); wDirectShuffles(pb.DebugString()) != 1 {
		t.Errorf("PartitionBy after Map did not shuffle:\n%s", pb.DebugString())
	}
}

func TestRepartition(t *testing.T) {
	eng := wEng()
	type input struct {
		name  string
		data  []int
		parts int // 0: rdd.Empty
	}
	seq := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	// A skewed input: one partition holds almost everything.
	skewed := rdd.FromPartitions(eng, [][]int{seq(5000), {1}, nil, {2, 3}})
	inputs := []input{
		{"Empty", nil, 0},
		{"no elements", nil, 3},
		{"one partition", seq(101), 1},
		{"more partitions than elements", seq(3), 8},
		{"zero values", make([]int, 40), 3},
		{"many", seq(50_000), 4},
	}
	for _, in := range append(inputs, input{"skewed", slices.Concat(seq(5000), []int{1, 2, 3}), -1}) {
		for _, n := range []int{1, 3, 10} {
			t.Run(in.name+"/"+strings.Repeat("I", n), func(t *testing.T) {
				src := rdd.Empty[int](eng)
				switch {
				case in.parts > 0:
					src = rdd.Parallelize(eng, in.data, in.parts)
				case in.parts < 0:
					src = skewed
				}
				r := rdd.Repartition(src, n)
				if r.Name() != "rdd.Repartition" || r.NumPartitions() != n {
					t.Errorf("%s with %d partitions, want rdd.Repartition with %d", r.Name(), r.NumPartitions(), n)
				}
				if wAnyPart(r) != nil {
					t.Errorf("partitioner = %v, want nil", wAnyPart(r))
				}
				parts := wParts(t, r)
				if d := wDiff(in.data, slices.Concat(parts...), func(a, b int) int { return a - b }); d != "" {
					t.Error(d)
				}
				// Each map task deals round-robin, so partition sizes differ
				// by at most the number of map tasks.
				lo, hi := len(in.data), 0
				for _, p := range parts {
					lo, hi = min(lo, len(p)), max(hi, len(p))
				}
				if len(in.data) > 0 && hi-lo > src.NumPartitions() {
					sizes := make([]int, len(parts))
					for i, p := range parts {
						sizes[i] = len(p)
					}
					t.Errorf("partition sizes %v, want near-equal", sizes)
				}
			})
		}
	}
}

func TestRepartitionWithPartitioner(t *testing.T) {
	eng := wEng()
	in := rdd.Parallelize(eng, []int{5, -3, 0, 7, 8, 0, 12, 1}, 3)
	p := wIntPart(4)
	r := rdd.Repartition(in, 4, rdd.WithPartitioner(p))
	if wAnyPart(r) != any(p) {
		t.Errorf("partitioner = %v, want %v", wAnyPart(r), p)
	}
	parts := wParts(t, r)
	want := [][]int{{0, 8, 0, 12}, {5, -3, 1}, {}, {7}}
	for q := range want {
		if !slices.Equal(parts[q], want[q]) {
			t.Errorf("partition %d = %v, want %v (partitioner's choice, input order)", q, parts[q], want[q])
		}
	}
}

func TestRepartitionErrors(t *testing.T) {
	eng := wEng()
	in := rdd.Parallelize(eng, []int{1, 2, 3, 42}, 2)
	for name, r := range map[string]*rdd.RDD[int]{
		"n=0":                  rdd.Repartition(in, 0),
		"n=-2":                 rdd.Repartition(in, -2),
		"partitioner count":    rdd.Repartition(in, 3, rdd.WithPartitioner(wIntPart(4))),
		"nil partitioner":      rdd.Repartition(in, 3, rdd.WithPartitioner[int](nil)),
		"Partitions conflicts": rdd.Repartition(in, 3, rdd.Partitions[int](5)),
		"Partitions(0)":        rdd.Repartition(in, 3, rdd.Partitions[int](0)),
		"nil RDD":              rdd.Repartition[int](nil, 3),
	} {
		_, err := rdd.Collect(t.Context(), r)
		if !errors.Is(err, rdd.ErrInvalid) || !strings.Contains(err.Error(), "rdd.Repartition") {
			t.Errorf("%s: %v, want ErrInvalid naming rdd.Repartition", name, err)
		}
	}
	if got := wCollect(t, rdd.Repartition(in, 3, rdd.Partitions[int](3))); len(got) != 4 {
		t.Errorf("Partitions equal to n: %v", got)
	}
	_, err := rdd.Collect(t.Context(), rdd.Repartition(in, 2, rdd.WithPartitioner(wBadPart(2, 42))))
	var te *rdd.TaskError
	if !errors.Is(err, shuffle.ErrPartition) || !strings.Contains(err.Error(), "42") || !errors.As(err, &te) || te.Op != "rdd.Repartition" {
		t.Errorf("out-of-range partitioner: %v, want a TaskError of rdd.Repartition wrapping ErrPartition naming 42", err)
	}
	boom := &wFuncPart[int]{n: 2, f: func(int) int { panic("boom") }}
	wPanics(t, rdd.Repartition(in, 2, rdd.WithPartitioner(boom)), "rdd.Repartition")
}
