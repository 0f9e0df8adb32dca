// Command broker runs Spate's in-process Kafka broker (package kafkatest, franz-go's
// kfake) as a standalone server on 127.0.0.1, until interrupted, so that kcat or any
// Kafka client can be used against it by hand:
//
//	go run ./examples/broker -port 9092 -topics events:4,logs:1
//	kcat -b 127.0.0.1:9092 -L
//	echo hello | kcat -P -b 127.0.0.1:9092 -t events
//	go run ./examples/directkafkawordcount -brokers 127.0.0.1:9092 -topics events
//
// With -data DIR the topics, records and committed offsets are kept in DIR and found
// again by the next run on it.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spatedev/spate/source/kafka/kafkatest"
)

func main() {
	port := flag.Int("port", 9092, "port to listen on (127.0.0.1)")
	topics := flag.String("topics", "", "topics to create, as name:partitions, comma-separated")
	autoCreate := flag.Int("autocreate", 0, "create unknown topics on first use with this many partitions (0: off)")
	data := flag.String("data", "", "directory to keep the data in across runs (default: memory only)")
	flag.Parse()
	if err := run(*port, *topics, *autoCreate, *data); err != nil {
		slog.Error("broker failed", "error", err)
		os.Exit(1)
	}
}

func run(port int, topics string, autoCreate int, data string) error {
	opts := []kafkatest.Opt{kafkatest.Ports(port)}
	if topics != "" {
		for _, t := range strings.Split(topics, ",") {
			name, n, ok := strings.Cut(t, ":")
			parts, err := strconv.Atoi(n)
			if !ok || err != nil || name == "" {
				return fmt.Errorf("-topics: %q is not name:partitions", t)
			}
			opts = append(opts, kafkatest.Topic(name, parts))
		}
	}
	if autoCreate > 0 {
		opts = append(opts, kafkatest.AutoCreate(autoCreate))
	}
	if data != "" {
		opts = append(opts, kafkatest.DataDir(data))
	}
	b, err := kafkatest.Start(opts...)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Printf("Kafka broker listening on %s (interrupt to stop)\n", strings.Join(b.Addrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("stopping")
	return nil
}
