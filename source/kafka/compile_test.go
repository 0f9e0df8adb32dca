package kafka_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mustNotCompile builds the program in dir, which must fail to compile, and
// returns the compiler's output (every error: -e lifts the limit of ten), with the
// package path of source/kafka shortened to its name.
func mustNotCompile(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to compile the snippet: %v", err)
	}
	out, err := exec.Command(gobin, "build", "-gcflags=-e", "-o", os.DevNull, "./"+dir).CombinedOutput()
	if err == nil {
		t.Fatalf("%s compiled", dir)
	}
	return strings.ReplaceAll(string(out), `"github.com/spatedev/spate/source/kafka".`, "kafka.")
}

// TestOffsetsAreOnlyOnTheSourceStream compiles testdata/offsetsafterwards, which asks
// a transformed stream and its RDDs for offset ranges and commits, and expects the
// compiler to refuse each: the type system, not a runtime cast that fails after a
// shuffle (as in Spark), keeps offsets on the Kafka stream.
func TestOffsetsAreOnlyOnTheSourceStream(t *testing.T) {
	out := mustNotCompile(t, "testdata/offsetsafterwards")
	for _, want := range []string{"r.Ranges undefined", "values.ForeachBatch undefined", "values.CommitAsync undefined"} {
		if !strings.Contains(out, want) {
			t.Errorf("compiler output does not say %q:\n%s", want, out)
		}
	}
}

// TestOptionsCompileOnlyWhereTheyApply compiles testdata/misplacedoptions, where
// options are given to constructors they do not configure (a rate to a Client, a
// block interval to a direct stream, an offset reset to a sink…), which used to be
// accepted and ignored, and an option type is made outside the package: each line
// marked "want:" must be a compile error saying what the mark says, and no other
// line an error, so the shared options (Brokers, WithLogger, PollTimeout…) and each
// option where it applies compile.
func TestOptionsCompileOnlyWhereTheyApply(t *testing.T) {
	const dir = "testdata/misplacedoptions"
	out := mustNotCompile(t, dir)
	f, err := os.Open(filepath.Join(dir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[int]string{} // line → what its error says
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if _, w, ok := strings.Cut(sc.Text(), "// want: "); ok {
			want[line] = w
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)main\.go:(\d+):\d+: (.*)$`).FindAllStringSubmatch(out, -1) {
		var line int
		fmt.Sscan(m[1], &line)
		got[line] += m[2]
	}
	for line, w := range want {
		if !strings.Contains(got[line], w) {
			t.Errorf("main.go:%d: compile error %q, want one saying %q", line, got[line], w)
		}
	}
	for line, e := range got {
		if _, ok := want[line]; !ok {
			t.Errorf("main.go:%d: unexpected compile error: %s", line, e)
		}
	}
	if len(got) == 0 {
		t.Errorf("no compile error in:\n%s", out)
	}
}
