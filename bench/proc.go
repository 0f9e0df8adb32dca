package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The paired benchmarks run each contender in its own child process (this
// binary, started again with -child bench:role), so that each one's peak RSS
// is its own. The parent drives the children's rounds one at a time over
// their stdin and stdout, alternating between contenders, so that noise from
// the machine hits every contender alike; a child is idle while another runs.
//
// The protocol, one line each way per step:
//
//	child:  ready records=<n> data_kb=<resident KiB after setup>
//	parent: run
//	child:  ok wall=<ns> cpu=<ns> allocs=<n> [<name>=<ns> …]   or   err <message>
//	parent: (closes stdin)
//	child:  done peak_kb=<KiB, or -1 when unknown>
//
// The child reads its peak RSS from its own /proc/self/status (VmHWM). The
// rusage of the exited child (os.ProcessState.SysUsage, Maxrss) is not
// used on Linux: Go starts children with vfork, and the kernel then counts
// the parent's resident set at the time of the exec in the child's Maxrss.
// Elsewhere it is the fallback. After setup the child resets its high-water
// mark (/proc/self/clear_refs), so the peak covers the timed rounds (the
// input data stays resident and is part of it), not the data generation.

// childFlag is the hidden flag that makes this binary a contender's process.
const childFlag = "child"

// roleResult is what the parent learnt from one contender's child.
type roleResult struct {
	times  map[string][]time.Duration // "wall", and the timings the contender took itself
	allocs uint64                     // heap allocations over the timed rounds
	rounds int                        // timed rounds
	dataKB int64                      // resident after setup
	peakKB int64                      // peak resident during the rounds
}

// median returns the median of the timings named key.
func (r *roleResult) median(key string) time.Duration { return median(r.times[key]) }

// allocsPerRec returns the heap allocations per input record and round.
func (r *roleResult) allocsPerRec(records int) float64 {
	return float64(r.allocs) / float64(max(r.rounds, 1)) / float64(records)
}

// rssMB returns the peak RSS in MB.
func (r *roleResult) rssMB() float64 { return float64(r.peakKB) / 1024 }

// pairResult is the outcome of a paired benchmark: one result per role.
type pairResult struct {
	records int
	roles   map[string]*roleResult
}

func (p *pairResult) role(name string) *roleResult { return p.roles[name] }

// childProc is the parent's handle on one contender's child process.
type childProc struct {
	role string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	res  roleResult
}

// startChild starts the child for bench's role and reads its ready line.
func startChild(bench, role string, scale float64, cpuprofile string, env []string) (*childProc, int, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	args := []string{"-" + childFlag, bench + ":" + role, "-scale", strconv.FormatFloat(scale, 'g', -1, 64)}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile+"."+bench+"."+role)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	c := &childProc{role: role, cmd: cmd, in: in, out: bufio.NewScanner(out),
		res: roleResult{times: map[string][]time.Duration{}}}
	kv, err := c.expect("ready")
	if err != nil {
		c.kill()
		return nil, 0, err
	}
	c.res.dataKB = kv["data_kb"]
	return c, int(kv["records"]), nil
}

// expect reads the child's next line, which must start with word, and
// returns its key=value fields.
func (c *childProc) expect(word string) (map[string]int64, error) {
	if !c.out.Scan() {
		err := c.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%s: child process ended before %q: %w", c.role, word, err)
	}
	line := c.out.Text()
	head, rest, _ := strings.Cut(line, " ")
	if head == "err" {
		return nil, fmt.Errorf("%s: %s", c.role, rest)
	}
	if head != word {
		return nil, fmt.Errorf("%s: child process said %q, want %q", c.role, line, word)
	}
	kv := map[string]int64{}
	for f := range strings.FieldsSeq(rest) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s: bad field %q in %q", c.role, f, line)
		}
		kv[k] = n
	}
	return kv, nil
}

// round runs one round in the child; timed rounds are recorded.
func (c *childProc) round(timed bool) error {
	if _, err := io.WriteString(c.in, "run\n"); err != nil {
		return fmt.Errorf("%s: %w", c.role, err)
	}
	kv, err := c.expect("ok")
	if err != nil || !timed {
		return err
	}
	c.res.rounds++
	for k, v := range kv {
		if k == "allocs" {
			c.res.allocs += uint64(v)
		} else {
			c.res.times[k] = append(c.res.times[k], time.Duration(v))
		}
	}
	return nil
}

// finish closes the child's stdin, reads its peak RSS and waits for it.
func (c *childProc) finish() error {
	c.in.Close()
	kv, err := c.expect("done")
	if werr := c.cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("%s: %w", c.role, werr)
	}
	if err != nil {
		return err
	}
	c.res.peakKB = kv["peak_kb"]
	if c.res.peakKB < 0 {
		c.res.peakKB = rusageKB(c.cmd.ProcessState)
	}
	return nil
}

