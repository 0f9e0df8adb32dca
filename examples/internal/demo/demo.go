// Package demo is what the examples share: an in-process broker that generated
// sentences are produced into (their embedded default).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// Words is the vocabulary of the generated sentences.
var Words = strings.Fields("the a stream of records flows through kafka into spate and every batch counts words " +
	"while offsets move on commit after output exactly once at least once partition range broker topic")

// Produce writes sentences of 8 words drawn Zipf-like from Words to topic, spread
// over its partitions, n every 100ms, until the returned function is called.
func Produce(ctx context.Context, b *kafkatest.Broker, topic string, partitions, n int) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		z := rand.NewZipf(rng, 1.2, 1, uint64(len(Words)-1))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			msgs := make([]kafkatest.Message, n)
			for j := range msgs {
				var s strings.Builder
				for k := range 8 {
					if k > 0 {
						s.WriteByte(' ')
					}
					s.WriteString(Words[z.Uint64()])
				}
				msgs[j] = kafkatest.Message{Partition: i % partitions, Value: []byte(s.String())}
				i++
			}
			if err := b.Produce(ctx, topic, msgs...); err != nil && !errors.Is(err, context.Canceled) {
				slog.Warn("producing failed", "error", err)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// Broker starts an in-process broker with topics (partitions each), keeping its data
// in dataDir if not "", and produces generated sentences into every topic. It prints
// where it listens to out. stop stops producing and closes the broker.
func Broker(ctx context.Context, out io.Writer, topics []string, partitions int, dataDir string) (addrs string, stop func(), err error) {
	return BrokerWith(ctx, out, topics, nil, partitions, dataDir)
}

// BrokerWith is Broker with more topics, quiet, into which nothing is produced (an
// example's output topics).
func BrokerWith(ctx context.Context, out io.Writer, topics, quiet []string, partitions int, dataDir string) (addrs string, stop func(), err error) {
	opts := []kafkatest.Opt{}
	for _, t := range append(slices.Clone(topics), quiet...) {
		opts = append(opts, kafkatest.Topic(t, partitions))
	}
	if dataDir != "" {
		opts = append(opts, kafkatest.DataDir(dataDir))
	}
	b, err := kafkatest.Start(opts...)
	if err != nil {
		return "", nil, err
	}
	addrs = strings.Join(b.Addrs(), ",")
	fmt.Fprintf(out, "started an in-process Kafka broker at %s with topics %v (%d partitions each)\n", addrs, topics, partitions)
	var stops []func()
	for _, t := range topics {
		stops = append(stops, Produce(ctx, b, t, partitions, 200))
	}
	return addrs, func() {
		for _, s := range stops {
			s()
		}
		b.Close()
	}, nil
}
