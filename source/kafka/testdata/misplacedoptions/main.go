// This program must not compile: an option compiles only on the constructors it
// configures (see TestOptionsCompileOnlyWhereTheyApply). Each line marked "want:"
// is a compile error saying what follows; every other line compiles.
package main

import (
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/source/kafka"
)

// homemade tries to be an option made outside the package.
type homemade struct{}

func (homemade) applyStream() {}

func main() {
	ssc := dstream.NewContext(dstream.BatchInterval(time.Second))
	pairs, _ := dstream.QueueStream(ssc, dstream.OneAtATime, []ops.KV[string, string]{})
	recs := dstream.Map(pairs, func(kv ops.KV[string, string]) kafka.ProducerRecord[string, string] {
		return kafka.ProducerRecord[string, string]{Topic: "out", Key: kv.Key, Value: kv.Value}
	})
	de, se, serde := kafka.StringDeserializer(), kafka.StringSerializer(), kafka.StringSerde()
	sub, topics := kafka.Subscribe("in"), map[string]int{"in": 1}

	// The shared options compile everywhere, the others where they apply.
	brokers, logger, poll := kafka.Brokers("b:9092"), kafka.WithLogger(nil), kafka.PollTimeout(time.Second)
	group, fetch := kafka.GroupID("g"), kafka.FetchMaxBytes(1<<20)
	kafka.NewDirectStream(ssc, sub, de, de, brokers, logger, poll, group, fetch, kafka.Isolation(kafka.ReadCommitted),
		kafka.OffsetReset(kafka.Earliest), kafka.MaxRatePerPartition(5), kafka.MissingTopicTimeout(time.Minute))
	kafka.NewReceiverStream(ssc, topics, de, de, brokers, logger, poll, group, fetch, kafka.Isolation(kafka.ReadCommitted),
		kafka.OffsetReset(kafka.Earliest), kafka.BlockInterval(time.Second), kafka.OnCommit(func(kafka.CommitInfo) {}))
	_, _ = kafka.NewClient(brokers, logger, poll, fetch, kafka.Isolation(kafka.ReadCommitted), kafka.FailOnDataLoss(false))
	kafka.NewSink(recs, se, se, brokers, logger, poll, kafka.RequiredAcks(kafka.AcksAll), kafka.Transactional())
	kafka.WriteToKafka(pairs, "out", se, se, brokers, logger, kafka.RequiredAcks(kafka.AcksLeader))
	kafka.Repartition(pairs, "r", serde, serde, brokers, logger, poll, group, fetch, kafka.RepartitionPartitions(3),
		kafka.MaxRatePerPartition(5), kafka.StateDir("/tmp/state"), kafka.SessionTimeout(time.Minute))

	_, _ = kafka.NewClient(brokers, kafka.MaxRatePerPartition(5))                                // want: kafka.DirectOpt does not implement kafka.ClientOpt
	_, _ = kafka.NewClient(brokers, kafka.BlockInterval(time.Hour))                              // want: kafka.ReceiverOpt does not implement kafka.ClientOpt
	_, _ = kafka.NewClient(brokers, kafka.GroupID("g"))                                          // want: kafka.GroupOpt does not implement kafka.ClientOpt
	kafka.NewSink(recs, se, se, brokers, kafka.OffsetReset(kafka.Earliest))                      // want: kafka.ResetOpt does not implement kafka.SinkOpt
	kafka.NewSink(recs, se, se, brokers, kafka.FetchMaxBytes(1))                                 // want: kafka.ReadOpt does not implement kafka.SinkOpt
	kafka.WriteToKafka(pairs, "out", se, se, brokers, kafka.Backpressure(true))                  // want: kafka.DirectOpt does not implement kafka.SinkOpt
	kafka.NewDirectStream(ssc, sub, de, de, brokers, kafka.RequiredAcks(kafka.AcksAll))          // want: kafka.SinkOpt does not implement kafka.StreamOpt
	kafka.NewDirectStream(ssc, sub, de, de, brokers, kafka.Transactional())                      // want: kafka.SinkOpt does not implement kafka.StreamOpt
	kafka.NewDirectStream(ssc, sub, de, de, brokers, kafka.MemoryBudget(1<<20))                  // want: kafka.ReceiverOpt does not implement kafka.StreamOpt
	kafka.NewDirectStream(ssc, sub, de, de, brokers, kafka.RepartitionPartitions(3))             // want: kafka.RepartitionOpt does not implement kafka.StreamOpt
	kafka.NewReceiverStream(ssc, topics, de, de, brokers, kafka.MaxRatePerPartition(5))          // want: kafka.DirectOpt does not implement kafka.ReceiverOpt
	kafka.NewReceiverStream(ssc, topics, de, de, brokers, kafka.WaitForTopics(true))             // want: kafka.StreamOpt does not implement kafka.ReceiverOpt
	kafka.Repartition(pairs, "r", serde, serde, brokers, kafka.OffsetReset(kafka.Latest))        // want: kafka.ResetOpt does not implement kafka.RepartitionOpt
	kafka.Repartition(pairs, "r", serde, serde, brokers, kafka.Isolation(kafka.ReadUncommitted)) // want: kafka.IsolationOpt does not implement kafka.RepartitionOpt
	kafka.Repartition(pairs, "r", serde, serde, brokers, kafka.Transactional())                  // want: kafka.SinkOpt does not implement kafka.RepartitionOpt
	var _ kafka.StreamOpt = kafka.TrustPartitioning()                                            // want: kafka.KeyedOpt does not implement kafka.StreamOpt
	var _ kafka.StreamOpt = homemade{}                                                           // want: homemade does not implement kafka.StreamOpt
}
