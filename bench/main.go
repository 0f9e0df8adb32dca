// Command bench runs Spate's benchmark suite: each benchmark times Spate and
// a hand-written Go baseline on the same pre-generated data, interleaved in
// one process, and prints one line
//
//	name: spate=<Mrec/s> hand=<Mrec/s> ratio=<spate/hand> allocs_per_rec=<n>
//
// Throughputs are the median of the rounds; the ratio compares the medians.
// allocs_per_rec counts Spate's heap allocations per input record.
//
// Usage:
//
//	go run ./bench                 # every benchmark
//	go run ./bench -only wordcount # one benchmark
//	go run ./bench -quick          # small data, one round: checks the benchmarks still run
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"
)

// benchmark is one line of the suite.
type benchmark struct {
	name string
	// setup generates the data (not timed) for the given scale (1 = full
	// size) and returns the number of input records and the two contenders.
	setup func(scale float64) (records int, spate, hand contender)
	// line, for benchmarks with their own output format, runs the
	// benchmark and returns its line (setup is then nil).
	line func(scale float64, rounds int) (string, error)
}

// contender computes the benchmark's result and returns a check of it,
// which runs after the timing.
type contender func(ctx context.Context) (check func() error, err error)

var suite = []benchmark{
	{name: "wordcount", setup: setupWordCount},
	{name: "reducebykey1m", setup: setupReduceByKey},
	{name: "batchoverhead", line: batchOverhead},
	{name: "window", line: windowBench},
	{name: "kafkadirect", line: kafkaDirect},
	{name: "kafkawordcount", line: kafkaWordCount},
	{name: "checkpoint", line: checkpointBench},
	{name: "state", line: stateBench},
	{name: "spill", line: spillState},
	{name: "receiver", line: receiverBench},
	{name: "union", line: unionBench},
	{name: "catchup", line: catchupBench},
}

func main() {
	only := flag.String("only", "", "run only the benchmark with this name")
	quick := flag.Bool("quick", false, "small data and one round, to check the benchmarks run")
	rounds := flag.Int("rounds", 5, "timed rounds of each contender")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	scale := 1.0
	if *quick {
		scale, *rounds = 0.01, 1
		fmt.Println("bench -quick: a smoke check that every benchmark runs, on 1% of the data, one round;")
		fmt.Println("its figures are not measurements (run `make bench` or `go run ./bench` for those).")
	}
	ran := false
	defer closeFixtures()
	for _, b := range suite {
		if *only != "" && b.name != *only {
			continue
		}
		ran = true
		line, err := run(b, scale, *rounds)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			pprof.StopCPUProfile()
			closeFixtures()
			os.Exit(1)
		}
		if *quick {
			line = "  smoke " + line
		}
		fmt.Println(line)
	}
	if !ran {
		fmt.Fprintf(os.Stderr, "no benchmark named %q\n", *only)
		pprof.StopCPUProfile()
		os.Exit(2)
	}
}

func run(b benchmark, scale float64, rounds int) (string, error) {
	if b.line != nil {
		return b.line(scale, rounds)
	}
	ctx := context.Background()
	records, spate, hand := b.setup(scale)
	// One untimed warm-up each, then interleaved timed rounds.
	for _, c := range []contender{spate, hand} {
		if _, _, err := timed(ctx, c); err != nil {
			return "", err
		}
	}
	var ts, th []time.Duration
	var mallocs uint64
	for range rounds {
		d, m, err := timed(ctx, spate)
		if err != nil {
			return "", err
		}
		ts, mallocs = append(ts, d), mallocs+m
		d, _, err = timed(ctx, hand)
		if err != nil {
			return "", err
		}
		th = append(th, d)
	}
	rs, rh := rate(records, median(ts)), rate(records, median(th))
	return fmt.Sprintf("%s: spate=%.2f hand=%.2f ratio=%.2f allocs_per_rec=%.4f",
		b.name, rs, rh, rs/rh, float64(mallocs)/float64(rounds)/float64(records)), nil
}

// timed runs c after a GC, returning its wall time and heap allocations,
// then checks its result (untimed).
func timed(ctx context.Context, c contender) (time.Duration, uint64, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	check, err := c(ctx)
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	if err == nil {
		err = check()
	}
	return d, after.Mallocs - before.Mallocs, err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rate returns millions of records per second.
func rate(records int, d time.Duration) float64 {
	return float64(records) / d.Seconds() / 1e6
}
