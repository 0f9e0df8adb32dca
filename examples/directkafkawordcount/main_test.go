package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoCountsAndSummarizes runs the demo on the embedded broker for a few short
// batches and checks what it prints: ranges, top words, and the summary line last,
// whose record count equals the sum of the batches'.
func TestDemoCountsAndSummarizes(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, "", "sentences", "test", 200*time.Millisecond, 1500*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	m := regexp.MustCompile(`^summary records=(\d+) batches=(\d+)$`).FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q is not the summary:\n%s", lines[len(lines)-1], text)
	}
	records, _ := strconv.Atoi(m[1])
	batches, _ := strconv.Atoi(m[2])
	sum := 0
	for _, bm := range regexp.MustCompile(`(?m)^--- batch \S+: (\d+) records$`).FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(bm[1])
		sum += n
	}
	if batches < 3 || records == 0 || records != sum {
		t.Errorf("summary records=%d batches=%d, batches' records sum to %d:\n%s", records, batches, sum, text)
	}
	if !strings.Contains(text, "sentences/3 offsets [") || !strings.Contains(text, "top words: the=") {
		t.Errorf("no ranges or top words printed:\n%s", text)
	}
}
