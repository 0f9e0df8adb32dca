// This program must not compile: offset ranges and commits exist only on the Kafka
// stream and its batches, not on a transformed stream (see TestOffsetsAreOnlyOnTheSourceStream).
package main

import (
	"context"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
)

func main() {
	ssc := dstream.NewContext(dstream.BatchInterval(time.Second))
	s := kafka.NewDirectStream(ssc, kafka.Subscribe("t"), kafka.StringDeserializer(), kafka.StringDeserializer())
	values := dstream.Map(s.Stream(), func(r kafka.Record[string, string]) string { return r.Value })
	dstream.ForeachRDD(values, func(ctx context.Context, r *rdd.RDD[string], t time.Time) error {
		_ = r.Ranges // want: r.Ranges undefined
		return nil
	})
	values.ForeachBatch(nil)     // want: values.ForeachBatch undefined
	values.CommitAsync(nil, nil) // want: values.CommitAsync undefined
}
