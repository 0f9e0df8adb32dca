// Package kafka reads Apache Kafka topics as DStreams (package dstream), like Spark
// Streaming's Kafka integration, using the kafka-go client.
//
// # Direct stream
//
// The direct stream is the default and uses no receivers. Every batch, for each assigned
// partition, it asks Kafka for the latest offset and defines the offset range
// [from, until) of that batch, capped by rate control. The batch RDD has exactly one
// partition per Kafka partition (1:1), and the partitions are read in parallel.
//
// A batch's offset ranges are reachable only from the Kafka stream's own batches, and so
// is committing them: the methods exist only on the stream and on its batch type, so the
// type system, not a runtime cast that fails after a shuffle, says where they are
// available. Narrow operators keep the 1:1 mapping (partition i still holds only Kafka
// partition i's records); shuffle operators drop it, and any API that maps a partition
// index back to an offset range says so.
//
// # Consumer strategies and starting offsets
//
// Subscribe reads topics as a member of a consumer group, so several processes share the
// partitions and rebalance; SubscribePattern subscribes to the topics matching a regular
// expression and picks up new topics and partitions; Assign reads a fixed set of
// partitions, optionally from given offsets. Where nothing is committed, a stream starts
// at the earliest offset, at the latest, or fails, as configured.
//
// # Offsets and delivery
//
// Offsets can be stored, in order of increasing reliability: in the checkpoint (package
// checkpoint); in Kafka, with CommitAsync after the batch's output; or in the user's own
// transactional store together with the results, for exactly-once output. Nothing is
// ever committed before it has been output. Offsets lost to retention are an error by
// default (fail on data loss), or are skipped with a warning and a counter when so
// configured.
//
// # Rate control
//
// The records read per partition per second are bounded by a maximum and a minimum, start
// at an initial rate, and with backpressure follow a PID rate estimator fed by each
// batch's processing delay, as in Spark.
//
// # Receiver stream
//
// The receiver-based stream (Spark's older approach) runs consumer-group readers that
// push blocks of records. With the write-ahead log (package checkpoint) enabled, a block
// is durable in the log before its offsets are committed, so a crash loses nothing.
//
// Package source/kafka/kafkatest starts an in-process Kafka-protocol broker on loopback
// for tests and examples.
package kafka
