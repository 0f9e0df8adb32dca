// Package rdd is Spate's batch core: typed, lazy, partitioned datasets
// (RDD[T], after Spark's resilient distributed datasets) computed by a local
// executor on all cores. Every micro-batch of a dstream is an RDD.
//
// # Model
//
// An [RDD] is an immutable node in a lineage graph. Sources ([Parallelize],
// [FromPartitions], [Range], [Empty]) hold data; transformations are
// top-level generic functions that record a new node and compute nothing:
//
//	lines := rdd.Parallelize(eng, text, 0)
//	words := rdd.FlatMap(lines, strings.Fields)
//	pairs := rdd.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
//	counts := rdd.ReduceByKey(pairs, ops.Sum[int])
//
// An action ([Collect], [Count], [Reduce], [Foreach], [ForeachPartition],
// [Take], …) takes a context.Context, runs a job and returns an error. A
// failed action returns its type's zero value with the error, never a partial
// result (a count of the partitions that succeeded, say).
//
// # Narrow and wide operators
//
// Narrow operators (Map, FlatMap, FlatMapSeq, FlatMapYield, Filter,
// MapPartitions, MapValues, FlatMapValues, Keys, Values, Sample, Glom,
// Union, Coalesce) compute partition i from the parent's partition i
// (Union and Coalesce from a fixed set of parent partitions) and are fused:
// a chain of them runs as one loop per partition, each element pushed
// through nested function calls, with no channel, goroutine or
// intermediate slice per element.
//
// Wide operators (ReduceByKey, FoldByKey, AggregateByKey, CombineByKey,
// GroupByKey, Distinct, Repartition, PartitionBy, SortBy, SortByKey, Join,
// the outer joins, CoGroup, SubtractByKey) go through a shuffle
// (package shuffle): a stage boundary. After them partition i no longer
// corresponds to the parent's partition i. Each takes [ShuffleOpt]s typed
// by the key it partitions by: an optional partition count ([Partitions])
// and an optional custom partitioner ([WithPartitioner]; a partitioner over
// another key type does not compile). [PartitionerOf] returns the
// partitioner a keyed RDD is known to follow. By default a wide operator has as many partitions as
// its input with the most, but at most 4 times the [Engine]'s parallelism
// (Spark has no such bound): every map task writes a bucket per output
// partition, so a shuffle's cost grows with map tasks × output partitions,
// and the bound keeps it linear in the input's partitions. A keyed operator
// keeps by default a partitioner over its key that an input already has,
// and an input already partitioned by an equal partitioner is not shuffled
// again (co-partitioning). Aggregating shuffles combine values on the map
// side first; a map task whose first records show little repetition of keys
// stops combining and passes records through, and the reduce side sizes its
// table from HyperLogLog sketches the map side keeps (each sized by the keys
// it holds; a small bucket's are not merged).
//
// # Execution
//
// A job first runs the shuffle stages the result depends on, parents first,
// each stage one task per input partition; then one task per result
// partition. At most the [Engine]'s parallelism tasks run at once (an
// errgroup): the first failure cancels the others and is the job's error;
// cancelling the action's context stops it promptly (sources check it every
// 1024 elements). A panic in user code is recovered in its task and returned
// as a [*PanicError] naming the operator and the partition in one line (the
// stack is its Stack field); an error returned by user code is a
// [*TaskError]. Each layer of an error adds only what it knows: an action
// does not repeat its name before a failure of its own function. An invalid
// argument or option is reported before any task runs (see the next
// section).
//
// # Invalid arguments and options
//
// This is the rule of every package of the module. A mistake in building
// something is a construction error, reported once and before anything runs:
// an error wrapping [ErrInvalid] that names the constructor or operator and
// the argument or option with its value, e.g. "rdd.NewEngine: invalid
// argument: Parallelism(0), want at least 1". No invalid value is ignored,
// clamped or replaced by a default, and building never panics. Where the
// error goes depends on what is built:
//
//   - A constructor that returns an error returns it (checkpoint.Open,
//     checkpoint.OpenWAL, dstream.GetOrCreate).
//   - A value built without an error return carries it: an RDD built with
//     an invalid argument or option, or on an invalid Engine ([RDD.Err], of
//     it or of any RDD in its lineage); an [Engine] built with an invalid
//     option ([Engine.Err]); a state.Store (its Err). Every action on such an
//     RDD returns the error before running a task: a transformation returns
//     only its RDD, so the action is the first point that can return an
//     error. [CheckShuffleOpts] checks options kept for later.
//   - Anything built on a dstream.Context reports it through
//     dstream.Context.ReportInvalid, and the Context's Run (and GetOrCreate)
//     fails with every such error before the first batch: the Context's
//     options, its streams and operators (their shuffle options too), sources
//     and sinks, and what attaches to a Context (dstream/ui.Handler,
//     metrics/prometheus.New, dstreamtest's options).
//
// Options are opaque values made only by their package's functions (an
// interface with an unexported method, as in franz-go's kgo); a nil option is
// no option. An option that serves several constructors satisfies each one's
// option interface (checkpoint.WithLogger is a checkpoint.Opt and a
// checkpoint.WALOpt), and one that does not apply to a constructor does not
// compile there. Each option's doc states its default and its valid values.
// A choice between two modes is a named value, never a boolean positional
// parameter: [Ascending] or [Descending], [WithReplacement] or
// [WithoutReplacement].
//
// Shuffle outputs belong to the job that computed them; [RDD.Persist] keeps
// a node's computed partitions for later jobs (windows over past batches
// need this).
//
// # Profiling
//
// Every task runs under runtime/pprof.Do with the labels [LabelOperator] (its
// stage: a shuffle's map side by its wide operator, the result stage by the
// action, or by the operator label the action's context carries) and
// [LabelPartition], on top of the labels of the action's context, so that a
// CPU profile splits by stage and partition:
//
//	go tool pprof -tags cpu.out
//	go tool pprof -tagfocus operator=rdd.ReduceByKey cpu.out
//
// Narrow operators are fused into the tasks of their stage, so their cost is
// that stage's. The labels cost each task about 0.3µs and three allocations;
// nothing is added per element.
//
// # Memory
//
// Half of the [Engine]'s [MemoryBudget] bounds its shuffles: each running
// task may hold an equal share of it in shuffle records (map-side buckets
// and combine tables, reduce-side merge tables, SortBy's sort buffers),
// beyond which it spills them to files under [SpillDir] and merges them back
// when it reads. A reduce partition that spilled comes
// out in key hash order (SortBy: sorted) rather than first-seen order. A
// job's spill files are deleted when its action returns, however it ends; a
// spill file that cannot be written or read fails the task with a
// [*TaskError] wrapping a *shuffle.SpillError that names it.
//
// # Inside a partition
//
// Within a task, elements are pushed: each operator computes its partition
// by calling the function of its consumer (the next operator, or the
// action) with each element, and learns from its result whether the
// consumer wants more. User code that works on whole partitions follows the
// same convention, that of package iter: [MapPartitions], [ZipPartitions],
// [ZipPartitionsN] and [Generate] hand their function the input partitions
// as iter.Seq values, which can be ranged over once and only during the
// call ([ForeachPartition] too), and a yield func(U) bool for the output.
// yield returns false when no more is wanted: the consumer has stopped
// ([Take], [First] and [IsEmpty] stop once they have enough) or the action
// is cancelled (checked every 1024 elements). The function should then
// return; its input iterators end too, and what it yields after that is
// dropped. [FlatMapYield]'s function, the same form for one element at a
// time, and [FlatMapSeq]'s iterators get a yield too, which says false when
// the consumer has stopped; cancellation is checked between their
// parent's elements. Nothing is lost to an
// early stop: a partition is cut short only for a consumer that asked for
// no more, and a cancelled action fails with the context's error whatever
// the function returns. A panic in any of these functions, before, between
// or after its yields, is reported under its own operator's name.
//
// The function gets yield rather than returning an iter.Seq of its output
// (Spark's mapPartitions returns an Iterator) because the engine already
// pushes: calling the consumer through yield costs one call per element
// and no goroutine. A returned iter.Seq would be ranged over by the engine
// in the same way, but it has no place for an error but one per element
// (iter.Seq2[U, error]), and the function's set-up and clean-up (a
// connection per partition, closed by a defer) would have to move inside
// the closure it returns, where a defer in the function itself runs too
// early. Turning the push into a pull (iter.Pull) would cost a coroutine
// switch per element; code that needs its inputs in lockstep can pull one
// of them itself (see the ZipPartitions example).
//
// Slices passed to Parallelize and FromPartitions are not copied: they
// must not change while a job reads them (an aggregating shuffle over one
// refers to its records until the job ends).
package rdd
