package rdd_test

import (
	"context"
	"errors"
	"testing"

	"github.com/spatedev/spate/rdd"
)

// Each layer of an error adds only what it knows: an action whose own
// function failed is named once, and a panic is one line (its stack is a field).
func TestErrorMessagesNameEachOperatorOnce(t *testing.T) {
	ctx := context.Background()
	eng := rdd.NewEngine(rdd.Parallelism(1))
	r := rdd.Parallelize(eng, []int{1, 2, 3, 4}, 2)
	boom := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"an error of Foreach's function", rdd.Foreach(ctx, r, func(_ context.Context, x int) error {
			if x == 3 {
				return boom
			}
			return nil
		}), "rdd.Foreach (partition 1): boom"},
		{"a panic in Foreach's function", rdd.Foreach(ctx, r, func(_ context.Context, x int) error {
			if x == 3 {
				panic("boom")
			}
			return nil
		}), "rdd.Foreach (partition 1): panic: boom"},
		{"a panic in a Map under Collect", func() error {
			_, err := rdd.Collect(ctx, rdd.Map(r, func(x int) int {
				if x == 3 {
					panic("boom")
				}
				return x
			}))
			return err
		}(), "rdd.Collect: rdd.Map (partition 1): panic: boom"},
		{"a panic in Reduce's merge", func() error {
			_, err := rdd.Reduce(ctx, rdd.Parallelize(eng, []int{1, 2}, 2), func(int, int) int { panic("boom") })
			return err
		}(), "rdd.Reduce: panic: boom"},
	}
	for _, tt := range tests {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("%s: %v; want %q", tt.name, tt.err, tt.want)
		}
		var pe *rdd.PanicError
		if errors.As(tt.err, &pe) && len(pe.Stack) == 0 {
			t.Errorf("%s: a *PanicError with no stack", tt.name)
		}
	}
}
