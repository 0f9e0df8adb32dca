package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestEveryTopicsRecords runs the example as a child process over two topics, one
// receiver stream each, unioned, and checks that every record of both topics is
// processed (in its -out file) before a graceful stop prints the summary.
func TestEveryTopicsRecords(t *testing.T) {
	bin := crashtest.Build(t, ".")
	b := kafkatest.New(t, kafkatest.Topic("a", 2), kafkatest.Topic("b", 3))
	want := map[string]bool{}
	for _, topic := range []string{"a", "b"} {
		var msgs []kafkatest.Message
		for i := range 60 {
			msgs = append(msgs, kafkatest.Message{Partition: i % 2, Value: []byte(fmt.Sprint(topic, i))})
		}
		if err := b.Produce(context.Background(), topic, msgs...); err != nil {
			t.Fatal(err)
		}
		for p := range 2 {
			for o := range 30 {
				want[fmt.Sprintf("%s %d %d", topic, p, o)] = true
			}
		}
	}

	dir := t.TempDir()
	outFile := filepath.Join(dir, "seen")
	child := crashtest.Start(t, bin, "-brokers", strings.Join(b.Addrs(), ","), "-topics", "a,b", "-group", "multi",
		"-wal", filepath.Join(dir, "wal"), "-out", outFile, "-batch", "1s", "-parallelism", "2")
	if missing := child.AwaitAll(outFile, want, 60*time.Second); len(missing) > 0 {
		t.Fatalf("after 60s, %d of %d records not processed, e.g. %v", len(missing), len(want), missing[:min(len(missing), 5)])
	}
	out, err := child.Stop(30 * time.Second)
	if err != nil {
		t.Fatalf("the example ended with %v:\n%s", err, strings.Join(out, "\n"))
	}
	if last := out[len(out)-1]; !strings.HasPrefix(last, "summary records=") {
		t.Errorf("last line %q is not the summary", last)
	}
}
