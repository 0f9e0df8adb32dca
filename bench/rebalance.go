package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// memberFlag is the hidden flag that makes this binary a member of the rebalance
// benchmark's group: -member <brokers>,<group>.
const memberFlag = "member"

// rebalanceSession is the members' session timeout: a member SIGKILLed holds its
// partitions that long.
const rebalanceSession = 2 * time.Second

// rebalanceBench measures the pause a rebalance costs a keyed stateful job: two
// processes of one group share the 4 partitions of a topic (a keyed stream with an
// UpdateStateByKey over it, 100ms batches); one is SIGKILLed; the pause is the time
// from the kill to the output of the survivor's first batch over all 4 partitions
// (its tasks' state restored from their changelogs and updated by then). It prints
//
//	rebalance: pause_ms=<median> min_ms=<ms> max_ms=<ms> session_ms=<the session timeout> rounds=<n>
//
// The pause cannot be shorter than the session timeout: the group learns of a
// death when the member's session expires.
func rebalanceBench(scale float64, rounds int) (string, error) {
	b, err := kafkatest.Start(kafkatest.Topic("events", 4), kafkatest.MinSessionTimeout(time.Second))
	if err != nil {
		return "", err
	}
	defer b.Close()
	var msgs []kafkatest.Message
	for i := range max(int(10_000*scale), 100) {
		msgs = append(msgs, kafkatest.Message{Partition: i % 4, Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	var pauses []time.Duration
	for round := range max(rounds, 1) {
		// Keys produced by partition number, not murmur2: the members trust it.
		if err := b.Produce(context.Background(), "events", msgs...); err != nil {
			return "", err
		}
		group := fmt.Sprintf("rebalance-%d", round)
		start := func() (*exec.Cmd, *bufio.Scanner, error) {
			cmd := exec.Command(os.Args[0], "-"+memberFlag, strings.Join(b.Addrs(), ",")+","+group)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				return nil, nil, err
			}
			if err := cmd.Start(); err != nil {
				return nil, nil, err
			}
			return cmd, bufio.NewScanner(out), nil
		}
		// await reads lines until one says the member owns want partitions.
		await := func(sc *bufio.Scanner, want int) error {
			for sc.Scan() {
				if sc.Text() == fmt.Sprintf("owned %d", want) {
					return nil
				}
			}
			return fmt.Errorf("rebalance: a member ended before owning %d partitions (%v)", want, sc.Err())
		}
		a, aOut, err := start()
		if err != nil {
			return "", err
		}
		if err := await(aOut, 4); err != nil {
			return "", err
		}
		survivor, sOut, err := start()
		if err != nil {
			a.Process.Kill()
			return "", err
		}
		err = await(aOut, 2)
		if err == nil {
			err = await(sOut, 2)
		}
		if err != nil {
			a.Process.Kill()
			survivor.Process.Kill()
			return "", err
		}
		killed := time.Now()
		_ = a.Process.Signal(syscall.SIGKILL)
		_ = a.Wait()
		err = await(sOut, 4)
		pauses = append(pauses, time.Since(killed))
		_ = survivor.Process.Signal(syscall.SIGTERM)
		_ = survivor.Wait()
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("rebalance: pause_ms=%.0f min_ms=%.0f max_ms=%.0f session_ms=%d rounds=%d",
		ms(median(pauses)), ms(slicesMin(pauses)), ms(slicesMax(pauses)), rebalanceSession.Milliseconds(), len(pauses)), nil
}

func slicesMin(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func slicesMax(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// memberMain runs one member of the rebalance benchmark's group until SIGTERM,
// printing "owned <n>" at the end of its first batch over n partitions after each
// change of its assignment.
func memberMain(spec string) error {
	i := strings.LastIndexByte(spec, ',')
	brokers, group := strings.Split(spec[:i], ","), spec[i+1:]
	c := dstream.NewContext(dstream.BatchInterval(100*time.Millisecond), dstream.StopGracefullyOnShutdown(),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
	s := kafka.NewDirectStream(c, kafka.Subscribe("events"), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(brokers...), kafka.GroupID(group), kafka.OffsetReset(kafka.Earliest),
		kafka.SessionTimeout(rebalanceSession), kafka.UnavailableTimeout(time.Hour))
	counts := dstream.UpdateStateByKeyWith(kafka.Keyed(s, kafka.StringSerializer(), kafka.TrustPartitioning()), dstream.UpdateSpec[string, string, int]{
		OnlyValues: true,
		Func: func(_ time.Time, _ string, vs []string, st ops.Maybe[int]) ops.Maybe[int] {
			return ops.Some(st.Value + len(vs))
		},
	})
	owned := -1
	s.ForeachBatch(func(_ context.Context, b kafka.Batch[string, string]) error {
		if n := len(b.Ranges); n > 0 && n != owned {
			owned = n
			fmt.Printf("owned %d\n", n)
		}
		return nil
	})
	dstream.ForeachRDD(counts, func(ctx context.Context, r *rdd.RDD[ops.KV[string, int]], _ time.Time) error {
		_, err := rdd.Count(ctx, r)
		return err
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT)
	defer stop()
	return c.Run(ctx)
}
