package kafka_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestOffsetsAreOnlyOnTheSourceStream compiles testdata/offsetsafterwards, which asks
// a transformed stream and its RDDs for offset ranges and commits, and expects the
// compiler to refuse each: the type system, not a runtime cast that fails after a
// shuffle (as in Spark), keeps offsets on the Kafka stream.
func TestOffsetsAreOnlyOnTheSourceStream(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to compile the snippet: %v", err)
	}
	cmd := exec.Command(gobin, "build", "-o", os.DevNull, "./testdata/offsetsafterwards")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("the snippet compiled: a transformed stream exposes offsets")
	}
	for _, want := range []string{"r.Ranges undefined", "values.ForeachBatch undefined", "values.CommitAsync undefined"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("compiler output does not say %q:\n%s", want, out)
		}
	}
}
