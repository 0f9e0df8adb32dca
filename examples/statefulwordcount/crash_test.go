package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestCrashesLoseAndDoubleNothing runs the example as a child process with a
// checkpoint directory against a broker with a data directory, produces sentences
// while SIGKILLing the child at random moments and starting it again, then lets it
// finish: the sum of its running counts equals the number of words produced.
func TestCrashesLoseAndDoubleNothing(t *testing.T) {
	bin := crashtest.Build(t, ".")
	b, err := kafkatest.Start(kafkatest.Topic("words", 4), kafkatest.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := filepath.Join(t.TempDir(), "ckpt")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	words := 0
	produce := func(n int) {
		msgs := make([]kafkatest.Message, n)
		for i := range msgs {
			var ws []string
			for range 1 + rng.IntN(6) {
				ws = append(ws, fmt.Sprintf("w%d", rng.IntN(50)))
			}
			words += len(ws)
			msgs[i] = kafkatest.Message{Partition: rng.IntN(4), Value: []byte(strings.Join(ws, " "))}
		}
		if err := b.Produce(context.Background(), "words", msgs...); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-brokers", strings.Join(b.Addrs(), ","), "-topics", "words", "-checkpoint", dir, "-batch", "100ms"}
	for range 4 {
		produce(500 + rng.IntN(500))
		child := crashtest.Start(t, bin, args...)
		child.AwaitLines("batch ", 1+rng.IntN(5), 30*time.Second)
		select {
		case <-time.After(time.Duration(rng.IntN(100)) * time.Millisecond):
		case <-t.Context().Done():
		}
		child.Kill()
	}
	produce(300)

	// Last runs, until every word is counted: the summary's total is the sum of the
	// running counts, which a run resumes.
	summary := regexp.MustCompile(`^summary records=(\d+) total=(\d+)$`)
	for attempt := 1; ; attempt++ {
		child := crashtest.Start(t, bin, append(args, "-duration", "2s")...)
		out, err := child.Wait(60 * time.Second)
		if err != nil {
			t.Fatalf("run ended with %v:\n%s", err, strings.Join(out, "\n"))
		}
		m := summary.FindStringSubmatch(out[len(out)-1])
		if m == nil {
			t.Fatalf("last line %q is not the summary", out[len(out)-1])
		}
		total, _ := strconv.Atoi(m[2])
		if total > words {
			t.Fatalf("total %d words counted, more than the %d produced: some counted twice", total, words)
		}
		if total == words {
			break
		}
		if attempt == 3 {
			t.Fatalf("total %d words counted after 3 final runs, want %d: some lost", total, words)
		}
	}
}
