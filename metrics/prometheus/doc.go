// Package prometheus exposes a running dstream.Context's metrics to Prometheus: New
// returns a prometheus.Collector fed by the Context's listener events, which you
// register on your registry and serve with promhttp. Spate's core does not import
// client_golang; only this package does.
//
//	import spateprom "github.com/spatedev/spate/metrics/prometheus"
//
//	col := spateprom.New(ssc) // ssc: the *dstream.Context
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(col)
//	stream := kafka.NewDirectStream(ssc, strategy, keys, values, kafka.OnCommit(col.Committed), …)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Metrics
//
// Names and units follow Prometheus's conventions: base units (seconds, records),
// counters end in _total, timestamps are seconds since the Unix epoch.
//
// Batches (from dstream.BatchInfo, as each batch completes):
//
//	spate_batches_total{status}                   counter: batches completed, status "completed" or "failed"
//	spate_input_records_total{input}              counter: records read by the batches completed without error, per input stream
//	                                              (its name#id, as in BatchInfo.Inputs; an input that cannot count has none)
//	spate_batch_processing_seconds                histogram: processing time (ProcessingDelay)
//	spate_batch_scheduling_delay_seconds          histogram: time queued before processing (SchedulingDelay)
//	spate_batch_total_delay_seconds               histogram: the two together (TotalDelay)
//	spate_active_batches{state}                   gauge: batches "queued" (generated, not started) and "processing"
//	spate_last_batch_timestamp_seconds            gauge: batch time of the last batch completed without error
//	spate_input_unavailable{input}                gauge: 1 if the input could not read all it should for the last batch
//	spate_state_keys{state}                       gauge: keys held per named stateful stream (see dstream.Named) after the last batch
//	spate_checkpoint_write_seconds                histogram: time to write a batch's checkpoint (CheckpointDuration)
//	spate_checkpoint_failures_total               counter: batches whose checkpoint could not be written
//
// The three batch histograms have, by default, buckets at the batch interval times
// 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5 and 10 (see DelayBuckets):
// the bucket le="<interval>" counts the batches that kept up with the stream, and
// histogram_quantile answers how close the job is to falling behind whatever its
// interval. spate_checkpoint_write_seconds uses prometheus.DefBuckets (5ms to 10s).
// The histograms count every batch completed, failed ones included.
//
// Kafka (from dstream.InputInfo.Partitions of the last batch completed without error,
// and from kafka.OnCommit):
//
//	spate_kafka_lag_records{input,topic,partition}                   gauge: records left to read after the batch (PartitionInfo.Lag)
//	spate_kafka_rate_limit_records_per_second{input,topic,partition} gauge: the rate limit that held the batch back (none when not limited)
//	spate_kafka_committed_offset{group,topic,partition}              gauge: last offset the group committed (the next to read)
//
// The lag carries the input label as well as topic and partition, so that two streams
// reading one topic (in two groups) are two series. A batch produced again from a
// checkpoint does not know the log's end: the partition keeps its previous lag, or
// has none yet. Committed offsets are heard only if the streams are given
// kafka.OnCommit(col.Committed): every commit that succeeded, by CommitAsync, in a
// batch's transaction (keyed streams with changelogs, transactional sinks) or by a
// receiver stream.
//
// Series of partitions no longer read do not linger: each batch completed without
// error replaces an input's lag and rate-limit series by those of the partitions the
// batch read, so the partitions a rebalance gave to another member (or of a deleted
// topic) lose theirs at the next batch, and their committed-offset series (whichever
// group) go with them — another member commits them now. While a stream cannot read
// at all (brokers unreachable, the group rebalancing), its batches read no partition:
// its partitions have no lag series, and spate_input_unavailable is 1. Committed
// offsets of partitions no batch reads (a receiver stream's) stay until the process
// ends.
//
// Long work (from dstream.Progress, while it runs; the series are removed when it is
// done, whether it succeeded or failed):
//
//	spate_progress_completed{op,subject,unit}  gauge: units done (Progress.Completed)
//	spate_progress_target{op,subject,unit}     gauge: units to do, when known (Progress.Total)
//	spate_progress_ratio{op,subject}           gauge: completed / target, 0 to 1, when the target is known
//
// op names the work ("kafka.restore", "dstream.catchup"), subject what it works on;
// rate(spate_progress_completed[1m]) is its pace.
//
// # Several Contexts
//
// A Collector reports one Context. The Collectors of several Contexts in one process
// register on one registry only with ConstLabels that tell them apart (say
// {"job_name": "orders"}): otherwise the registry refuses the second as a duplicate.
//
// Spark Streaming's metrics (its StreamingSource, through Spark's metrics system) say
// the last batch's delays and the batches waiting and running, as gauges; they have
// no histograms, no consumer lag and no committed offsets. Here all are Prometheus
// metrics of the process that runs the job.
package prometheus
