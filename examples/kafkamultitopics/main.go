// Command kafkamultitopics follows the seeds' KafkaMultiTopics: one receiver-based
// Kafka stream per topic of -topics (comma-separated), each with -parallelism
// receivers, unioned into one stream: the seeds' way of receiving in parallel with
// several receivers. Its flags and output are kafkasingletopic's.
//
// Usage:
//
//	go run ./examples/kafkamultitopics -topics a,b -duration 10s
//	go run ./examples/kafkamultitopics -brokers localhost:9092 -topics a,b -wal /tmp/wal -out /tmp/seen
package main

import "github.com/spatedev/spate/examples/internal/receiverdemo"

func main() {
	receiverdemo.Main("kafkamultitopics", receiverdemo.Flags("logs,metrics", "spate-kafkamultitopics"), true)
}
