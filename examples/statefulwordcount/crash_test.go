package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
)

// TestCrashesLoseAndDoubleNothing runs the example as a child process with a
// checkpoint directory against a broker with a data directory, produces sentences
// while SIGKILLing the child at random moments and starting it again, then lets it
// finish: the sum of its running counts equals the number of words produced.
func TestCrashesLoseAndDoubleNothing(t *testing.T) {
	bin := crashtest.Build(t, ".")
	b := crashtest.Broker(t, "words")
	dir := filepath.Join(t.TempDir(), "ckpt")
	rng := crashtest.Rand(t)
	counts := map[string]int{}
	produce := func(n int) { crashtest.Sentences(t, b, "words", rng, n, counts) }
	words := func() (n int) {
		for _, c := range counts {
			n += c
		}
		return n
	}
	args := []string{"-brokers", strings.Join(b.Addrs(), ","), "-topics", "words", "-checkpoint", dir, "-batch", "100ms"}
	for range crashtest.Cycles(t) {
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
		if total > words() {
			t.Fatalf("total %d words counted, more than the %d produced: some counted twice", total, words())
		}
		if total == words() {
			break
		}
		if attempt == 3 {
			t.Fatalf("total %d words counted after 3 final runs, want %d: some lost", total, words())
		}
	}
}
