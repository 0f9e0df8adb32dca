// Package dstream is Spate's micro-batch streaming layer, in the style of Spark
// Streaming: a DStream[T] is a stream of RDDs, one per batch interval, built and run by
// a Context.
//
// # Context and lifecycle
//
// A Context owns the batch interval, the clock (the real one, or a manual clock for
// tests), the graph of DStreams, the job scheduler and the listeners. Building the graph
// starts nothing: constructors start no goroutines. Run(ctx) validates the graph and
// runs it; calling Stop ends it gracefully, and cancelling ctx at once, and every
// goroutine Run started has ended when it returns. A graceful stop finishes the batches
// already generated, with their output (offset commits included), before Run returns
// nil; StopGracefullyOnShutdown does this on SIGINT or SIGTERM (Spark's
// stopGracefullyOnShutdown), StopGracefullyWhen when a context ends. Cancelling ctx
// abandons the queued batches.
//
// # Batches
//
// Every batch interval the Context asks each output stream (ForeachRDD and the other
// output operators) for the RDD of that batch time. A DStream computes and memoises one
// RDD per batch time, and forgets the RDDs older than what its windows need (its remember
// duration). Transformations are top-level generic functions, named as in Spark and in
// package rdd: dstream.Map(s, f) applies rdd.Map to every batch.
//
// The rule for names: a dstream operator named as an rdd operator is that operator
// lifted per batch, a transformation of streams, even where the rdd one is an action.
// rdd.Count returns a number; dstream.Count returns a stream of one count per batch
// (as Spark's DStream.count does); so do Reduce, CountByValue, Glom and Distinct. What
// is a stream's own — windows, state, outputs — has no rdd counterpart. Outputs are
// functions over any stream (ForeachRDD, Print); a source whose batches carry more
// than an RDD offers its own output as a method on its stream, where that extra lives
// (a Kafka direct stream's ForeachBatch hands out the offset ranges, which no
// transformed stream has).
//
// # Windows
//
// A windowed stream covers the last window length of batches and produces a result every
// slide; both must be multiples of the batch interval, and a violation is an error from
// Run before any batch runs — never a panic, never a silently wrong window. With a batch
// interval of 1s, a window of 3s and a slide of 2s:
//
//	batch time   1   2   3   4   5   6   7
//	batches      b1  b2  b3  b4  b5  b6  b7
//	window @2   [b1  b2]                      (partial: the first batches so far)
//	window @4       [b2  b3  b4]
//	window @6               [b4  b5  b6]
//
// A windowed stream (and what is derived from it) has an RDD only at whole slides after
// the time before the first batch; output operations on it run only then.
//
// ReduceByKeyAndWindowInv, with an inverse function, is incremental: a slide adds the
// batches entering the window and subtracts, with the inverse, those leaving it, so its
// cost is proportional to the batches that move, not to the window length. Its running
// values live in a state store per partition, updated in place every slide; a batch
// leaving the window reaches its keys' entries through the Refs (package state) taken
// when it entered, without hashing them again.
//
// # State
//
// UpdateStateByKey and MapWithState keep per-key state across batches, with an idle
// timeout, an initial state and state snapshots. The state lives in a state store
// (package state): one store per state partition, a hash table updated in place by
// the task that owns the partition, with each batch's data partitioned the same way,
// so the state never moves and a batch costs what it touches: MapWithState its records and
// the timeouts due (found through an index of keys by the batch that last touched
// them, not a scan), UpdateStateByKeyWith with OnlyValues the keys of the batch, and
// UpdateStateByKey, whose function runs for every key as in Spark, the whole state.
// The Context applies each batch to the stores once, in batch order, before the
// batch's outputs run, and then commits the batch's changes as its version, or rolls
// them back if the batch failed. A stream that reads the state (UpdateStateByKey's,
// MapWithState's snapshots) reads the stores in its own batch: kept for a window, each
// batch's is copied then.
//
// # Checkpoints and recovery
//
// With CheckpointDir, the Context saves after every batch where its sources are and the
// data they need to produce again the batches a restart may need (sources implement
// CheckpointedSource: the queue, the Kafka streams), and, at the state checkpoint
// interval, the state of UpdateStateByKey and MapWithState, by name (Named). The
// interval is a stream's CheckpointEvery, else the Context's CheckpointInterval, else
// Spark's defaults: 10 slides for MapWithState, the larger of its slide and 10s for
// UpdateStateByKey; all states are saved together, at the shortest. Checkpoints hold
// data, never code: GetOrCreate runs the user's code to build the graph, checks its
// sources and stateful streams against the checkpoint by name and type, and resumes:
//
//	          saved state          last batch generated
//	  history      |   run again       |   new batches
//	---[=========]-S-[===============]-G-[-------------->
//	 read again for       outputs run again
//	 windows, no output   (at least once)
//
// The state is exactly once; outputs of the batches after the saved state run again.
// Every batch handed out is recoverable: a source saves every batch it produced from
// the first one a restart may need, including batches generated while the checkpoint
// is written. The state is saved before the metadata that lists it, and a job stopped
// before its first state was saved resumes from its first batch. A stateful stream no
// output reads is not computed (as in Spark), so it has no state to save; Run warns of
// it. A source's own cleanup (the receiver's write-ahead log) waits until the
// checkpoint that permits it is on disk (CheckpointCleaner). The directory is locked
// while a job uses it: a second job, in any process, fails naming the holder's pid. A
// checkpoint that cannot be written is reported to listeners (BatchInfo.CheckpointErr)
// and, MaxCheckpointFailures batches in a row, fails Run.
//
// # Metrics and failures
//
// Listeners receive, for every batch, its time, what each input read (records, and
// why it read nothing when its system was unavailable), and the scheduling, processing
// and total delays. A listener that panics is logged and the job goes on. A failed job
// stops the Context, and Run returns an error naming the batch time and the operator. A
// stream that should have an RDD at a batch time and has none (a Transform function or
// a source returned nil) fails the batch with ErrNilRDD; only a windowed stream between
// its slides has no RDD.
//
// # Profiling and progress
//
// Run runs each batch's output operations, stateful streams, inputs' preparation
// and commit, and checkpoint under the profiler labels LabelBatch (the batch time)
// and operator (rdd.LabelOperator: the output operation, the stream, the input,
// "dstream.Checkpoint"), and every RDD task adds its stage's operator and its
// partition (rdd.LabelPartition): `go tool pprof -tagfocus operator=NAME` shows
// one operator's share of a running job's CPU, and -tags every label's.
//
// Long work reports its progress (Progress) to listeners that implement
// ProgressListener and logs it (percent, units done, ETA): when it starts, at most
// every ProgressInterval (default 5s, by the Context's clock) while it runs, and
// when it ends. GetOrCreate reports the restore of the state from the checkpoint
// ("dstream.restore", in bytes of saved state); Run, on a Context resumed after
// downtime, the catch-up of the batches due since the checkpoint
// ("dstream.catchup", in batches); sources report theirs (the Kafka streams'
// restores of tasks' state from changelogs, "kafka.restore") with
// Context.StartProgress.
//
// Package dstream/dstreamtest provides an in-memory queue source, a manual clock, and a
// helper that feeds batches of input through an operation and compares each batch's
// output.
package dstream