// kill ends the child (after a failure) and waits for it.
func (c *childProc) kill() {
	c.in.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// rusageKB returns the exited process's Maxrss in KiB, or -1.
func rusageKB(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return -1
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return ru.Maxrss / 1024 // bytes there, KiB on Linux and the BSDs
	}
	return ru.Maxrss
}

// runPaired runs benchmark b: one child per role, one untimed warm-up round
// each (unless b.pair.noWarmup), then rounds timed rounds, interleaved.
func runPaired(b benchmark, scale float64, rounds int, cpuprofile string) (*pairResult, error) {
	p := b.pair
	var env []string
	if p.env != nil {
		var err error
		if env, err = p.env(scale); err != nil {
			return nil, err
		}
	}
	var children []*childProc
	defer func() {
		for _, c := range children {
			c.kill()
		}
	}()
	res := &pairResult{records: -1, roles: map[string]*roleResult{}}
	// Start every child first: they generate their data at the same time.
	for _, role := range p.roles {
		c, records, err := startChild(b.name, role, scale, cpuprofile, env)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
		if res.records >= 0 && records != res.records {
			return nil, fmt.Errorf("%s has %d records, %s %d", p.roles[0], res.records, role, records)
		}
		res.records = records
	}
	if p.rounds != nil {
		rounds = p.rounds(rounds)
	}
	warmups := 1 // the first round warms up
	if p.noWarmup {
		warmups = 0
	}
	for i := range rounds + warmups {
		for _, c := range children {
			if err := c.round(i >= warmups); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range children {
		if err := c.finish(); err != nil {
			return nil, err
		}
		res.roles[c.role] = &c.res
	}
	children = nil
	return res, nil
}

// childMain is the contender's process: it sets up bench's role and runs a
// round for every "run" line on stdin until stdin ends.
func childMain(spec string, scale float64, cpuprofile string) error {
	name, role, _ := strings.Cut(spec, ":")
	i := slices.IndexFunc(suite, func(b benchmark) bool { return b.name == name && b.pair != nil })
	if i < 0 || !slices.Contains(suite[i].pair.roles, role) {
		return fmt.Errorf("no contender %q", spec)
	}
	records, c, err := suite[i].pair.setup(scale, role)
	if err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	dataKB := procStatusKB("VmRSS")
	resetPeak()
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	say("ready records=%d data_kb=%d", records, dataKB)
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	for round := 0; in.Scan(); round++ {
		if in.Text() != "run" {
			return fmt.Errorf("unknown command %q", in.Text())
		}
		o, cost, err := timed(ctx, c)
		// Every round's result is checked, untimed; under -cpuprofile only
		// the first's (the warm-up), so that the profile shows the
		// contender alone.
		if err == nil && o.check != nil && (round == 0 || cpuprofile == "") {
			err = o.check()
		}
		if err != nil {
			say("err %s", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "ok wall=%d cpu=%d allocs=%d", cost.wall.Nanoseconds(), cost.cpu.Nanoseconds(), cost.allocs)
		for _, k := range slices.Sorted(maps.Keys(o.times)) {
			fmt.Fprintf(&b, " %s=%d", k, o.times[k].Nanoseconds())
		}
		say("%s", b.String())
	}
	pprof.StopCPUProfile()
	say("done peak_kb=%d", procStatusKB("VmHWM"))
	return in.Err()
}

// cpuTime returns the CPU time (user and system) the process has used, or
// 0 where getrusage is missing.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// describe returns one line per role of r: the medians of its timings, its
// allocations per record and its peak RSS (the -v output).
func describe(name string, r *pairResult) string {
	var b strings.Builder
	for _, role := range slices.Sorted(maps.Keys(r.roles)) {
		res := r.roles[role]
		fmt.Fprintf(&b, "  %s %s:", name, role)
		for _, k := range slices.Sorted(maps.Keys(res.times)) {
			fmt.Fprintf(&b, " %s_ms=%.1f", k, float64(res.median(k).Microseconds())/1000)
		}
		fmt.Fprintf(&b, " allocs_per_rec=%.4f rss_mb=%.0f data_mb=%.0f\n", res.allocsPerRec(r.records), res.rssMB(), float64(res.dataKB)/1024)
	}
	return b.String()
}

// procStatusKB returns the field of /proc/self/status in KiB, or -1 where
// there is no such file.
func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// resetPeak resets the process's peak RSS to its current RSS (Linux;
// elsewhere the peak includes the set-up).
func resetPeak() {
	err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "bench: cannot reset the peak RSS, it includes the set-up: %v\n", err)
	}
}
