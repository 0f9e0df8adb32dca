package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/examples/internal/crashtest"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestCrashesLoseNothing runs the example with the write-ahead log as a child process,
// SIGKILLs it at random moments while records are produced and starts it again; in
// the end every produced record is in its -out file at least once. If some are still
// missing after a minute, it tells those not yet processed (not committed, or in the
// write-ahead log) from those lost.
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
	for range crashtest.Cycles(t) {
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
	if missing := child.AwaitAll(outFile, want, 60*time.Second); len(missing) > 0 {
		child.Kill()
		t.Fatal(explainMissing(t, b, filepath.Join(dir, "wal"), missing, len(want)))
	}
	out, err := child.Stop(30 * time.Second)
	if err != nil {
		t.Fatalf("the last run ended with %v:\n%s", err, strings.Join(out, "\n"))
	}
	if last := out[len(out)-1]; !strings.HasPrefix(last, "summary records=") {
		t.Errorf("last line %q is not the summary", last)
	}
}

// explainMissing says, of the records missing from the output after the child was
// killed, which are not yet processed (not committed, so the group gives them again,
// or logged in the write-ahead log, which the next run replays) and which are lost
// (committed and not logged: nothing will give them again).
func explainMissing(t *testing.T, b *kafkatest.Broker, ckpt string, missing []string, total int) string {
	t.Helper()
	committed, err := b.Committed(context.Background(), "zdl", "events")
	if err != nil {
		t.Fatal(err)
	}
	logged := map[string]bool{}
	wal, err := checkpoint.OpenWAL(filepath.Join(ckpt, "receivers", "zdl-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer wal.Close()
	err = wal.Replay(func(_ uint64, data []byte) error {
		var recs []struct { // the fields of the receiver's blocks that name a record
			Topic     string
			Partition int
			Offset    int64
		}
		if err := checkpoint.Decode(data, &recs); err != nil {
			return err
		}
		for _, r := range recs {
			logged[fmt.Sprintf("%s %d %d", r.Topic, r.Partition, r.Offset)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var uncommitted, inLog, lost []string
	for _, l := range missing {
		var topic string
		var p int
		var o int64
		if _, err := fmt.Sscanf(l, "%s %d %d", &topic, &p, &o); err != nil {
			t.Fatal(err)
		}
		switch {
		case o >= committed[p]:
			uncommitted = append(uncommitted, l)
		case logged[l]:
			inLog = append(inLog, l)
		default:
			lost = append(lost, l)
		}
	}
	sample := func(ls []string) []string {
		slices.Sort(ls)
		return ls[:min(len(ls), 5)]
	}
	msg := fmt.Sprintf("after 60s, %d of %d records not yet processed: %d not committed (the group gives them again, e.g. %v), %d logged in the write-ahead log (the next run replays them, e.g. %v)",
		len(uncommitted)+len(inLog), total, len(uncommitted), sample(uncommitted), len(inLog), sample(inLog))
	if len(lost) > 0 {
		msg += fmt.Sprintf("; %d LOST (committed, not logged, never processed, e.g. %v)", len(lost), sample(lost))
	}
	return msg
}
