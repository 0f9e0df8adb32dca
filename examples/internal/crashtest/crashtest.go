// Package crashtest runs an example as a child process that a test kills with
// SIGKILL and starts again, for the examples' crash tests.
package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// Build compiles the example in package directory dir into a temporary binary, with
// the race detector if the test binary has it (go test -race).
func Build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build %s: %v", dir, err)
	}
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	if out, err := exec.Command(gobin, append(args, dir)...).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", dir, err, out)
	}
	t.Logf("built %s (race detector: %v)", dir, race)
	return bin
}

// Child is a running example.
type Child struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string // its standard output, line by line; closed at its end
	mu    sync.Mutex
	out   []string
	done  chan error
}

// Start starts bin with args. The child is killed when the test ends, if it still
// runs (a test that fails leaves none behind).
func Start(t *testing.T, bin string, args ...string) *Child {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{t: t, cmd: cmd, lines: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.out = append(c.out, sc.Text())
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default: // nobody is waiting for lines
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case err := <-c.done: // ended, and already waited for
			c.done <- err
		default:
			c.Kill()
		}
	})
	return c
}

// AwaitLines waits until the child printed n more lines that start with prefix,
// or ended (false), within timeout.
func (c *Child) AwaitLines(prefix string, n int, timeout time.Duration) bool {
	c.t.Helper()
	deadline := time.After(timeout)
	for n > 0 {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return false
			}
			if strings.HasPrefix(l, prefix) {
				n--
			}
		case <-deadline:
			c.t.Fatalf("the child did not print %d more %q lines within %v", n, prefix, timeout)
		}
	}
	return true
}

// Tail returns the last n lines the child printed so far.
func (c *Child) Tail(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.out[max(len(c.out)-n, 0):])
}

// Kill kills the child with SIGKILL and waits for it.
func (c *Child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	err := <-c.done
	c.done <- err // for the next Kill, Wait or the cleanup
}

// Stop asks the child to stop gracefully (SIGTERM) and returns its output and exit
// error.
func (c *Child) Stop(timeout time.Duration) ([]string, error) {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	return c.Wait(timeout)
}

// Wait waits for the child to end and returns its output and exit error.
func (c *Child) Wait(timeout time.Duration) ([]string, error) {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.out, err
	case <-time.After(timeout):
		c.Kill()
		c.t.Fatalf("the child did not end within %v", timeout)
		return nil, nil
	}
}

// Broker starts a broker with a data directory and topic (4 partitions) for a crash
// test, closed when the test ends.
func Broker(t *testing.T, topic string) *kafkatest.Broker {
	t.Helper()
	return kafkatest.New(t, kafkatest.Topic(topic, 4), kafkatest.DataDir(t.TempDir()))
}

// Lines returns the complete lines of the file at path, none if it does not exist
// (yet); a crash may leave a partial last line, which is not complete.
func Lines(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out[sc.Text()] = true
	}
	return out
}

// AwaitAll waits, while the child prints "batch " lines, until the file at path
// holds every line of want (see Lines), for at most timeout, and returns the lines
// still missing then: none when all are there. The child ending first fails the
// test, with its output.
func (c *Child) AwaitAll(path string, want map[string]bool, timeout time.Duration) []string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		seen := Lines(c.t, path)
		for l := range want {
			if !seen[l] {
				missing = append(missing, l)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		if !c.AwaitLines("batch ", 1, 30*time.Second) {
			out, err := c.Wait(time.Second)
			c.t.Fatalf("the child ended with %v, %d records not processed:\n%s", err, len(missing), strings.Join(out, "\n"))
		}
	}
}

// CyclesEnv names the environment variable that sets how many times a crash test
// kills its child and starts it again (default 4): SPATE_CRASH_CYCLES=20 go test
// -race -run TestCrashes ./examples/... runs 20 cycles in a row in each test.
const CyclesEnv = "SPATE_CRASH_CYCLES"

// Cycles returns how many kill and restart cycles a crash test runs: CyclesEnv's
// value, or 4.
func Cycles(t *testing.T) int {
	t.Helper()
	v := os.Getenv(CyclesEnv)
	if v == "" {
		return 4
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number of cycles >= 1", CyclesEnv, v)
	}
	t.Logf("%d kill and restart cycles (%s)", n, CyclesEnv)
	return n
}

// Rand returns a random source seeded from the clock, and logs the seed so that a
// failing run can be repeated.
func Rand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 7))
}

// Sentences produces n sentences of 1 to 6 words ("w0" … "w49") to topic's 4
// partitions, and adds each word's count to counts.
func Sentences(t *testing.T, b *kafkatest.Broker, topic string, rng *rand.Rand, n int, counts map[string]int) {
	t.Helper()
	msgs := make([]kafkatest.Message, n)
	for i := range msgs {
		var words []string
		for range 1 + rng.IntN(6) {
			w := fmt.Sprintf("w%d", rng.IntN(50))
			words = append(words, w)
			counts[w]++
		}
		msgs[i] = kafkatest.Message{Partition: rng.IntN(4), Value: []byte(strings.Join(words, " "))}
	}
	if err := b.Produce(context.Background(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
}
