package checkpoint_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spatedev/spate/checkpoint"
)

// The seed corpora under testdata/fuzz are made by TestFuzzSeeds; run
//
//	go test ./checkpoint -run TestFuzzSeeds -args -update-seeds
//
// to write them again after a format change.
var updateSeeds = flag.Bool("update-seeds", false, "write the fuzz seed corpora under testdata/fuzz")

// FuzzParse feeds arbitrary bytes to Parse, both as a whole file and as the payload of a
// file with a valid header and checksum (so that the fuzzer reaches the msgpack
// decoding), and to Decode. None of them may panic or allocate without bound.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, file := range [][]byte{data, fileWith(data)} {
			cp, err := checkpoint.Parse(file)
			if err != nil && !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("Parse error %v does not wrap ErrCorrupt", err)
			}
			if (err == nil) == (cp == nil) {
				t.Errorf("Parse = %v, %v", cp, err)
			}
		}
		var v any
		_ = checkpoint.Decode(data, &v)
	})
}

// FuzzWALReplay opens a log whose only segment holds arbitrary bytes after a valid
// header, and replays it: an error or records, never a panic.
func FuzzWALReplay(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		segment := append([]byte("SPATEWAL\x00\x00\x00\x01"), data...)
		if err := os.WriteFile(filepath.Join(dir, "wal-00000000000000000001.log"), segment, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := checkpoint.OpenWAL(dir, checkpoint.WithLogger(discard))
		if err != nil {
			return
		}
		defer w.Close()
		next := uint64(1)
		err = w.Replay(func(seq uint64, _ []byte) error {
			if seq != next {
				t.Errorf("Replay gave record %d, want %d", seq, next)
			}
			next++
			return nil
		})
		if err != nil {
			t.Errorf("Replay after a successful OpenWAL of a single segment = %v", err)
		}
		if seq, err := w.Append([]byte("x")); err != nil || seq != next {
			t.Errorf("Append = %d, %v; want %d", seq, err, next)
		}
	})
}

// TestFuzzSeeds checks that the committed seed corpora are what the code makes now
// (a format change that forgets them fails here); with -update-seeds, it writes them.
func TestFuzzSeeds(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// One entry per map: msgpack encodes maps in Go's random order, and the seeds
	// must come out the same every time.
	seed := sample(t, t0)
	offsets, err := checkpoint.NewEntry("kafka:events", map[int32]int64{0: 42})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := checkpoint.NewEntry("wordcount", map[string]int64{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	seed.Sources, seed.States[0] = []checkpoint.Entry{offsets}, counts
	if err := s.Save(seed); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join(dir, checkpointFiles(t, dir)[0]))
	if err != nil {
		t.Fatal(err)
	}
	payload := valid[headerSize:]
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)-1] ^= 0xff
	writeSeeds(t, "FuzzParse", map[string][]byte{
		"valid":             valid,
		"valid-payload":     payload,
		"zero-checkpoint":   mustEncode(t, &checkpoint.Checkpoint{Time: time.Unix(0, 0)}),
		"truncated":         valid[:len(valid)-7],
		"truncated-header":  valid[:headerSize-1],
		"truncated-payload": payload[:len(payload)/2],
		"bit-flip":          flipped,
		"huge-array":        {0x81, 0xa7, 's', 'o', 'u', 'r', 'c', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"huge-bin":          {0x91, 0x81, 0xa4, 'd', 'a', 't', 'a', 0xc6, 0x7f, 0xff, 0xff, 0xff},
	})

	wdir := t.TempDir()
	w, err := checkpoint.OpenWAL(wdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"first", "", "third record"} {
		if _, err := w.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	seg, err := os.ReadFile(segments(t, wdir)[0])
	if err != nil {
		t.Fatal(err)
	}
	records := seg[walHeaderSize:]
	garbled := append([]byte(nil), records...)
	garbled[recordHeaderSize] ^= 0xff
	writeSeeds(t, "FuzzWALReplay", map[string][]byte{
		"three-records":   records,
		"empty":           {},
		"torn":            records[:len(records)-3],
		"garbled-first":   garbled,
		"huge-length":     {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		"zeros":           make([]byte, 40),
		"partial-header":  records[:5],
		"wrong-sequence":  append(append([]byte(nil), records[:recordHeaderSize+5]...), records...),
		"two-logs-joined": append(append([]byte(nil), records...), records...),
	})
}

func writeSeeds(t *testing.T, fuzzName string, seeds map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if !*updateSeeds {
			if got, err := os.ReadFile(path); err != nil || string(got) != content {
				t.Errorf("the seed %s is not what the code makes now (%v): run go test -run TestFuzzSeeds -update-seeds ./checkpoint", path, err)
			}
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestValidSeed keeps the committed "valid" seed valid: a format change that forgets to
// regenerate the seeds fails here.
func TestValidSeed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParse", "valid"))
	if err != nil {
		t.Fatal(err)
	}
	var quoted string
	if _, err := fmt.Sscanf(string(data), "go test fuzz v1\n[]byte(%q)\n", &quoted); err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Parse([]byte(quoted))
	if err != nil {
		t.Fatalf("the valid seed does not parse (run TestFuzzSeeds with -update-seeds): %v", err)
	}
	if !cp.Time.Equal(t0) {
		t.Errorf("the valid seed has time %v, want %v", cp.Time, t0)
	}
}
