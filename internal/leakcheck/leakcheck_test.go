package leakcheck

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The package's own tests must not leak either.
func TestMain(m *testing.M) { VerifyTestMain(m) }

// fakeTB records failures and cleanups instead of acting on them.
type fakeTB struct {
	testing.TB // the real test, for anything not overridden

	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...) }

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// end runs the cleanups in the order testing does, and returns the recorded errors.
func (f *fakeTB) end() []string {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errors
}

// worker is a goroutine with a name to look for in leak reports. It runs until stop is
// closed, then closes done.
type worker struct{ stop, done chan struct{} }

func startWorker() *worker {
	w := &worker{stop: make(chan struct{}), done: make(chan struct{})}
	go leakyWorker(w)
	return w
}

func leakyWorker(w *worker) {
	defer close(w.done)
	<-w.stop
}

// end stops the worker and waits for it.
func (w *worker) end() {
	close(w.stop)
	<-w.done
}

func TestCheckReportsLeak(t *testing.T) {
	fake := &fakeTB{TB: t}
	check(fake, 50*time.Millisecond)
	w := startWorker()
	defer w.end()

	errs := fake.end()
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1: %q", len(errs), errs)
	}
	for _, want := range []string{"1 goroutine(s) still running", "leakcheck.leakyWorker", "created by"} {
		if !strings.Contains(errs[0], want) {
			t.Errorf("error does not contain %q:\n%s", want, errs[0])
		}
	}
}

func TestCheckPassesWhenGoroutineEnds(t *testing.T) {
	fake := &fakeTB{TB: t}
	check(fake, 5*time.Second)
	w := startWorker()
	// Ends while the check is already polling.
	time.AfterFunc(20*time.Millisecond, func() { close(w.stop) })

	if errs := fake.end(); len(errs) != 0 {
		t.Errorf("got errors for a goroutine that ended: %q", errs)
	}
	<-w.done
}

func TestCheckIgnoresEarlierGoroutines(t *testing.T) {
	w := startWorker()
	defer w.end()
	fake := &fakeTB{TB: t}
	check(fake, 50*time.Millisecond)

	if errs := fake.end(); len(errs) != 0 {
		t.Errorf("got errors for a goroutine that ran before the check: %q", errs)
	}
}

func TestCheckCleanupOrder(t *testing.T) {
	// The real shape: Check first, then a cleanup that stops what the test started.
	Check(t)
	w := startWorker()
	t.Cleanup(w.end)
}

func TestCheckSubtests(t *testing.T) {
	Check(t)
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			Check(t)
		})
	}
}

func TestVerifyMainReportsLeak(t *testing.T) {
	var w *worker
	defer func() { w.end() }()
	var out strings.Builder
	code := verifyMain(func() int { w = startWorker(); return 0 }, &out, 50*time.Millisecond)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(out.String(), "leakcheck.leakyWorker") {
		t.Errorf("output does not name the leaked goroutine:\n%s", out.String())
	}
}

func TestVerifyMainPasses(t *testing.T) {
	var out strings.Builder
	code := verifyMain(func() int {
		w := startWorker()
		close(w.stop) // may still be running when the check starts
		return 0
	}, &out, 5*time.Second)
	if code != 0 || out.Len() != 0 {
		t.Errorf("verifyMain = %d, %q; want 0 and no output", code, out.String())
	}
}

func TestVerifyMainKeepsFailureCode(t *testing.T) {
	var out strings.Builder
	if code := verifyMain(func() int { return 3 }, &out, time.Second); code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
}

func TestParse(t *testing.T) {
	const out = `goroutine 11 [running]:
example.com/p.TestX.func1(0xed06a154488?)
	/tmp/p/p_test.go:22 +0x9d
testing.tRunner(0xed06a154488, 0x593fa0)
	/usr/local/go/src/testing/testing.go:2036 +0xea
created by testing.(*T).Run in goroutine 6
	/usr/local/go/src/testing/testing.go:2101 +0x4c5

goroutine 8 [syscall]:
os/signal.signal_recv()
	/usr/local/go/src/runtime/sigqueue.go:152 +0x98
os/signal.loop()
	/usr/local/go/src/os/signal/signal_unix.go:23 +0x13
created by os/signal.Notify.func1.1 in goroutine 6
	/usr/local/go/src/os/signal/signal.go:152 +0x1f

goroutine 12 [chan receive, 2 minutes]:
example.com/p.(*Server).loop(0xc000010000)
	/tmp/p/p.go:19
created by example.com/p.Start in goroutine 11
	/tmp/p/p.go:8 +0x66
`
	gs := parse([]byte(out))
	if len(gs) != 3 {
		t.Fatalf("parsed %d goroutines, want 3", len(gs))
	}
	want := []struct {
		id      uint64
		funcs   []string
		ignored bool
	}{
		{11, []string{"example.com/p.TestX.func1", "testing.tRunner", "testing.(*T).Run"}, true},
		{8, []string{"os/signal.signal_recv", "os/signal.loop", "os/signal.Notify.func1.1"}, true},
		{12, []string{"example.com/p.(*Server).loop", "example.com/p.Start"}, false},
	}
	for i, w := range want {
		g := gs[i]
		if g.id != w.id || strings.Join(g.funcs, " ") != strings.Join(w.funcs, " ") || g.ignored() != w.ignored {
			t.Errorf("goroutine %d = id %d, funcs %q, ignored %v; want %d, %q, %v", i, g.id, g.funcs, g.ignored(), w.id, w.funcs, w.ignored)
		}
	}
	if !strings.HasPrefix(gs[2].stack, "goroutine 12 [chan receive, 2 minutes]:") {
		t.Errorf("stack of goroutine 12 = %q", gs[2].stack)
	}
}
