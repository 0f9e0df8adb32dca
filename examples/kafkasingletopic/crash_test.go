package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestCrashesLoseNothing runs the example with the write-ahead log as a child process,
// SIGKILLs it at random moments while records are produced and starts it again; in
// the end every produced record is in its -out file at least once.
func TestCrashesLoseNothing(t *testing.T) {
	bin := crashtest.Build(t, ".")
	b := crashtest.Broker(t, "events")
	dir := t.TempDir()
	outFile := filepath.Join(dir, "seen")
	rng := crashtest.Rand(t)
	produce := func(n int) {
		msgs := make([]kafkatest.Message, n)
		for i := range msgs {
			msgs[i] = kafkatest.Message{Partition: rng.IntN(4), Value: []byte(fmt.Sprint("r", rng.IntN(1000)))}
		}
		if err := b.Produce(context.Background(), "events", msgs...); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-brokers", strings.Join(b.Addrs(), ","), "-topics", "events", "-group", "zdl",
		"-wal", filepath.Join(dir, "wal"), "-out", outFile, "-batch", "1s", "-parallelism", "2"}
	for range 4 {
		child := crashtest.Start(t, bin, args...)
		produce(300 + rng.IntN(300))
		child.AwaitLines("batch ", 1+rng.IntN(3), 60*time.Second)
		produce(100)
		select { // a random moment: maybe mid-block, mid-batch, mid-write
		case <-time.After(time.Duration(200+rng.IntN(700)) * time.Millisecond):
		case <-t.Context().Done():
		}
		child.Kill()
	}
	produce(200)

	// A last run, until the file has every record.
	want := map[string]bool{}
	for p := range 4 {
		_, end, err := b.Offsets("events", p)
		if err != nil {
			t.Fatal(err)
		}
		for o := range end {
			want[fmt.Sprintf("events %d %d", p, o)] = true
		}
	}
	child := crashtest.Start(t, bin, args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := 0
		seen := readLines(t, outFile)
		for l := range want {
			if !seen[l] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records never processed (lost)", missing, len(want))
		}
		child.AwaitLines("batch ", 1, 30*time.Second)
	}
	out, err := child.Stop(30 * time.Second)
	if err != nil {
		t.Fatalf("the last run ended with %v:\n%s", err, strings.Join(out, "\n"))
	}
	if last := out[len(out)-1]; !strings.HasPrefix(last, "summary records=") {
		t.Errorf("last line %q is not the summary", last)
	}
}

// readLines returns the complete lines of a file (a crash may leave a partial one).
func readLines(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out[sc.Text()] = true
	}
	return out
}
