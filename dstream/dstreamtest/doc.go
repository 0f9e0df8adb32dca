// Package dstreamtest tests streaming operations batch by batch, with no
// real time passing.
//
// A test states the input of every batch, the operation under test and the
// output it wants for every batch. [Run] builds a [dstream.Context] on a
// [ManualClock], feeds each input batch through a one-at-a-time queue
// ([Input]), applies the operation, collects every batch's output
// with a ForeachRDD, and moves the clock one batch interval at a time, each
// time only once the scheduler waits for its next batch, so no test sleeps.
// It then stops the Context and compares each batch's output with the
// wanted one using go-cmp, in order or, with [Unordered], as a multiset:
//
//	func TestWordLengths(t *testing.T) {
//		dstreamtest.Run(t,
//			[][]string{{"a bb", "ccc"}, nil, {"dd"}},
//			func(s *dstream.DStream[string]) *dstream.DStream[int] {
//				words := dstream.FlatMap(s, strings.Fields)
//				return dstream.Map(words, func(w string) int { return len(w) })
//			},
//			[][]int{{1, 2, 3}, nil, {2}},
//			dstreamtest.Unordered())
//	}
//
// Batch k (counting from 1) has time start + k×interval, where start is a
// fixed epoch (2026-01-01T00:00:00Z) truncated to the batch interval; a
// failure names both. [Run2] does the same for an operation of two input
// streams, and [RunBatches] returns the collected batches for a test to
// check itself.
//
// For tests that feed or check a stream batch by batch, or read a source
// of their own, a [Driver] runs a Context one batch at a time: build the
// graph on its Context, [Collect] the streams to read, and call
// [Driver.Step], which returns once the batch has completed, with what the
// Context's listeners heard of it (a dstream.BatchInfo), so its output is
// there to read ([Output.At]). [Run] is built on it. [Drive] drives a
// Context built elsewhere (by dstream.GetOrCreate, say) on a [ManualClock].
// The Driver is also the harness of the tests of Spate's own packages:
// [Driver.Start] runs the Context under a context a test cancels,
// [Driver.Advance] moves to the next batch without waiting for it, and
// every wait is bounded by [Timeout].
//
// # Options
//
// Options are typed by what they configure: [Run] and [Run2] take every
// option ([RunOpt]); [NewDriver], [RunBatches] and [RunBatches2], which
// compare nothing, take those of the Context and its waits ([Opt]); [Drive],
// whose Context is built elsewhere, takes only [Timeout] ([DriveOpt]). An
// option that would have no effect does not compile. An invalid value is a
// construction error of the Context: its Run fails before the first batch,
// so the first Step fails and Run calls t.Fatalf, naming the option and its
// value.
package dstreamtest
