// Package leakcheck finds goroutines that a test started and did not stop.
//
// Spate's rule is that everything a Run starts ends when Run returns; these checks make a
// test fail when that is broken. Use [Check] in a single test:
//
//	func TestRun(t *testing.T) {
//		leakcheck.Check(t)
//		...
//	}
//
// or [VerifyTestMain] for every test of a package:
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
//
// A goroutine that is still ending when the test ends is not a leak: both checks poll
// until the extra goroutines are gone, and fail only after a deadline of a few seconds.
// Goroutines of the testing package and the runtime (test runners, signal handling, the
// trace reader) are never reported. Goroutines are told apart by the ids in the output of
// [runtime.Stack].
//
// [Check] cannot tell which test started a goroutine, so a test that uses it should not
// run in parallel (t.Parallel) with tests that start goroutines.
package leakcheck

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// timeout is how long the checks wait for extra goroutines to end.
const timeout = 5 * time.Second

// ignored lists functions (by prefix of the qualified name) whose presence anywhere in a
// goroutine's stack, or as its creator, marks it as belonging to the testing package or
// the runtime rather than to the code under test.
var ignored = []string{
	"testing.tRunner",      // test and subtest goroutines, including parallel ones
	"testing.(*T).Run",     // a test waiting for its subtests
	"testing.(*M).",        // the main test goroutine
	"testing.runTests",     // the main test goroutine
	"testing.(*B).run1",    // benchmark goroutines
	"testing.(*B).doBench", // benchmark goroutines
	"testing.(*B).launch",  // benchmark goroutines
	"testing.(*F).",        // fuzzing
	"runtime.ensureSigM",   // signal mask handling (os/signal)
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ReadTrace", // execution tracer (go test -trace)
	"runtime/trace.Start",
	"runtime.traceAdvance",
}

// goroutine is one goroutine's entry in the output of runtime.Stack.
type goroutine struct {
	id    uint64
	stack string   // the whole entry, as printed
	funcs []string // functions of its frames, innermost first, then its creator
}

// Check fails t if goroutines that were not running when Check was called are still
// running when t ends. Call it first in the test: it registers a [testing.TB.Cleanup]
// that runs after the cleanups registered later (which may be what stops the goroutines).
// The cleanup waits up to 5 seconds for the extra goroutines to end, then reports the
// stack of each one that did not.
func Check(t testing.TB) {
	t.Helper()
	check(t, timeout)
}

func check(t testing.TB, timeout time.Duration) {
	t.Helper()
	before := make(map[uint64]bool)
	for _, g := range goroutines() {
		before[g.id] = true
	}
	t.Cleanup(func() {
		t.Helper()
		leaked := waitForLeaks(timeout, func(g goroutine) bool { return !before[g.id] })
		if len(leaked) > 0 {
			t.Errorf("leakcheck: %s", describe(leaked, timeout))
		}
	})
}

// VerifyTestMain runs the tests of m and exits with their exit code, except that when they
// pass and goroutines besides the main test goroutine are still running 5 seconds
// later, it lists those goroutines' stacks on standard error and exits with code 1. Call
// it from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
func VerifyTestMain(m *testing.M) {
	os.Exit(verifyMain(m.Run, os.Stderr, timeout))
}

func verifyMain(run func() int, stderr io.Writer, timeout time.Duration) int {
	code := run()
	if code != 0 {
		return code
	}
	self := currentID()
	leaked := waitForLeaks(timeout, func(g goroutine) bool { return g.id != self })
	if len(leaked) > 0 {
		fmt.Fprintf(stderr, "leakcheck: tests passed, but %s", describe(leaked, timeout))
		return 1
	}
	return 0
}

// waitForLeaks polls until no goroutine that is not ignored and that candidate accepts
// is left, or until timeout has passed; it returns the goroutines left.
func waitForLeaks(timeout time.Duration, candidate func(goroutine) bool) []goroutine {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		var leaked []goroutine
		for _, g := range goroutines() {
			if candidate(g) && !g.ignored() {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(pause) // polls a condition; see the package doc
		pause = min(2*pause, 100*time.Millisecond)
	}
}

func describe(leaked []goroutine, timeout time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d goroutine(s) still running after %v:\n", len(leaked), timeout)
	for _, g := range leaked {
		b.WriteString("\n")
		b.WriteString(g.stack)
		b.WriteString("\n")
	}
	return b.String()
}

func (g goroutine) ignored() bool {
	for _, f := range g.funcs {
		for _, prefix := range ignored {
			if strings.HasPrefix(f, prefix) {
				return true
			}
		}
	}
	return false
}

// stacks returns runtime.Stack's output for all goroutines, or only the caller's.
func stacks(all bool) []byte {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, all)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// goroutines returns every goroutine but the caller's.
func goroutines() []goroutine {
	gs := parse(stacks(true))
	self := currentID()
	out := gs[:0]
	for _, g := range gs {
		if g.id != self {
			out = append(out, g)
		}
	}
	return out
}

// currentID returns the id of the calling goroutine.
func currentID() uint64 {
	gs := parse(stacks(false))
	if len(gs) != 1 {
		panic("leakcheck: cannot parse the current goroutine's stack")
	}
	return gs[0].id
}

// parse splits the output of runtime.Stack into goroutines. An entry looks like
//
//	goroutine 7 [chan receive]:
//	example.com/p.worker(0xc000012345)
//		/src/p/p.go:12 +0x1d
//	created by example.com/p.Start in goroutine 6
//		/src/p/p.go:8 +0x2f
//
// and entries are separated by blank lines.
func parse(out []byte) []goroutine {
	var gs []goroutine
	for entry := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n\n")) {
		lines := strings.Split(string(entry), "\n")
		header, ok := strings.CutPrefix(lines[0], "goroutine ")
		if !ok {
			continue
		}
		idText, _, _ := strings.Cut(header, " ")
		id, err := strconv.ParseUint(idText, 10, 64)
		if err != nil {
			continue
		}
		g := goroutine{id: id, stack: string(entry)}
		for _, line := range lines[1:] {
			if line == "" || line[0] == '\t' {
				continue // a file:line, or nothing
			}
			if creator, ok := strings.CutPrefix(line, "created by "); ok {
				creator, _, _ = strings.Cut(creator, " in goroutine ")
				g.funcs = append(g.funcs, creator)
				continue
			}
			if i := strings.LastIndexByte(line, '('); i > 0 {
				line = line[:i]
			}
			g.funcs = append(g.funcs, line)
		}
		gs = append(gs, g)
	}
	return gs
}
