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
// and scaleout benchmarks' groups: -member <brokers>,<group>,<topic>.
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
			cmd := exec.Command(os.Args[0], "-"+memberFlag, strings.Join(b.Addrs(), ",")+","+group+",events")
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
			return awaitLine(sc, fmt.Sprintf("owned %d", want))
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

// awaitLine reads sc's lines until one is line.
func awaitLine(sc *bufio.Scanner, line string) error {
	for sc.Scan() {
		if sc.Text() == line {
			return nil
		}
	}
	return fmt.Errorf("a member ended before printing %q (%v)", line, sc.Err())
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
	f := strings.Split(spec, ",")
	if len(f) < 3 {
		return fmt.Errorf("-%s %q: want brokers,group,topic", memberFlag, spec)
	}
	brokers, group, topic := f[:len(f)-2], f[len(f)-2], f[len(f)-1]
	c := dstream.NewContext(dstream.BatchInterval(100*time.Millisecond), dstream.StopGracefullyOnShutdown(),
		dstream.WithEngine(rdd.NewEngine(rdd.Parallelism(2))))
	s := kafka.NewDirectStream(c, kafka.Subscribe(topic), kafka.StringDeserializer(), kafka.StringDeserializer(),
		kafka.Brokers(brokers...), kafka.GroupID(group), kafka.OffsetReset(kafka.Earliest),
		kafka.SessionTimeout(rebalanceSession), kafka.UnavailableTimeout(time.Hour))
	counts := dstream.UpdateStateByKeyWith(kafka.Keyed(s, kafka.StringSerializer(), kafka.TrustPartitioning()), dstream.NewUpdateSpec(func(_ time.Time, _ string, vs []string, st ops.Maybe[int]) ops.Maybe[int] {
		return ops.Some(st.Value + len(vs))
	}).OnlyValues())
	owned := -1
	var read int64
	s.ForeachBatch(func(_ context.Context, b kafka.Batch[string, string]) error {
		if n := len(b.Ranges); n > 0 && n != owned {
			owned = n
			fmt.Printf("owned %d\n", n)
		}
		n := int64(0)
		for _, r := range b.Ranges {
			n += r.Count()
		}
		if n > 0 {
			read += n
			fmt.Printf("read %d\n", read)
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

// scaleoutBench measures a keyed stateful job's throughput with one process, then
// with two of one group (on this 2-core machine the second process competes for
// the same cores, and with the broker: the line reports, it does not promise,
// scaling). Each run is a new group on a new topic of 4 partitions; once every
// member owns its share, 400k records are produced (4 producers at once, the same
// for every run), and the rate is the records over the time from the first
// produced to the last read. It prints
//
//	scaleout: records=<n> p1=<Mrec/s, one process> p2=<Mrec/s, two processes> ratio=<p2/p1> produce=<Mrec/s producing alone>
//
// produce, the rate of the producers with no reader, bounds both.
func scaleoutBench(scale float64, rounds int) (string, error) {
	n := max(int(400_000*scale), 1000)
	b, err := kafkatest.Start(kafkatest.MinSessionTimeout(time.Second))
	if err != nil {
		return "", err
	}
	defer b.Close()
	// produce writes n keyed records to a new topic of 4 partitions, a quarter
	// to each, from 4 goroutines.
	produce := func(topic string) error {
		errs := make(chan error, 4)
		for p := range 4 {
			go func() {
				msgs := make([]kafkatest.Message, 0, 10_000)
				var err error
				for i := p; i < n && err == nil; i += 4 {
					msgs = append(msgs, kafkatest.Message{Partition: p, Key: []byte(fmt.Sprint(i % 50_000)), Value: []byte("v")})
					if len(msgs) == cap(msgs) || i+4 >= n {
						err = b.Produce(context.Background(), topic, msgs...)
						msgs = msgs[:0]
					}
				}
				errs <- err
			}()
		}
		var first error
		for range 4 {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	run := func(group string, procs int) (float64, error) {
		if err := b.CreateTopic(group, 4); err != nil {
			return 0, err
		}
		type member struct {
			cmd  *exec.Cmd
			read chan int64 // each "read <n>" line
			own  chan int   // each "owned <n>" line
			done chan struct{}
		}
		var ms []*member
		defer func() {
			for _, m := range ms {
				_ = m.cmd.Process.Signal(syscall.SIGKILL)
				_ = m.cmd.Wait()
			}
		}()
		for range procs {
			cmd := exec.Command(os.Args[0], "-"+memberFlag, strings.Join(b.Addrs(), ",")+","+group+","+group)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				return 0, err
			}
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			m := &member{cmd: cmd, read: make(chan int64, 1<<16), own: make(chan int, 64), done: make(chan struct{})}
			ms = append(ms, m)
			go func() {
				defer close(m.done)
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					var v int64
					if _, err := fmt.Sscanf(sc.Text(), "read %d", &v); err == nil {
						m.read <- v
					} else if _, err := fmt.Sscanf(sc.Text(), "owned %d", &v); err == nil {
						m.own <- int(v)
					}
				}
			}()
		}
		deadline := time.After(60 * time.Second)
		for _, m := range ms { // every member owns its share
			for owned := 0; owned != 4/procs; {
				select {
				case owned = <-m.own:
				case <-m.done:
					return 0, fmt.Errorf("scaleout: a member ended")
				case <-deadline:
					return 0, fmt.Errorf("scaleout: the members did not share the partitions within 60s")
				}
			}
		}
		began := time.Now()
		if err := produce(group); err != nil {
			return 0, err
		}
		reads := make([]int64, procs)
		for {
			total := int64(0)
			for _, r := range reads {
				total += r
			}
			if total >= int64(n) {
				return float64(total) / time.Since(began).Seconds() / 1e6, nil
			}
			select {
			case <-deadline:
				return 0, fmt.Errorf("scaleout: %d of %d records read in 60s", total, n)
			case <-time.After(time.Millisecond):
			}
			for i, m := range ms {
			drain:
				for {
					select {
					case v := <-m.read:
						reads[i] = v
					case <-m.done:
						return 0, fmt.Errorf("scaleout: a member ended")
					default:
						break drain
					}
				}
			}
		}
	}
	var p1, p2, pr []float64
	for round := range max(rounds, 1) {
		topic := fmt.Sprintf("produce-%d", round)
		if err := b.CreateTopic(topic, 4); err != nil {
			return "", err
		}
		began := time.Now()
		if err := produce(topic); err != nil {
			return "", err
		}
		pr = append(pr, float64(n)/time.Since(began).Seconds()/1e6)
		r1, err := run(fmt.Sprintf("scaleout1-%d", round), 1)
		if err != nil {
			return "", err
		}
		r2, err := run(fmt.Sprintf("scaleout2-%d", round), 2)
		if err != nil {
			return "", err
		}
		p1, p2 = append(p1, r1), append(p2, r2)
	}
	m1, m2 := medianOf(p1), medianOf(p2)
	return fmt.Sprintf("scaleout: records=%d p1=%.2f p2=%.2f ratio=%.2f produce=%.2f", n, m1, m2, m2/m1, medianOf(pr)), nil
}
