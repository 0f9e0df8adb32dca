package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// CreateRDD returns an RDD of the records of the given offset ranges, for batch jobs
// (Spark's KafkaUtils.createRDD): partition i reads ranges[i], when an action runs, with
// cl. It checks the ranges now: each must lie within its partition's log, from its
// first offset still there to its end (the high watermark); a range past the end, or
// starting below the log's start, is an error naming it. Records are deserialized with
// keys and values.
func CreateRDD[K, V any](ctx context.Context, cl *Client, eng *rdd.Engine, ranges []OffsetRange, keys Deserializer[K], values Deserializer[V]) (*rdd.RDD[Record[K, V]], error) {
	if cl == nil || keys == nil || values == nil {
		return nil, fmt.Errorf("kafka.CreateRDD: %w: nil client or deserializer", dstream.ErrInvalid)
	}
	var tps []TopicPartition
	for _, r := range ranges {
		if r.From < 0 || r.Until < r.From {
			return nil, fmt.Errorf("kafka.CreateRDD: %w: range %v", dstream.ErrInvalid, r)
		}
		if tp := r.TopicPartition(); !slices.Contains(tps, tp) {
			tps = append(tps, tp)
		}
	}
	b, err := cl.offsets(ctx, nil, tps)
	if err != nil {
		return nil, fmt.Errorf("kafka.CreateRDD: %w", err)
	}
	for _, r := range ranges {
		pb := b[r.TopicPartition()]
		switch {
		case r.Until > pb.end:
			return nil, fmt.Errorf("kafka.CreateRDD: range %v goes past the end of the partition (%d)", r, pb.end)
		case r.From < pb.first && r.Count() > 0:
			return nil, fmt.Errorf("kafka.CreateRDD: %w", &DataLossError{Topic: r.Topic, Partition: r.Partition, From: r.From, Until: min(pb.first, r.Until), While: fmt.Sprintf("checking range %v", r)})
		}
	}
	ranges = slices.Clone(ranges)
	return rdd.Generate(eng, "kafka.CreateRDD", len(ranges), func(ctx context.Context, p int, yield func(Record[K, V]) bool) error {
		return readRecords(ctx, cl, nil, ranges[p], keys, values, nil, yield)
	}), nil
}
