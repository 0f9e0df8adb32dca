package dstream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

// modTasks places key k in task k mod n: a source's own task partitioner.
type modTasks struct{ n int }

func (m *modTasks) NumPartitions() int    { return m.n }
func (m *modTasks) Partition(key int) int { return key % m.n }
func (m *modTasks) Tasks() int            { return m.n }
func (m *modTasks) Equal(other shuffle.Partitioner[int]) bool {
	o, ok := other.(*modTasks)
	return ok && o == m
}

// taskSource owns, at batch k, the tasks owned[k] and serves data[k] (keys with
// the value 1) of those tasks. Like a Kafka keyed stream with changelogs, it drops
// the state of a task it lost, restores a task it gained from its "changelog", and
// writes each batch's changes to it at the commit.
type taskSource struct {
	c         *dstream.Context
	part      *modTasks
	owned     map[int][]int
	data      map[int][]int
	failAt    int                               // CommitBatch fails at this batch
	abortAt   int                               // CommitBatch aborts this batch (ErrBatchAborted)
	changelog map[string]map[int]map[int][]byte // per state, per task: key → value
	commits   chan int                          // receives each batch committed

	mu        sync.Mutex
	had       []int // the tasks of the last batch prepared
	restored  []string
	committed []string
}

func (s *taskSource) Start(context.Context) error { return nil }
func (s *taskSource) Stop() error                 { return nil }

func (s *taskSource) Batch(_ context.Context, t time.Time) (*rdd.RDD[ops.KV[int, int]], dstream.InputInfo, error) {
	k := int(sec(t))
	owned, data := s.owned[k], s.data[k]
	return rdd.GeneratePartitioned(s.c.Engine(), "test.Tasks", s.part, func(_ context.Context, q int, yield func(ops.KV[int, int]) bool) error {
		if !slices.Contains(owned, q) {
			return nil
		}
		for _, key := range data {
			if s.part.Partition(key) == q && !yield(ops.Pair(key, 1)) {
				return nil
			}
		}
		return nil
	}), dstream.InputInfo{Records: int64(len(data))}, nil
}

func (s *taskSource) PrepareBatch(_ context.Context, t time.Time) error {
	k := int(sec(t))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.c.TaskStates(s.part) {
		for _, task := range s.had {
			if !slices.Contains(s.owned[k], task) {
				if err := st.Drop(task); err != nil {
					return err
				}
			}
		}
		for _, task := range s.owned[k] {
			if slices.Contains(s.had, task) {
				continue
			}
			log := s.changelog[st.Name()][task]
			keys := slices.Sorted(maps.Keys(log))
			err := st.Restore(task, func(yield func([]byte, []byte) bool) {
				for _, key := range keys {
					kb, _ := checkpoint.Encode(key)
					if !yield(kb, log[key]) {
						return
					}
				}
			})
			if err != nil {
				return err
			}
			s.restored = append(s.restored, fmt.Sprintf("%d:%d=%d", k, task, st.Len(task)))
		}
	}
	s.had = s.owned[k]
	return nil
}

