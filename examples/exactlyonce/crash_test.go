package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
)

// TestCrashesLoseAndDoubleNothing runs the example as a child process against a
// broker with a data directory, produces N sentences while SIGKILLing the child at
// random moments and starting it again, then lets it finish: the database holds
// exactly the word counts of the N sentences.
func TestCrashesLoseAndDoubleNothing(t *testing.T) {
	bin := crashtest.Build(t, ".")
	b := crashtest.Broker(t, "words")
	dbPath := filepath.Join(t.TempDir(), "counts.db")
	rng := crashtest.Rand(t)
	want := map[string]int{}
	produced := 0
	produce := func(n int) {
		crashtest.Sentences(t, b, "words", rng, n, want)
		produced += n
	}
	args := []string{"-brokers", strings.Join(b.Addrs(), ","), "-topics", "words", "-db", dbPath, "-batch", "100ms"}
	for range crashtest.Cycles(t) {
		produce(500 + rng.IntN(500))
		child := crashtest.Start(t, bin, args...)
		// Kill it after a random number of batches, at a random moment in the next.
		child.AwaitLines("batch ", 1+rng.IntN(4), 30*time.Second)
		select {
		case <-time.After(time.Duration(rng.IntN(100)) * time.Millisecond):
		case <-t.Context().Done():
		}
		child.Kill()
	}
	produce(300)

	// A last run, until the database has every record.
	child := crashtest.Start(t, bin, args...)
	db, err := sql.Open("sqlite", dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var stored int
		if err := db.QueryRow(`SELECT COALESCE(SUM(next_offset), 0) FROM kafka_offsets`).Scan(&stored); err != nil && !strings.Contains(err.Error(), "no such table") {
			t.Fatal(err)
		}
		if stored == produced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database has %d of %d records after 60s", stored, produced)
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
	got := map[string]int{}
	rows, err := db.Query(`SELECT word, count FROM word_counts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var w string
		var n int
		if err := rows.Scan(&w, &n); err != nil {
			t.Fatal(err)
		}
		got[w] = n
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("word %s counted %d times, want %d", w, got[w], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d words in the database, want %d", len(got), len(want))
	}
}
