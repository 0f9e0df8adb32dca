package rdd_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// typedProgram is a program over an int-keyed RDD with the option opt.
const typedProgram = `package main

import (
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/rdd"
	"github.com/spatedev/spate/shuffle"
)

func main() {
	pairs := rdd.Parallelize(rdd.NewEngine(), []ops.KV[int, int]{ops.Pair(1, 1)}, 1)
	_ = rdd.ReduceByKey(pairs, ops.Sum[int], OPT)
	_ = shuffle.NewHash[int]
}
`

// buildTyped builds typedProgram with opt, as a package of this module added
// by an overlay (nothing is written to the source tree), and returns the
// compiler's output and whether the build succeeded.
func buildTyped(t *testing.T, opt string) (string, bool) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to build a program against the package: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(strings.Replace(typedProgram, "OPT", opt, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(wd, "internal", "typedprogram")
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(pkg, "main.go"): src}})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-overlay", ov, "-o", filepath.Join(dir, "prog"), "./internal/typedprogram")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// TestPartitionerKeyTypeIsCompileError checks that a partitioner over another
// key type than the operator's does not compile (it used to compile and fail at
// the action), while one over the right key type does.
func TestPartitionerKeyTypeIsCompileError(t *testing.T) {
	if out, ok := buildTyped(t, "rdd.WithPartitioner(shuffle.NewHash[int](3))"); !ok {
		t.Fatalf("a partitioner over the RDD's key type does not build:\n%s", out)
	}
	if out, ok := buildTyped(t, "rdd.Partitions[int](3)"); !ok {
		t.Fatalf("Partitions over the RDD's key type does not build:\n%s", out)
	}
	for _, opt := range []string{"rdd.WithPartitioner(shuffle.NewHash[string](3))", "rdd.Partitions[string](3)"} {
		out, ok := buildTyped(t, opt)
		if ok {
			t.Errorf("%s on an int-keyed RDD builds, want a compile error", opt)
		} else if !strings.Contains(out, "ShuffleOpt[string]") {
			t.Errorf("%s on an int-keyed RDD: %s, want a type error naming ShuffleOpt[string]", opt, out)
		}
	}
}