func (s *taskSource) CommitBatch(_ context.Context, t time.Time) error {
	k := int(sec(t))
	if k == s.failAt {
		return errors.New("the transaction was fenced")
	}
	if k == s.abortAt {
		return fmt.Errorf("%w: the transaction was fenced", dstream.ErrBatchAborted)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.c.TaskStates(s.part) {
		for _, task := range s.owned[k] {
			err := st.Changes(task, func(kb, vb []byte) error {
				var key int
				if err := checkpoint.Decode(kb, &key); err != nil {
					return err
				}
				log := s.changelog[st.Name()]
				if log[task] == nil {
					log[task] = map[int][]byte{}
				}
				log[task][key] = vb
				var v any = 0
				if vb != nil {
					v = nil
					if err := checkpoint.Decode(vb, &v); err != nil {
						return err
					}
				}
				s.committed = append(s.committed, fmt.Sprintf("%d:%d=%d", k, key, v))
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if s.commits != nil {
		s.commits <- k
	}
	return nil
}

// A stateful stream over a source's task partitioner keeps one store per task, and
// the source moves tasks' state in and out through TaskStates: a task it lost is
// dropped (the update function no longer sees its keys), one it gained is restored
// from what another process committed, and each batch's changes are what it commits.
func TestTaskStatesFollowTheTasksASourceOwns(t *testing.T) {
	h := newHarness(t)
	src := &taskSource{c: h.c, part: &modTasks{n: 2},
		owned:     map[int][]int{1: {0, 1}, 2: {0}, 3: {0, 1}, 4: {0, 1}},
		data:      map[int][]int{1: {2, 3, 2}, 2: {2, 4}, 3: {3}, 4: {5, 2}},
		changelog: map[string]map[int]map[int][]byte{"counts": {}}, commits: make(chan int, 10),
	}
	got := taskCounts(h, src)
	h.start(context.Background())
	h.batches(2)
	// Once batch 2 is committed (it is processed after it is generated) …
	for k := 1; k <= 2; k++ {
		select {
		case <-src.commits:
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d not committed within 10s", k)
		}
	}
	// … and while task 1 is away, another process counts key 3 twice more and adds
	// key 7: its changelog says so.
	src.mu.Lock()
	v3, _ := checkpoint.Encode(3)
	v1, _ := checkpoint.Encode(1)
	src.changelog["counts"][1][3], src.changelog["counts"][1][7] = v3, v1
	src.mu.Unlock()
	h.batches(2)
	h.awaitGenerator()
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatal(err)
	}

	sorted := func(kvs []ops.KV[int, int]) string {
		slices.SortFunc(kvs, func(a, b ops.KV[int, int]) int { return a.Key - b.Key })
		return fmt.Sprint(kvs)
	}
	want := []string{
		"[(2, 2) (3, 1)]",               // both tasks
		"[(2, 3) (4, 1)]",               // task 1 lost: key 3 is gone from this process
		"[(2, 3) (3, 4) (4, 1) (7, 1)]", // task 1 back as the changelog has it, plus this batch's 3
		"[(2, 4) (3, 4) (4, 1) (5, 1) (7, 1)]",
	}
	for i, kvs := range got.data {
		if s := sorted(kvs); i >= len(want) || s != want[i] {
			t.Errorf("batch %d: %s, want %s", i+1, s, want[min(i, len(want)-1)])
		}
	}
	if s := strings.Join(src.restored, " "); s != "1:0=0 1:1=0 3:1=2" {
		t.Errorf("restored (batch:task=keys) %s, want 1:0=0 1:1=0 3:1=2", s)
	}
	// Each batch commits the keys it changed, with their values now.
	if s := strings.Join(src.committed, " "); s != "1:2=2 1:3=1 2:2=3 2:4=1 3:3=4 4:2=4 4:5=1" {
		t.Errorf("committed (batch:key=value) %s", s)
	}
}

// A failing CommitBatch fails the batch, and its state changes are not kept.
func TestAFailedCommitBatchRollsTheStateBack(t *testing.T) {
	h := newHarness(t)
	src := &taskSource{c: h.c, part: &modTasks{n: 2}, failAt: 2,
		owned:     map[int][]int{1: {0, 1}, 2: {0, 1}},
		data:      map[int][]int{1: {2, 3}, 2: {2}},
		changelog: map[string]map[int]map[int][]byte{"counts": {}},
	}
	taskCounts(h, src)
	h.start(context.Background())
	h.batches(2)
	err := h.result()
	var be *dstream.BatchError
	if !errors.As(err, &be) || be.Op != "test.Tasks#1" || !strings.Contains(err.Error(), "the transaction was fenced") {
		t.Fatalf("Run = %v, want a BatchError of test.Tasks", err)
	}
	if ts := h.c.TaskStates(src.part); len(ts) != 1 || ts[0].Len(0) != 1 {
		t.Fatalf("task states %v", ts)
	} else if err := ts[0].Changes(0, func(k, v []byte) error { return fmt.Errorf("a change left: %x=%x", k, v) }); err != nil {
		t.Errorf("after the failed commit: %v", err)
	}
}

// A batch a source aborts (ErrBatchAborted) is rolled back, and Run goes on: the
// next batch applies to the state before it.
func TestAnAbortedBatchIsRolledBackAndRunGoesOn(t *testing.T) {
	h := newHarness(t)
	src := &taskSource{c: h.c, part: &modTasks{n: 2}, abortAt: 2,
		owned:     map[int][]int{1: {0, 1}, 2: {0, 1}, 3: {0, 1}},
		data:      map[int][]int{1: {2, 3}, 2: {2, 5}, 3: {3}},
		changelog: map[string]map[int]map[int][]byte{"counts": {}},
	}
	got := taskCounts(h, src)
	h.start(context.Background())
	h.batches(3)
	h.awaitGenerator()
	h.c.Stop()
	if err := h.result(); err != nil {
		t.Fatalf("Run = %v, want it to go on after the aborted batch", err)
	}
	last := got.data[len(got.data)-1]
	slices.SortFunc(last, func(a, b ops.KV[int, int]) int { return a.Key - b.Key })
	if s := fmt.Sprint(last); s != "[(2, 1) (3, 2)]" {
		t.Errorf("state after batch 3: %s, want [(2, 1) (3, 2)] (batch 2 rolled back)", s)
	}
}

// taskCounts counts, with an UpdateStateByKey named "counts", the records of each
// key of src, and collects the counts after each batch.
func taskCounts(h *harness, src *taskSource) *collector[ops.KV[int, int]] {
	in := dstream.FromSource(h.c, "test.Tasks", dstream.Source[ops.KV[int, int]](src))
	counts := dstream.UpdateStateByKey(in, func(vs []int, st ops.Maybe[int]) ops.Maybe[int] {
		return ops.Some(st.Value + len(vs))
	})
	got := &collector[ops.KV[int, int]]{}
	dstream.ForeachRDD(dstream.Named(counts, "counts"), got.foreach)
	return got
}

// The windowed reduces over a source's task partitioner keep their state per task,
// and it moves with the task: process A counts both tasks for two batches, then
// only task 0; process B gains task 1 at batch 3 and restores it from what A
// committed, so its windows (three batches long) count task 1's keys as if it had
// read batches 1 and 2 itself, and the values of those batches leave its windows
// at batches 4 and 5 though B never read them.
func TestWindowedReducesMoveWithTheirTasks(t *testing.T) {
	data := map[int][]int{1: {1, 2, 3}, 2: {1, 1, 4}, 3: {3, 2}, 4: {1}, 5: {5, 4}, 6: {3, 3}}
	changelog := map[string]map[int]map[int][]byte{"win": {}, "inv": {}}
	run := func(owned map[int][]int) (win, inv *collector[ops.KV[int, int]], src *taskSource) {
		h := newHarness(t)
		src = &taskSource{c: h.c, part: &modTasks{n: 2}, owned: owned, data: data, changelog: changelog}
		in := dstream.FromSource(h.c, "test.Tasks", dstream.Source[ops.KV[int, int]](src))
		win, inv = &collector[ops.KV[int, int]]{}, &collector[ops.KV[int, int]]{}
		dstream.ForeachRDD(dstream.Named(dstream.ReduceByKeyAndWindow(in, ops.Sum[int], 3*interval, interval), "win"), win.foreach)
		nonZero := func(kv ops.KV[int, int]) bool { return kv.Value != 0 }
		dstream.ForeachRDD(dstream.Named(dstream.ReduceByKeyAndWindowInv(in, ops.SumInv[int](), 3*interval, interval, nonZero), "inv"), inv.foreach)
		h.runBatches(6)
		return win, inv, src
	}
	// want is the count of each key of task in the window ending at batch k.
	want := func(k, task int) string {
		counts := map[int]int{}
		for b := max(1, k-2); b <= k; b++ {
			for _, key := range data[b] {
				if key%2 == task {
					counts[key]++
				}
			}
		}
		var kvs []ops.KV[int, int]
		for _, key := range slices.Sorted(maps.Keys(counts)) {
			kvs = append(kvs, ops.Pair(key, counts[key]))
		}
		return fmt.Sprint(kvs)
	}
	sorted := func(kvs []ops.KV[int, int], task int) string {
		kvs = slices.DeleteFunc(slices.Clone(kvs), func(kv ops.KV[int, int]) bool { return kv.Key%2 != task })
		slices.SortFunc(kvs, func(a, b ops.KV[int, int]) int { return a.Key - b.Key })
		if len(kvs) == 0 {
			return "[]"
		}
		return fmt.Sprint(kvs)
	}
	aWin, aInv, _ := run(map[int][]int{1: {0, 1}, 2: {0, 1}, 3: {0}, 4: {0}, 5: {0}, 6: {0}})
	bWin, bInv, b := run(map[int][]int{3: {1}, 4: {1}, 5: {1}, 6: {1}})
	for name, c := range map[string][2]*collector[ops.KV[int, int]]{"ReduceByKeyAndWindow": {aWin, bWin}, "ReduceByKeyAndWindowInv": {aInv, bInv}} {
		for k := 1; k <= 6; k++ {
			if got, w := sorted(c[0].data[k-1], 0), want(k, 0); got != w {
				t.Errorf("%s: A, batch %d, task 0: %s, want %s", name, k, got, w)
			}
			if k <= 2 {
				continue
			}
			if got, w := sorted(c[1].data[k-1], 1), want(k, 1); got != w {
				t.Errorf("%s: B, batch %d, task 1: %s, want %s", name, k, got, w)
			}
		}
	}
	if s := strings.Join(b.restored, " "); s != "3:1=2 3:1=2" {
		t.Errorf("B restored (batch:task=keys) %q, want task 1 with keys 1 and 3 for each window", s)
	}
}
