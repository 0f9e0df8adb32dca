package rdd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spatedev/spate/internal/argerr"
)

// ErrInvalid is wrapped by every construction error of the module (see
// "Invalid arguments and options" in the package doc): by the error an action
// returns when an operator in its lineage was built with an invalid argument
// or option (a nil function or RDD, a partition count below 1, a sampling
// fraction out of range) or its Engine with an invalid option; by Run's when
// a dstream graph was; by checkpoint.Open's for an invalid option.
var ErrInvalid = argerr.ErrInvalid

// ErrEmpty is returned (wrapped) by Reduce and First on an RDD with no
// elements.
var ErrEmpty = errors.New("empty RDD")

// TaskError is a failure in one task: of user code (a function that
// returned an error in MapPartitions, Foreach, ForeachPartition; a
// partitioner that answered an impossible partition), or of a shuffle's
// spill file that could not be made, written or read (Err is then a
// *shuffle.SpillError naming the file).
type TaskError struct {
	// Op is the operator whose code failed, e.g. "rdd.MapPartitions".
	Op string
	// Partition is the index of the partition the task was computing.
	Partition int
	// Err is the cause.
	Err error
}

// Error names the operator and partition, then the cause.
func (e *TaskError) Error() string {
	return fmt.Sprintf("%s (partition %d): %v", e.Op, e.Partition, e.Err)
}

// Unwrap returns the cause.
func (e *TaskError) Unwrap() error { return e.Err }

// PanicError is a panic in user code, recovered in the task that ran it.
// It never kills the process.
type PanicError struct {
	// Op is the operator whose function panicked, e.g. "rdd.Map".
	Op string
	// Partition is the index of the partition the task was computing, or
	// -1 for a panic outside any task: in a function an action calls while
	// it merges the partitions' results (Reduce, Fold, Aggregate,
	// TakeOrdered, Top) or a partitioner Lookup asks.
	Partition int
	// Value is the value passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

// Error names the operator, the partition (unless -1) and the panic value,
// in one line; the stack is in Stack, for a log or a debugger.
func (e *PanicError) Error() string {
	if e.Partition < 0 {
		return fmt.Sprintf("%s: panic: %v", e.Op, e.Value)
	}
	return fmt.Sprintf("%s (partition %d): panic: %v", e.Op, e.Partition, e.Value)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// taskErr wraps err, unless nil or a context's error, in a *TaskError of
// op and partition p.
func taskErr(op string, p int, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var te *TaskError
	if errors.As(err, &te) {
		return err
	}
	return &TaskError{Op: op, Partition: p, Err: err}
}

// named prefixes err with op, the name of the operator or action a layer
// knows, unless err already begins with it (a *TaskError or *PanicError of
// that very operator): each layer adds only what the one below did not say.
func named(op string, err error) error {
	if err == nil {
		return nil
	}
	if msg := err.Error(); strings.HasPrefix(msg, op+":") || strings.HasPrefix(msg, op+" (") {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

func invalid(op string, format string, args ...any) error {
	return argerr.Errorf(op, format, args...)
}
