package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spatedev/spate/checkpoint"
)

// savedCounts has the shape in which dstream checkpoints an UpdateStateByKey state of
// string keys and int64 counts: every key and value, and the partition count.
type savedCounts struct {
	Partitions int
	Keys       []string
	Values     []int64
}

// checkpointBench measures the checkpoint of a state of 100k string keys: the write
// (msgpack encoding, then the store's atomic write: temp file, fsync, rename, fsync of
// the directory) and the restore (read, checksum, decode, the pairs rebuilt). It
// prints
//
//	checkpoint: keys=100000 write_ms=<ms> restore_ms=<ms> bytes=<file size>
func checkpointBench(scale float64, rounds int) (string, error) {
	n := max(int(100_000*scale), 100)
	st := savedCounts{Partitions: 2, Keys: make([]string, n), Values: make([]int64, n)}
	for i := range n {
		st.Keys[i] = "word-" + strconv.Itoa(i)
		st.Values[i] = int64(i % 1000)
	}
	dir, err := os.MkdirTemp("", "spate-bench-checkpoint")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	store, err := checkpoint.Open(dir)
	if err != nil {
		return "", err
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var writes, restores []time.Duration
	for round := range rounds {
		start := time.Now()
		data, err := checkpoint.Encode(st)
		if err != nil {
			return "", err
		}
		cp := &checkpoint.Checkpoint{Time: t0.Add(time.Duration(round) * time.Second), Interval: time.Second,
			States: []checkpoint.Entry{{Name: "counts", Type: "ops.KV[string,int64]", Data: data}}}
		if err := store.Save(cp); err != nil {
			return "", err
		}
		writes = append(writes, time.Since(start))

		start = time.Now()
		got, err := store.Latest()
		if err != nil {
			return "", err
		}
		e, ok := got.State("counts")
		if !ok {
			return "", fmt.Errorf("the state is missing from the checkpoint")
		}
		var back savedCounts
		if err := checkpoint.Decode(e.Data, &back); err != nil {
			return "", err
		}
		pairs := make(map[string]int64, len(back.Keys))
		for i, k := range back.Keys {
			pairs[k] = back.Values[i]
		}
		restores = append(restores, time.Since(start))
		if len(pairs) != n {
			return "", fmt.Errorf("restored %d keys, want %d", len(pairs), n)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.ckpt"))
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no checkpoint file: %v", err)
	}
	fi, err := os.Stat(files[len(files)-1])
	if err != nil {
		return "", err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("checkpoint: keys=%d write_ms=%.1f restore_ms=%.1f bytes=%d", n, ms(median(writes)), ms(median(restores)), fi.Size()), nil
}
