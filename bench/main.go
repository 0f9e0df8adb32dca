// Command bench runs Spate's benchmark suite: each benchmark times Spate
// against the best hand-written Go loop for the same work that uses both
// cores (parallelism 2), on the same pre-generated data, in the same run,
// and prints one line, e.g.
//
//	wordcount: spate=<Mrec/s> hand=<Mrec/s> ratio=<spate/hand> hand1=<Mrec/s> allocs_per_rec=<n> hand_allocs_per_rec=<n> rss_mb=<MB> hand_rss_mb=<MB> data_mb=<MB> seq=<Mrec/s> seq_allocs_per_rec=<n>
//
// ratio is always Spate against the best baseline (above 1: Spate is
// faster); hand1, where printed, is the single-goroutine loop that older
// versions of this suite compared with; seq (wordcount) is Spate with
// FlatMapSeq instead of FlatMapYield. Throughputs are the median of the
// timed rounds; the ratio compares the medians. allocs_per_rec counts heap
// allocations per input record and round.
//
// # Peak RSS: one process per contender
//
// The peak RSS of two contenders in one process cannot be told apart, so
// every benchmark that prints a ratio runs each contender in its own child
// process: this binary started again with a hidden -child flag. Each child
// generates the same data (same seeds) and then runs one round whenever the
// parent asks; the parent alternates between the children, round by round,
// so that noise from a shared machine hits every contender alike (a child
// waits, idle, while another runs). rss_mb and hand_rss_mb are the
// children's peak resident set sizes during the rounds, read by each child
// from its own /proc/self/status (VmHWM) after resetting the high-water mark
// once its data is generated (the rusage Maxrss of a child is not used on
// Linux: Go starts children with vfork and the kernel then counts the
// parent's resident set in it). Both include the input data, which stays
// resident; data_mb is that floor: a child's RSS after generating its data.
// The Kafka benchmarks read from a broker that runs in a child process of
// its own, so that no contender's RSS holds the broker's log.
//
// Usage:
//
//	go run ./bench                 # every benchmark
//	go run ./bench -only wordcount # one benchmark
//	go run ./bench -quick          # small data, one round: checks the benchmarks still run
//	go run ./bench -only wordcount -cpuprofile cpu.out
//	go run ./bench -only wordcount -v   # and each contender's wall and CPU time per round
//
// With -cpuprofile f, a benchmark that runs in the parent is profiled into
// f, and each child writes the profile of its rounds (not of its set-up)
// into f.<benchmark>.<role>, e.g. cpu.out.wordcount.spate and
// cpu.out.wordcount.hand: `go tool pprof cpu.out.wordcount.spate`. Every
// round's result is checked (untimed), except under -cpuprofile, where only
// the warm-up round's is, so that the profiles show the contenders alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// benchmark is one line of the suite: either a pair (Spate and its
// baselines, each in a child process) or a line run in this process.
type benchmark struct {
	name string
	pair *paired
	// line, for benchmarks without a baseline, runs the benchmark in this
	// process and returns its line.
	line func(scale float64, rounds int) (string, error)
}

// paired is a benchmark of Spate against hand-written baselines.
type paired struct {
	// roles names the contenders: "spate" first, then the baselines
	// ("hand", the best one; "hand1", the single-goroutine one).
	roles []string
	// setup runs in the role's child: it generates the data (not timed)
	// for the given scale (1 = full size) and returns the number of input
	// records and the role's contender.
	setup func(scale float64, role string) (records int, c contender, err error)
	// env, if set, runs in the parent before the children start and
	// returns environment variables for them (the Kafka broker's address).
	env func(scale float64) ([]string, error)
	// rounds, if set, changes the number of timed rounds.
	rounds func(rounds int) int
	// noWarmup skips the untimed first round (for a round that takes
	// minutes).
	noWarmup bool
	// format builds the line from the results.
	format func(r *pairResult) string
}

// contender computes the benchmark's result once.
type contender func(ctx context.Context) (outcome, error)

// outcome is one run of a contender: a check of its result, which runs
// after the timing, and any timings the contender took itself (per slide,
// per batch), reported besides the wall time of the whole call ("wall").
type outcome struct {
	check func() error
	times map[string]time.Duration
}

var suite = []benchmark{
	{name: "wordcount", pair: wordCountPair},
	{name: "reducebykey1m", pair: reduceByKeyPair},
	{name: "batchoverhead", line: batchOverhead},
	{name: "window", pair: windowPair},
	{name: "windowplain", pair: windowPlainPair},
	{name: "kafkadirect", pair: kafkaDirectPair},
	{name: "kafkawordcount", line: kafkaWordCount},
	{name: "checkpoint", line: checkpointBench},
	{name: "state", line: stateBench},
	{name: "spill", line: spillState},
	{name: "spill", pair: spillShufflePair},
	{name: "receiver", line: receiverBench},
	{name: "union", line: unionBench},
	{name: "catchup", line: catchupBench},
	{name: "exactlyonce", line: exactlyOnceBench},
	{name: "restore", line: restoreBench},
	{name: "rebalance", line: rebalanceBench},
	{name: "scaleout", line: scaleoutBench},
}

