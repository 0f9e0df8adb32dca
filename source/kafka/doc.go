// Package kafka reads Apache Kafka topics as DStreams (package dstream), like Spark
// Streaming's Kafka integration, using the kafka-go client, and writes DStreams to
// Kafka.
//
// # Direct stream
//
// NewDirectStream is Spark's createDirectStream and uses no receivers. Every batch, for
// each assigned partition, the stream asks Kafka for the partition's end offset (one
// ListOffsets request for all partitions) and defines the offset range [from, until) of
// the batch: from where the previous batch stopped to the end, capped by rate control.
// The batch RDD has exactly one partition per range (1:1), each read when an action
// runs, with fetches over connections kept for the stream's life; the engine reads
// partitions in parallel. An empty range is an empty partition, never a wait. Ranges
// follow each other with no gap or overlap, also across rebalances (a partition kept
// continues where it was) and restarts (a partition new to the stream starts at its
// committed offset).
//
//	stream := kafka.NewDirectStream(ssc, kafka.Subscribe("events"),
//		kafka.StringDeserializer(), kafka.JSONDeserializer[Event](),
//		kafka.Brokers("localhost:9092"), kafka.GroupID("my-job"))
//	counts := dstream.ReduceByKey(dstream.Map(stream.Stream(), byUser), ops.Sum[int])
//
// # Offset ranges and commits live on the stream, not on RDDs
//
// In Spark, offset ranges are reached by casting a batch RDD to HasOffsetRanges, which
// fails at run time after any transformation. Here the type system says where they are:
// only DirectStream.ForeachBatch hands out a Batch, with the RDD and its Ranges (RDD
// partition i holds Ranges[i]), and only DirectStream has CommitAsync. Stream returns a
// plain *dstream.DStream for transformations, which carries no offsets. Narrow operators
// (Map, Filter, MapPartitions, …) keep RDD partition i = range i; shuffles
// (ReduceByKey, Repartition, joins, windows) do not, and nothing pretends otherwise.
//
// # Consumer strategies and starting offsets
//
// Subscribe reads topics as a member of a consumer group (kafka-go's ConsumerGroup), so
// several processes with one GroupID share the partitions and rebalance when members
// come and go or partitions are added; between generations the stream's batches are
// empty, and their dstream.InputInfo.Unavailable says the group is rebalancing.
// SubscribePattern subscribes to the topics whose whole name matches a regular
// expression (anchored at both ends, as in Kafka and Spark: `logs-.*` for a prefix),
// looked up every MetadataRefresh. Assign reads a fixed set of partitions, optionally
// from given offsets; a partition that does not exist makes Run fail at start.
//
// A partition with no given or committed offset starts where OffsetReset says: the
// latest offset (the default), the earliest, or none (the first batch fails, and Run
// with it, naming the partition).
// Latest is the partition's end when the stream starts (Assign) or when the group
// assigns the partition (Subscribe, during Run's start for the first assignment), as
// Spark fixes positions in its start(): records produced after that are read by the
// first batch, not skipped because the first batch came later. Earliest is resolved
// when the first batch is planned, so records deleted by retention meanwhile are not
// reported lost.
//
// A topic given to Subscribe that does not exist is warned about once per
// MetadataRefresh, naming it; the stream reads the other topics without churning the
// group, joins again when the topic is created, and fails the batch after
// MissingTopicTimeout (default one minute) with an error wrapping ErrMissingTopic,
// unless WaitForTopics(true) says to wait for it however long it takes. Spark (the
// Kafka consumer) waits silently.
//
// # Storing offsets
//
// As in Spark, in order of increasing reliability: in checkpoints (package checkpoint);
// in Kafka, with CommitAsync after the batch's output (commits are made in order by one
// goroutine, retried when the error is retriable, and a graceful stop commits what is
// queued before Run returns, which Spark lost: SPARK-20050); or in your own
// transactional store in the same transaction as the results, for exactly-once output.
// Nothing is ever committed by the stream itself, so nothing is committed before it has
// been output.
//
// # Rate control
//
// MaxRatePerPartition caps each range to rate × batch seconds, and
// MaxRatePerPartitionFunc gives each partition its own cap (Spark's
// PerPartitionConfig); MinRatePerPartition is the least a limit allows, as a rate
// (Spark's code takes it as records per batch); InitialRate limits the first batch.
// With Backpressure, a PID rate estimator (Spark's, with its defaults: proportional 1,
// integral 0.2, derivative 0, minimum 100 records/s) fed by each batch's processing
// and scheduling delay sets the rate, which is split across partitions in proportion
// to their lag, so a lagging partition is not starved.
//
// # Options
//
// Each constructor takes options of its own type, as franz-go's kgo types its
// options: NewDirectStream takes StreamOpts, NewReceiverStream ReceiverOpts,
// NewClient ClientOpts, NewSink and WriteToKafka SinkOpts, Repartition
// RepartitionOpts. An option's type satisfies the interfaces of the constructors it
// has an effect on, so an option that would have none does not compile (a rate on a
// Client, a block interval on a direct stream, RequiredAcks on a stream):
//
//	option type     NewDirectStream  NewReceiverStream  NewClient  NewSink  Repartition
//	CommonOpt       yes              yes                yes        yes      yes
//	ReadOpt         yes              yes                yes        -        yes
//	GroupOpt        yes              yes                -          -        yes
//	IsolationOpt    yes              yes                yes        -        -
//	ResetOpt        yes              yes                -          -        -
//	DirectOpt       yes              -                  -          -        yes
//	StreamOpt       yes              -                  -          -        -
//	ReceiverOpt     -                yes                -          -        -
//	SinkOpt         -                -                  -          yes      -
//	RepartitionOpt  -                -                  -          -        yes
//
// Brokers, ClientID, TLS, SASL, PollTimeout, UnavailableTimeout and WithLogger are
// CommonOpts; Repartition reads its topic read_committed from the earliest offset,
// so it takes neither Isolation nor OffsetReset. An option value is a plain value:
// give the same one to a stream and to a sink (brokers := kafka.Brokers(addrs...)).
// Each option's doc states its default and the values it accepts; any other value
// is an error of the constructor, never ignored nor clamped: NewClient returns it,
// and a stream or a sink reports it to its Context (dstream.Context.ReportInvalid),
// whose Run then fails before the first batch with an error wrapping
// dstream.ErrInvalid that names the constructor, the option and the value. A nil
// option is skipped.
//
// # Faults and bad input
//
// Requests are bounded by PollTimeout and retried with backoff when the error is
// retriable (not the leader, a moved leader, stale metadata, a broken connection,
// UNKNOWN_SERVER_ERROR, which kafka-go also reports for a request that failed in
// transit); stale metadata also renews the connections, whose cached metadata kafka-go
// does not refresh otherwise. Brokers that cannot be reached when Run starts and
// invalid option values make Run fail before the first batch, naming them; so does a
// consumer group error that retrying cannot fix (an invalid session timeout, an
// unauthorized group), which fails the batch if it comes later. An invalid option or
// argument (an empty topic, a nil serializer) is an error wrapping
// dstream.ErrInvalid; a sink or stream built with one reports it through
// dstream.Context.ReportInvalid, so that Run fails before the first batch.
//
// Once running, Subscribe and Assign follow one outage policy. When the offsets cannot
// be looked up (brokers down) or the group assigns nothing (rebalancing, or never
// settling), the batch reads nothing, its positions unchanged so nothing is skipped,
// and its dstream.InputInfo.Unavailable, which listeners see, says why and names the
// brokers; the lookup is tried again at later batches with backoff. A warning is
// logged when this starts, then at most every 30 seconds, and an info when the stream
// reads again. After UnavailableTimeout (default five minutes) the batch fails with
// an error wrapping ErrUnavailable and naming the brokers and the partitions. The
// fetches of a batch already planned are retried through an outage for up to
// UnavailableTimeout: a fetch that still fails fails the batch with an error naming
// the topic, partition and range, and the Context stops: nothing later is committed.
// Spark has no such policy of its own: it relies on the Kafka consumer's timeouts.
//
// Offsets deleted by retention before they were read fail the batch with a
// *DataLossError naming the partition and the offsets (errors.Is(err, ErrDataLoss)),
// or with FailOnDataLoss(false) are skipped with a warning and counted (LostRecords). A
// record whose key or value cannot be deserialized fails the batch naming its topic,
// partition and offset, unless a DeserializeErrorHandler skips it. After Stop, a
// failed request is not retried, so a broker that stopped answering holds Run up for
// one PollTimeout at most.
//
// # Batch jobs and the sink
//
// CreateRDD is Spark's createRDD: an RDD over given offset ranges, checked against the
// log first, read with a Client. NewSink, which Spark's DStream API does not have, is
// an output operation writing records with their own topic, key, headers and timestamp
// through one franz-go producer kept for the length of Run (kafka-go has no
// transactional producer; with Transactional the records go in each batch's
// transaction), acknowledged by every in-sync replica by default; a failed write fails
// the batch (at least once). WriteToKafka is NewSink for a DStream of pairs and one
// topic.
//
// # Scaling out
//
// Several processes with one GroupID under Subscribe share a job the way Kafka Streams
// does, with Kafka as the only coordinator; the README's "Scaling out" section has the
// whole design, its guarantees and its measures. A task is a partition number of a
// stream's co-partitioned topics, owned whole by one member (a sticky group balancer).
// A keyed stream (Keyed: the record key, checked against Kafka's default partitioner,
// murmur2) carries a task partitioner, so keyed and stateful operators over it work per
// task without a shuffle and keep one state store per task: UpdateStateByKey,
// MapWithState and the windowed reduces (whose entries then hold each key's values of
// the window's batches, so that a window goes on in the process that gains its task).
// Re-keying goes through an internal repartition topic (Repartition). Each store's
// changes go to a compacted changelog topic, in one kgo transaction with the batch's
// source offsets (and, with Transactional, its output and repartition records), so a
// restored state is the state after the last committed batch; a member restores a
// task's stores from the changelog (or a local copy, StateDir, and the changelog
// records after it) before it processes the task, and a zombie is fenced by the group
// generation in TxnOffsetCommit. Such a stream resumes from its group and changelogs,
// never from a checkpoint: a Context with a checkpoint directory is refused. A task's
// restore reports its progress ("kafka.restore", in records of the local copy and the
// changelog, the latter counted by offset) to the Context's listeners and log (see
// dstream.Progress), and calls OnRestore when it ends.
//
// # Receiver stream
//
// The receiver-based stream (Spark's older approach) is one member of a consumer group
// whose receivers fetch the partitions assigned to it and push blocks of records. With
// the write-ahead log (package checkpoint) enabled, a block is durable in the log before
// its offsets are committed, so a crash loses nothing; started again after a crash, the
// stream removes from the group the member its crash left, so the group does not wait
// for its session to time out. A log that cannot be written (a full disk), like brokers
// that cannot be reached, is retried and reported to listeners until
// UnavailableTimeout, then fails the stream.
//
// Package kafkatest starts an in-process Kafka-protocol broker on loopback, with fault
// injection (failing or hanging requests, moving leaders, retention, stopping and
// restarting the whole cluster), for tests and examples; examples/broker serves it to
// external clients such as kcat.
package kafka
