package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/examples/internal/crashtest"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// TestCrashesLoseAndDoubleNothing runs the example as a child process against a
// broker with a data directory, produces N sentences while SIGKILLing the child at
// random moments and starting it again, then lets it finish: the database holds
// exactly the word counts of the N sentences.
func TestCrashesLoseAndDoubleNothing(t *testing.T) {
	bin := crashtest.Build(t, ".")
	b, err := kafkatest.Start(kafkatest.Topic("words", 4), kafkatest.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dbPath := filepath.Join(t.TempDir(), "counts.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	want := map[string]int{}
	produced := 0
	produce := func(n int) {
		msgs := make([]kafkatest.Message, n)
		for i := range msgs {
			var words []string
			for range 1 + rng.IntN(6) {
				w := fmt.Sprintf("w%d", rng.IntN(50))
				words = append(words, w)
				want[w]++
			}
			msgs[i] = kafkatest.Message{Partition: rng.IntN(4), Value: []byte(strings.Join(words, " "))}
		}
		if err := b.Produce(context.Background(), "words", msgs...); err != nil {
			t.Fatal(err)
		}
		produced += n
	}
	args := []string{"-brokers", strings.Join(b.Addrs(), ","), "-topics", "words", "-db", dbPath, "-batch", "100ms"}
	for range 4 {
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