func main() {
	only := flag.String("only", "", "run only the benchmark with this name")
	quick := flag.Bool("quick", false, "small data and one round, to check the benchmarks run")
	rounds := flag.Int("rounds", 5, "timed rounds of each contender")
	cpuprofile := flag.String("cpuprofile", "", "write CPU profiles: this process's to this file, each contender's to <file>.<benchmark>.<role>")
	child := flag.String(childFlag, "", "internal: run as the process of contender bench:role")
	scale := flag.Float64("scale", 1, "internal: the data scale of a -child process")
	verbose := flag.Bool("v", false, "print each contender's median wall and CPU time per round, allocations and RSS, after its line")
	broker := flag.Bool(brokerFlag, false, "internal: run as the Kafka fixture's broker process")
	member := flag.String(memberFlag, "", "internal: run as a member of the rebalance benchmark's group")
	flag.Parse()
	if *member != "" {
		if err := memberMain(*member); err != nil {
			fmt.Fprintf(os.Stderr, "bench member: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *child != "" || *broker {
		var err error
		if *broker {
			err = brokerMain(*scale)
		} else {
			err = childMain(*child, *scale, *cpuprofile)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", *child, err)
			os.Exit(1)
		}
		return
	}
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
	*scale = 1.0
	if *quick {
		*scale, *rounds = 0.01, 1
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
		line, err := run(b, *scale, *rounds, *cpuprofile, *verbose)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			pprof.StopCPUProfile()
			closeFixtures()
			os.Exit(1)
		}
		if *quick {
			line = "  smoke " + strings.ReplaceAll(line, "\n", "\n  smoke ")
		}
		fmt.Println(line)
	}
	if !ran {
		fmt.Fprintf(os.Stderr, "no benchmark named %q\n", *only)
		pprof.StopCPUProfile()
		os.Exit(2)
	}
}

func run(b benchmark, scale float64, rounds int, cpuprofile string, verbose bool) (string, error) {
	if b.line != nil {
		return b.line(scale, rounds)
	}
	r, err := runPaired(b, scale, rounds, cpuprofile)
	if err != nil {
		return "", err
	}
	line := b.pair.format(r)
	if verbose {
		line += "\n" + strings.TrimSuffix(describe(b.name, r), "\n")
	}
	return line, nil
}

// timed runs c after a GC and returns its outcome and what it cost: wall
// time, CPU time of the process (every goroutine's, the GC's included) and
// heap allocations. The caller checks the outcome.
func timed(ctx context.Context, c contender) (outcome, cost, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := cpuTime()
	start := time.Now()
	o, err := c(ctx)
	d := time.Since(start)
	cpu = cpuTime() - cpu
	runtime.ReadMemStats(&after)
	return o, cost{wall: d, cpu: cpu, allocs: after.Mallocs - before.Mallocs}, err
}

// cost is what one run of a contender cost.
type cost struct {
	wall, cpu time.Duration
	allocs    uint64
}

// throughputLine formats the line of a benchmark whose contenders each
// process records once per round: Spate's rate against the best baseline's
// ("hand"), the single-goroutine baseline's rate if there is one ("hand1"),
// allocations and peak RSS.
func throughputLine(name string, r *pairResult) string {
	s, h := r.role("spate"), r.role("hand")
	rs, rh := rate(r.records, s.median("wall")), rate(r.records, h.median("wall"))
	line := fmt.Sprintf("%s: spate=%.2f hand=%.2f ratio=%.2f", name, rs, rh, rs/rh)
	if h1 := r.role("hand1"); h1 != nil {
		line += fmt.Sprintf(" hand1=%.2f", rate(r.records, h1.median("wall")))
	}
	return line + fmt.Sprintf(" allocs_per_rec=%.4f hand_allocs_per_rec=%.4f", s.allocsPerRec(r.records), h.allocsPerRec(r.records)) +
		rssFields(r)
}

// rssFields formats the peak RSS of Spate and of the best baseline, and the
// data's resident size in Spate's process.
func rssFields(r *pairResult) string {
	s, h := r.role("spate"), r.role("hand")
	return fmt.Sprintf(" rss_mb=%.0f hand_rss_mb=%.0f data_mb=%.0f", s.rssMB(), h.rssMB(), float64(s.dataKB)/1024)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rate returns millions of records per second.
func rate(records int, d time.Duration) float64 {
	return float64(records) / d.Seconds() / 1e6
}
