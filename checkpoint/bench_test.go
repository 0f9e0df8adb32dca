package checkpoint_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spatedev/spate/checkpoint"
)

// BenchmarkSaveLatest saves a checkpoint whose state is 100,000 string keys with int64
// counts and reads it back. The sub-benchmark "spate" uses a Store (msgpack, checksum,
// temp file, fsync, rename, directory fsync, pruning, validation on read); "baseline"
// writes and reads the same bytes with os.WriteFile and os.ReadFile, without fsync. Read
// the ratio of the two, not the absolute times: most of the difference is the two
// fsyncs that make a save durable.
func BenchmarkSaveLatest(b *testing.B) {
	counts := make(map[string]int64, 100_000)
	for i := range 100_000 {
		counts["key-"+strconv.Itoa(i)] = int64(i)
	}
	state, err := checkpoint.NewEntry("wordcount", counts)
	if err != nil {
		b.Fatal(err)
	}
	cp := &checkpoint.Checkpoint{Time: t0, Interval: time.Second, States: []checkpoint.Entry{state}}
	file := fileWith(mustEncode(b, cp))

	b.Run("spate", func(b *testing.B) {
		store, err := checkpoint.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(file)))
		b.ReportAllocs()
		for b.Loop() {
			if err := store.Save(cp); err != nil {
				b.Fatal(err)
			}
			got, err := store.Latest()
			if err != nil || len(got.States[0].Data) != len(state.Data) {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "checkpoint")
		b.SetBytes(int64(len(file)))
		b.ReportAllocs()
		for b.Loop() {
			if err := os.WriteFile(path, file, 0o644); err != nil {
				b.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || len(got) != len(file) {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecode decodes a state of 100,000 string keys with int64 counts with Decode
// ("spate", which first checks the msgpack structure so that forged lengths cannot
// make it allocate) and with msgpack.Unmarshal alone ("baseline"): the ratio is the
// cost of that check.
func BenchmarkDecode(b *testing.B) {
	counts := make(map[string]int64, 100_000)
	for i := range 100_000 {
		counts["key-"+strconv.Itoa(i)] = int64(i)
	}
	data := mustEncode(b, counts)
	b.Run("spate", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]int64
			if err := checkpoint.Decode(data, &m); err != nil || len(m) != len(counts) {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]int64
			if err := msgpack.Unmarshal(data, &m); err != nil || len(m) != len(counts) {
				b.Fatal(err)
			}
		}
	})
}
