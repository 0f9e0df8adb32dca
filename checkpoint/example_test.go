package checkpoint_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/spatedev/spate/checkpoint"
)

func ExampleStore() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := checkpoint.Open(dir, checkpoint.Keep(3))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Latest(); errors.Is(err, checkpoint.ErrNoCheckpoint) {
		fmt.Println("no checkpoint yet: start fresh")
	}

	// A job saves its positions and state after each completed batch.
	offsets, err := checkpoint.NewEntry("kafka:events", map[int32]int64{0: 120, 1: 98})
	if err != nil {
		log.Fatal(err)
	}
	counts, err := checkpoint.NewEntry("wordcount", map[string]int64{"spate": 3, "spark": 2})
	if err != nil {
		log.Fatal(err)
	}
	batch := time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC)
	err = store.Save(&checkpoint.Checkpoint{
		Time:     batch,
		Interval: 2 * time.Second,
		Sources:  []checkpoint.Entry{offsets},
		States:   []checkpoint.Entry{counts},
	})
	if err != nil {
		log.Fatal(err)
	}

	// After a restart, recovery reads the newest valid checkpoint back.
	cp, err := store.Latest()
	if err != nil {
		log.Fatal(err)
	}
	state, _ := cp.State("wordcount")
	var restored map[string]int64
	if err := checkpoint.Decode(state.Data, &restored); err != nil {
		log.Fatal(err)
	}
	fmt.Println("last batch:", cp.Time.Format(time.TimeOnly), "every", cp.Interval)
	fmt.Println("state:", state.Type, restored)
	// Output:
	// no checkpoint yet: start fresh
	// last batch: 10:30:00 every 2s
	// state: map[string]int64 map[spark:2 spate:3]
}

func ExampleWAL() {
	dir, err := os.MkdirTemp("", "wal")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	wal, err := checkpoint.OpenWAL(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, block := range []string{"block A", "block B", "block C"} {
		seq, err := wal.Append([]byte(block)) // durable when Append returns
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("appended", seq)
	}
	// Block A is processed and its offsets committed: drop it.
	if err := wal.Truncate(2); err != nil {
		log.Fatal(err)
	}
	wal.Close()

	// After a restart, replay what is still in the log.
	wal, err = checkpoint.OpenWAL(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer wal.Close()
	err = wal.Replay(func(seq uint64, record []byte) error {
		fmt.Printf("replay %d: %s\n", seq, record)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// appended 1
	// appended 2
	// appended 3
	// replay 2: block B
	// replay 3: block C
}
