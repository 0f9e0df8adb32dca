package rdd

import "iter"

// A task runs the code of every operator fused into its stage: a chain of
// narrow operators is one loop per partition, in which each operator calls
// the next for every element. tc.cur names the operator whose code runs
// now, so that a panic is reported under its name (runTaskLabelled; nil
// names the action). A scope owns that bookkeeping for one operator in one
// task: narrow operators call user code only through call, call2 and a
// partition run (newPartRun, push), and hand user code only iterators made by in,
// which name the operator again whenever its code resumes. Nothing else
// writes tc.cur for a narrow operator.
//
// The operator is named again each time control comes back to it, rather
// than the previous name being restored after each call, because that is
// one store per element and operator, and a panic unwinds past any restore
// anyway. Where its code resumes:
//   - an element comes from its parent (call, in);
//   - an element it passed downstream returns (partRun.yield): user code
//     that produces elements runs on between them;
//   - the parent's iteration ends (in): the parent's last code (a Filter
//     that dropped the last element, a shuffle's reduce side, a Generate
//     that yielded nothing) may have named itself.
type scope struct {
	tc *task
	me *info // nil: the action
}

// call returns f(t), run as s's operator's code. It is small enough to be
// inlined, so that it costs a fused loop no call of its own.
func call[T, U any](s scope, f func(T) U, t T) U {
	s.tc.cur = s.me
	return f(t)
}

// call2 is call for a function of two arguments.
func call2[A, B, U any](s scope, f func(A, B) U, a A, b B) U {
	s.tc.cur = s.me
	return f(a, b)
}

// push calls f with t and run's yield, as run's operator's code: the
// function of FlatMapSeq or FlatMapYield, for one element of its parent.
func push[T, U any](run *partRun[U], f func(T, func(U) bool), t T) {
	run.tc.cur = run.me
	f(t, run.yield)
}

// partRun is one run of user code that produces an operator's elements
// (Generate's and MapPartitions' functions, FlatMapSeq's iterators,
// FlatMapYield's functions) over partition part, or of an action's
// function over a partition (ForeachPartition). The code may read its parents' partitions through in.
type partRun[U any] struct {
	scope
	part int
	// yield is the function the code gets for its elements: it passes
	// each downstream and reports whether the consumer wants more. It
	// returns false once the consumer has stopped (Take has enough) or,
	// if the run checks for it, the task is cancelled (checked every
	// checkEvery elements, as sources do). Nil for an action's function.
	yield func(U) bool
	// stopped: yield has returned false. From then on it returns false
	// and drops what it gets, and the iterators from in end.
	stopped bool
	err     error // the first error reading a parent
}

// cancelCheck says whether a partRun's yield checks for the task's
// cancellation.
type cancelCheck int

const (
	// checkCancel: yield also returns false once the task is cancelled,
	// for code that may produce without end (Generate, MapPartitions).
	checkCancel cancelCheck = iota
	// parentChecks: no check in yield, for code run once per parent
	// element (FlatMapSeq's iterators, FlatMapYield's functions), whose
	// parent checks between elements. A check per element measured about
	// 10% of a word count.
	parentChecks
)

// newPartRun starts a run of s's operator's code over partition part that
// feeds down (nil for an action's function, which gets no yield); check
// says whether yield checks for cancellation.
func newPartRun[U any](s scope, part int, down func(U) bool, check cancelCheck) *partRun[U] {
	s.tc.cur = s.me
	run := &partRun[U]{scope: s, part: part}
	// Closures rather than a method value: one call per element, not two.
	switch {
	case down == nil:
	case check == checkCancel:
		run.yield = func(u U) bool {
			if run.stopped || run.tc.tick() != nil || !down(u) {
				run.stopped = true
				return false
			}
			run.tc.cur = run.me
			return true
		}
	default:
		run.yield = func(u U) bool {
			if run.stopped || !down(u) {
				run.stopped = true
				return false
			}
			run.tc.cur = run.me
			return true
		}
	}
	return run
}

// finish returns the result of run once its code returned ferr: the first
// error reading a parent; else ferr, as a *TaskError naming the operator
// and the partition; else the task's cancellation, if any (what the code
// yielded may then be partial).
func (run *partRun[U]) finish(ferr error) error {
	switch {
	case run.err != nil:
		return run.err
	case ferr != nil:
		return &TaskError{Op: run.name(), Partition: run.part, Err: ferr}
	}
	return run.tc.ctx.Err()
}

// name is the name of run's operator, or of the action.
func (run *partRun[U]) name() string {
	if run.me == nil {
		return run.tc.job.action
	}
	return run.me.name
}

// in returns partition run.part of r as a single-use iterator for run's
// code: a second range over it yields nothing, and it ends once run has
// stopped. The first error reading r is kept in run.err.
func in[T, U any](run *partRun[U], r *RDD[T]) iter.Seq[T] {
	used := false
	return func(body func(T) bool) {
		if used || run.stopped {
			return
		}
		used = true
		err := r.iter(run.tc, run.part, func(t T) bool {
			run.tc.cur = run.me
			return !run.stopped && body(t)
		})
		run.tc.cur = run.me
		if err != nil && run.err == nil {
			run.err = err
		}
	}
}
