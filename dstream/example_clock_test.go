package dstream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/spatedev/spate/dstream"
)

func ExampleManualClock() {
	c := dstream.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	done := make(chan error)
	go func() { done <- c.WaitUntil(context.Background(), c.Now().Add(2*time.Second)) }()

	// Move time only once the waiter is blocked: no sleeping.
	_ = c.AwaitWaiters(context.Background(), 1)
	c.Advance(2 * time.Second)
	fmt.Println(<-done, c.Now().Format(time.TimeOnly))
	// Output: <nil> 00:00:02
}
