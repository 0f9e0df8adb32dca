// Command kafkasingletopic follows the seeds' KafkaSingleTopic: a receiver-based Kafka
// stream (kafka.NewReceiverStream, Spark's createStream) reading one topic with
// -parallelism receivers (consumer goroutines: more of them receive faster, but do not
// process in parallel), as a member of -group.
//
// With -wal DIR the Context checkpoints into DIR and every received block is in a
// write-ahead log, fsynced, before its offsets are committed: killed at any moment
// and started again with the same -wal, it loses no record (some may be processed
// twice: at least once). With -out FILE every processed record appends a line
// "<topic> <partition> <offset>" to FILE, flushed and fsynced at the end of each batch,
// so that delivery can be audited. With no -brokers it starts an in-process broker and
// produces generated sentences; a group with nothing committed starts at the earliest
// offsets. Its last line is
//
//	summary records=<records processed> batches=<batches>
//
// It serves the job's live page (package dstream/ui) and pprof (/debug/pprof/) on
// -http, by default on a free port of 127.0.0.1 ("" turns it off), and prints the
// page's URL as it starts, as a line "ui: http://127.0.0.1:<port>/".
//
// Usage:
//
//	go run ./examples/kafkasingletopic -duration 10s
//	go run ./examples/kafkasingletopic -brokers localhost:9092 -topics events -wal /tmp/wal -out /tmp/seen
package main

import "github.com/spatedev/spate/examples/internal/receiverdemo"

func main() {
	receiverdemo.Main("kafkasingletopic", receiverdemo.Flags("events", "spate-kafkasingletopic"), false)
}
