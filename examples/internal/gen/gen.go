// Package gen produces generated sentences into an in-process Kafka broker, for the
// examples' embedded default.
package gen

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
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
