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
// A mistake in building the graph (a nil function, an invalid option of the Context or
// of an operator, a window that is not a multiple of the batch interval) is a
// construction error: Run fails with every one of them, wrapping ErrInvalid and naming
// the operator or option, before the first batch. Sources, sinks and other code built
// on a Context outside this package report theirs with Context.ReportInvalid. The rule,
// the same in every package, is in package rdd's documentation ("Invalid arguments and
// options").
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
// Each batch is applied to the stores once, and its changes kept as the stores' version
// or rolled back (see Order of a batch). A stream that reads the state
// (UpdateStateByKey's, MapWithState's snapshots) reads the stores in its own batch:
// kept for a window, each batch's is copied then.
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
// A job stopped before its first state was saved resumes from its first batch. What a
// checkpoint holds, and when it is written, is in Order of a batch. State checkpoints
// are deltas, the keys changed since the last one; once there are StateSnapshotEvery
// of them, the state is compacted into a snapshot in the background. A stateful stream
// no output reads is not computed (as in Spark), so it has no state to save; Run warns
// of it. The directory is locked while a job uses it: a second job, in any process,
// fails naming the holder's pid. A checkpoint that cannot be written is reported to
// listeners (BatchInfo.CheckpointErr) and, MaxCheckpointFailures batches in a row,
// fails Run.
//
// # Order of a batch
//
// The order in which the Context does the work of a batch, which every part of this
// package relies on, is stated here once.
//
// Generation. At each batch time, in time order, every source is read, whether or not
// an output needs the batch, then each output operation's job is prepared, in
// registration order: the RDD graph is built, and no job runs. A stateful stream's RDD
// is built at each of its slides, even when the output's stream has none then (a window
// between slides), so that it never has to go back to batches its parents have
// forgotten. A batch whose time has come is generated whole, even if Stop comes
// meanwhile. Generation runs ahead of processing: generated batches wait in a queue,
// never dropped or reordered.
//
// Processing. Batches are processed one at a time, in time order. For batch t:
//
//  1. the sources that implement BatchPreparer prepare it;
//  2. each stateful stream's RDD is computed, fully, in creation order (parents
//     first): each is built on the stream's RDD of the slide before (its state store
//     updated in place), so none may be computed late, partly or twice; the stores
//     then hold batch t;
//  3. the views of a state kept for windows are read, while the stores hold t;
//  4. the output operations run, in registration order;
//  5. the sources, then the services, that implement BatchCommitter commit it: a
//     transaction of the batch's outputs, state changes and offsets commits here,
//     after the outputs and before the state changes are kept;
//  6. the state stores keep the batch's changes as their version t or, if a step
//     before failed, roll them back to the batch before; then, over the engine's
//     memory budget, they move cold entries to disk;
//  7. if the batch succeeded, its checkpoint is written;
//  8. the listeners (OnBatchCompleted), then the services and the sources that
//     implement BatchCompleter, hear that t completed, failed or not.
//
// The first failure skips the steps after it up to step 6. The checkpoint of t is
// written after t's outputs and commit, from the state kept for t: a restart that
// resumes after t (a graph without state) does not lose t's outputs, one that resumes
// from the state saved at t never resumes from a batch that failed, and a batch the
// listeners hear is complete is in the checkpoint.
//
// Checkpoint. The state files are written first (when due), then the metadata that
// lists them: a metadata checkpoint never lists a state that is not on disk; if the
// state cannot be saved, the metadata is still written, listing the states saved
// before. A stateful stream forgets which keys changed since its last save only once
// the file is durable. With the metadata, each source (CheckpointedSource) saves, under
// its own lock with where it goes on, every batch from the first a restart may need
// (the windows' history before the oldest state listed) to the last generated, those
// generated while the checkpoint is written included: every batch handed out is
// recoverable. A source's own cleanup (CheckpointCleaner: the receiver's write-ahead
// log) waits until the metadata that permits it is durable. The compactor, in the
// background, rewrites a listed state as a snapshot, and deletes only the files before
// the snapshot that precedes the oldest listed state's: a restart that cannot read the
// newer snapshot falls back on the older.
//
// Offsets. A source that commits its positions does it in step 5 (a transaction), or
// when an output has queued them (a Kafka stream's CommitAsync), in no order with the
// checkpoint. A restart from a checkpoint resumes from the positions the checkpoint
// holds.
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
