// Package archtest checks that the module's packages import each other only in the
// direction that the README allows (its "Design" section). It holds tests only.
package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A layer is a module-relative package path ("rdd", "source/kafka"). A package belongs to
// the layer with the longest path that equals or contains it, so "rdd/internal/exec" is
// in layer "rdd" and "dstream/dstreamtest" is its own layer, not part of "dstream".
// A package may always import the standard library, the module's top-level internal/
// packages and other packages of its own layer.
type rule struct {
	layer string
	// allow lists what the layer may import besides the above: other layers by name,
	// third-party packages by import path, where "path/..." means path and everything
	// below it.
	allow []string
	// testAllow lists what the layer's tests (in-package and external _test packages)
	// may import besides allow and testAlways.
	testAllow []string
	// anyLayer: the layer may import every layer of the module (still not examples/ or
	// bench/, which nothing imports).
	anyLayer bool
	// design is the rule as the README states it, quoted in failure messages.
	design string
}

const (
	xsync   = "golang.org/x/sync/..."
	gocmp   = "github.com/google/go-cmp/..."
	msgpack = "github.com/vmihailenco/msgpack/v5/..."
	kafkaGo = "github.com/segmentio/kafka-go/..."
	franzGo = "github.com/twmb/franz-go/..."
	kfake   = "github.com/twmb/franz-go/pkg/kfake/..."
	// kgo is franz-go's client: source/kafka produces with it (kafka-go has no
	// transactional producer), with its SASL interface and its protocol messages.
	kgo        = "github.com/twmb/franz-go/pkg/kgo/..."
	kgoSASL    = "github.com/twmb/franz-go/pkg/sasl/..."
	kmsg       = "github.com/twmb/franz-go/pkg/kmsg/..."
	kerr       = "github.com/twmb/franz-go/pkg/kerr/..."
	kversion   = "github.com/twmb/franz-go/pkg/kversion/..."
	bbolt      = "go.etcd.io/bbolt/..."
	internalLy = "internal"
	// pprofProfile parses CPU profiles, in dstream's test of its profiler labels.
	pprofProfile = "github.com/google/pprof/profile"
	// sqlite is a pure-Go SQL database for the exactly-once example and the tests of
	// source/kafka's OffsetTable.
	sqlite = "modernc.org/sqlite/..."
	// promClient is Prometheus's Go client, for the collector of metrics/prometheus:
	// the core does not import it.
	promClient = "github.com/prometheus/client_golang/..."
	// chromedp drives a headless Chromium in dstream/ui's browser test.
	chromedp = "github.com/chromedp/..."
)

// kafkaAllow is what source/kafka may import; kafkatest may import all of it too.
var kafkaAllow = []string{"dstream", "rdd", "ops", "shuffle", "checkpoint", "state", kafkaGo, kgo, kgoSASL, kmsg, kerr, kversion, xsync}

// rules is the dependency direction of the README ("Design"). Every package of the module must be in
// one of these layers.
var rules = []rule{
	{layer: "ops", design: "ops is a leaf: stdlib only"},
	{layer: "checkpoint", allow: []string{msgpack}, design: "checkpoint is a leaf: stdlib and msgpack"},
	{layer: "state", allow: []string{"checkpoint", bbolt}, testAllow: []string{gocmp}, design: "state → checkpoint, bbolt (the state store and its spill files)"},
	{layer: "shuffle", allow: []string{"ops"}, design: "shuffle → ops"},
	{
		layer:  "internal/shuffleexec",
		allow:  []string{"ops", "shuffle"},
		design: "internal/shuffleexec → ops, shuffle (the executor's shuffle machinery, rdd's alone)",
	},
	{layer: "rdd", allow: []string{"ops", "shuffle", "internal/shuffleexec", xsync}, design: "rdd → ops, shuffle, internal/shuffleexec (+ x/sync)"},
	{
		layer:     "dstream",
		allow:     []string{"rdd", "ops", "shuffle", "checkpoint", "state", xsync},
		testAllow: []string{"dstream/dstreamtest", pprofProfile},
		design:    "dstream → rdd, ops, shuffle (its partitioners), checkpoint, state (+ x/sync)",
	},
	{
		layer:  "dstream/dstreamtest",
		allow:  []string{"dstream", "rdd", "ops", gocmp},
		design: "dstream/dstreamtest → dstream, rdd, ops, go-cmp",
	},
	{
		layer:     "dstream/ui",
		allow:     []string{"dstream"},
		testAllow: []string{"rdd", "ops", "dstream/dstreamtest", chromedp},
		design:    "dstream/ui → dstream (stdlib only: the page's assets are embedded)",
	},
	{
		layer:     "source/kafka",
		allow:     kafkaAllow,
		testAllow: []string{"source/kafka/kafkatest", "dstream/dstreamtest", sqlite},
		design:    "source/kafka → dstream, rdd, ops, shuffle (its partitioners), checkpoint, state, kafka-go, franz-go's kgo for producing (+ x/sync)",
	},
	{
		layer:     "source/kafka/kafkatest",
		allow:     append([]string{"source/kafka", franzGo}, kafkaAllow...),
		testAllow: []string{"dstream/dstreamtest"},
		design:    "source/kafka/kafkatest → source/kafka, franz-go's kfake, and what source/kafka may import",
	},
	{
		layer:     "metrics/prometheus",
		allow:     []string{"dstream", "source/kafka", promClient},
		testAllow: []string{"rdd", "ops", "source/kafka/kafkatest"},
		design:    "metrics/prometheus → dstream, source/kafka (its commits), client_golang: a leaf that nothing in the library imports",
	},
	{
		// Everything may import internal/, so internal/ must not import any layer, or
		// it would be a way around the direction.
		layer:  internalLy,
		allow:  []string{xsync},
		design: "internal/ is importable by all, so it imports only stdlib, internal/ and x/sync",
	},
	{
		layer:    "examples",
		anyLayer: true,
		allow:    []string{xsync, gocmp, sqlite, promClient},
		design:   "examples/ use the public API: any package of the module (+ x/sync, go-cmp, modernc.org/sqlite, client_golang to serve metrics); nothing imports them",
	},
	{
		// The benchmark program measures a raw kafka-go baseline (the README, "Benchmarks"),
		// so it may import kafka-go, but not franz-go.
		layer:    "bench",
		anyLayer: true,
		allow:    []string{xsync, gocmp, kafkaGo},
		design:   "bench/ uses the public API: any package of the module (+ x/sync, go-cmp, kafka-go for the raw baseline); nothing imports it",
	},
}

// testAlways is what every package's tests may import besides what the package may.
var testAlways = []string{gocmp}

// exclusive lists third-party packages that only some layers may import. It is checked
// before the per-layer rules, so its message is the one reported.
var exclusive = []struct {
	pattern string
	only    []string
	design  string
}{
	{kfake, []string{"source/kafka/kafkatest"}, "nothing but source/kafka/kafkatest imports kfake"},
	{franzGo, []string{"source/kafka", "source/kafka/kafkatest"}, "only source/kafka and source/kafka/kafkatest import a Kafka client"},
	{kafkaGo, []string{"source/kafka", "source/kafka/kafkatest", "bench"}, "only source/kafka and source/kafka/kafkatest import a Kafka client (bench: raw baseline)"},
	{promClient, []string{"metrics/prometheus", "examples"}, "only metrics/prometheus (and examples/, to serve it) imports client_golang: the core does not"},
}

// noImport lists layers that no other layer may import.
var noImport = map[string]string{
	"examples": "nothing in the module imports examples/",
	"bench":    "nothing in the module imports bench/",
}

// importKind says which import list of a package an import comes from.
type importKind int

const (
	imports      importKind = iota // the package itself
	testImports                    // its in-package _test.go files
	xtestImports                   // its external (package x_test) _test.go files
)

func (k importKind) String() string {
	switch k {
	case testImports:
		return "test"
	case xtestImports:
		return "external test"
	default:
		return "package"
	}
}

// matches reports whether path matches pattern: equal, or below it when the pattern ends
// in "/...".
func matches(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// isStd reports whether an import path belongs to the standard library: its first
// element has no dot. ("C" for cgo counts as standard.)
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// layerOf returns the rule of the layer that module-relative path rel belongs to.
func layerOf(rel string) (*rule, bool) {
	var best *rule
	for i := range rules {
		r := &rules[i]
		if matches(r.layer+"/...", rel) && (best == nil || len(r.layer) > len(best.layer)) {
			best = r
		}
	}
	return best, best != nil
}

// relative returns path relative to module mod, and whether it is in the module.
func relative(mod, path string) (string, bool) {
	if path == mod {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, mod+"/")
	return rel, ok
}

// checkImport returns an error when package importer (full import path, in module mod)
// may not import imported through the given import list. The error names the importer,
// the imported package and the broken rule.
func checkImport(mod, importer, imported string, kind importKind) error {
	rel, ok := relative(mod, importer)
	if !ok {
		return fmt.Errorf("%s is not in module %s", importer, mod)
	}
	from, ok := layerOf(rel)
	if !ok {
		return fmt.Errorf("%s: package is in no layer of the dependency rules; add it to the rules table in internal/archtest (and to the README's Design section)", importer)
	}
	fail := func(design string) error {
		return fmt.Errorf("%s (%s imports) imports %s: breaks the rule %q", importer, kind, imported, design)
	}
	allowed := func(r *rule, target string, isLayer bool) bool {
		lists := [][]string{r.allow}
		if kind != imports {
			lists = append(lists, r.testAllow, testAlways)
		}
		for _, list := range lists {
			for _, p := range list {
				if isLayer && p == target || !isLayer && matches(p, target) {
					return true
				}
			}
		}
		return false
	}

	if isStd(imported) {
		return nil
	}
	if irel, ok := relative(mod, imported); ok {
		to, ok := layerOf(irel)
		switch {
		case !ok:
			return fmt.Errorf("%s (%s imports) imports %s, which is in no layer of the dependency rules; add it to the rules table in internal/archtest", importer, kind, imported)
		case to == from, to.layer == internalLy:
			return nil
		case noImport[to.layer] != "":
			return fail(noImport[to.layer])
		case from.anyLayer, allowed(from, to.layer, true):
			return nil
		default:
			return fail(from.design)
		}
	}
	for _, e := range exclusive {
		if matches(e.pattern, imported) {
			if slices.Contains(e.only, from.layer) {
				break
			}
			return fail(e.design)
		}
	}
	if allowed(from, imported, false) {
		return nil
	}
	return fail(from.design)
}

// pkg is the part of `go list -json` output that the check reads.
type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// checkPackages returns one message per broken rule in pkgs (packages of module mod).
func checkPackages(mod string, pkgs []pkg) []string {
	var problems []string
	for _, p := range pkgs {
		if p.Error != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot check its imports: %s", p.ImportPath, p.Error.Err))
		}
		for kind, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range list {
				if kind == int(xtestImports) && imp == p.ImportPath {
					continue // an external test package imports its own package
				}
				if err := checkImport(mod, p.ImportPath, imp, importKind(kind)); err != nil {
					problems = append(problems, err.Error())
				}
			}
		}
	}
	return problems
}

// decodePackages reads the stream of JSON objects that `go list -json` prints.
func decodePackages(r io.Reader) ([]pkg, error) {
	var pkgs []pkg
	dec := json.NewDecoder(r)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

func goCmd(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestDependencyDirection lists every package of the module and checks its direct
// imports, and those of its tests, against the rules.
func TestDependencyDirection(t *testing.T) {
	gomod := strings.TrimSpace(string(goCmd(t, ".", "env", "GOMOD")))
	if gomod == "" || gomod == "/dev/null" {
		t.Fatalf("not in a module (go env GOMOD = %q)", gomod)
	}
	root := filepath.Dir(gomod)
	mod := strings.TrimSpace(string(goCmd(t, root, "list", "-m")))

	out := goCmd(t, root, "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports,Error", "./...")
	pkgs, err := decodePackages(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("decoding go list output: %v", err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	for _, p := range pkgs {
		t.Logf("checked %s", p.ImportPath)
	}
	for _, problem := range checkPackages(mod, pkgs) {
		t.Error(problem)
	}
}

// TestCheckImport tests the checker itself, so that a broken checker cannot pass
// silently.
func TestCheckImport(t *testing.T) {
	const mod = "example.com/m"
	m := func(rel string) string { return mod + "/" + rel }
	tests := []struct {
		importer, imported string
		kind               importKind
		wantRule           string // "" means allowed
	}{
		// Violations.
		{m("ops"), m("rdd"), imports, "ops is a leaf: stdlib only"},
		{m("ops"), "github.com/google/go-cmp/cmp", imports, "ops is a leaf: stdlib only"},
		{m("shuffle"), m("rdd"), imports, "shuffle → ops"},
		{m("rdd"), m("dstream"), imports, "rdd → ops, shuffle, internal/shuffleexec (+ x/sync)"},
		{m("rdd/internal/exec"), m("checkpoint"), imports, "rdd → ops, shuffle, internal/shuffleexec (+ x/sync)"},
		{m("checkpoint"), m("ops"), imports, "checkpoint is a leaf: stdlib and msgpack"},
		{m("dstream"), m("dstream/dstreamtest"), imports, "dstream → rdd, ops, shuffle (its partitioners), checkpoint, state (+ x/sync)"},
		{m("dstream"), m("source/kafka"), imports, "dstream → rdd, ops, shuffle (its partitioners), checkpoint, state (+ x/sync)"},
		{m("dstream"), "github.com/segmentio/kafka-go", imports, "only source/kafka and source/kafka/kafkatest import a Kafka client (bench: raw baseline)"},
		{m("rdd"), "github.com/twmb/franz-go/pkg/kgo", imports, "only source/kafka and source/kafka/kafkatest import a Kafka client"},
		{m("source/kafka"), "github.com/twmb/franz-go/pkg/kfake", imports, "nothing but source/kafka/kafkatest imports kfake"},
		{m("source/kafka"), "github.com/twmb/franz-go/pkg/kfake", xtestImports, "nothing but source/kafka/kafkatest imports kfake"},
		{m("examples/wordcount"), "github.com/twmb/franz-go/pkg/kfake", imports, "nothing but source/kafka/kafkatest imports kfake"},
		{m("source/kafka"), m("source/kafka/kafkatest"), imports, "source/kafka → dstream, rdd, ops, shuffle (its partitioners), checkpoint, state, kafka-go, franz-go's kgo for producing (+ x/sync)"},
		{m("rdd"), m("examples/wordcount"), imports, "nothing in the module imports examples/"},
		{m("rdd"), m("bench"), xtestImports, "nothing in the module imports bench/"},
		{m("examples/wordcount"), m("bench"), imports, "nothing in the module imports bench/"},
		{m("internal/leakcheck"), m("rdd"), imports, "internal/ is importable by all, so it imports only stdlib, internal/ and x/sync"},
		{m("rdd"), "github.com/some/thing", imports, "rdd → ops, shuffle, internal/shuffleexec (+ x/sync)"},
		{m("rdd"), m("dstream/dstreamtest"), xtestImports, "rdd → ops, shuffle, internal/shuffleexec (+ x/sync)"},
		{m("dstream"), "github.com/prometheus/client_golang/prometheus", imports, "only metrics/prometheus (and examples/, to serve it) imports client_golang: the core does not"},
		{m("source/kafka"), "github.com/prometheus/client_golang/prometheus", xtestImports, "only metrics/prometheus (and examples/, to serve it) imports client_golang: the core does not"},
		{m("metrics/prometheus"), m("rdd"), imports, "metrics/prometheus → dstream, source/kafka (its commits), client_golang: a leaf that nothing in the library imports"},
		{m("dstream"), m("metrics/prometheus"), imports, "dstream → rdd, ops, shuffle (its partitioners), checkpoint, state (+ x/sync)"},
		{m("dstream/ui"), m("rdd"), imports, "dstream/ui → dstream (stdlib only: the page's assets are embedded)"},
		{m("dstream/ui"), "github.com/chromedp/chromedp", imports, "dstream/ui → dstream (stdlib only: the page's assets are embedded)"},
		{m("dstream"), m("dstream/ui"), imports, "dstream → rdd, ops, shuffle (its partitioners), checkpoint, state (+ x/sync)"},

		// Allowed.
		{m("ops"), "iter", imports, ""},
		{m("ops"), m("internal/leakcheck"), imports, ""},
		{m("ops"), "github.com/google/go-cmp/cmp", testImports, ""},
		{m("ops"), "github.com/google/go-cmp/cmp/cmpopts", xtestImports, ""},
		{m("rdd"), m("ops"), imports, ""},
		{m("rdd"), m("shuffle"), imports, ""},
		{m("rdd"), "golang.org/x/sync/errgroup", imports, ""},
		{m("rdd"), m("rdd"), xtestImports, ""},
		{m("rdd/internal/exec"), m("ops"), imports, ""},
		{m("rdd"), m("rdd/internal/exec"), imports, ""},
		{m("checkpoint"), "github.com/vmihailenco/msgpack/v5", imports, ""},
		{m("checkpoint"), "github.com/vmihailenco/msgpack/v5/msgpcode", imports, ""},
		{m("dstream"), m("checkpoint"), imports, ""},
		{m("dstream"), m("dstream/dstreamtest"), xtestImports, ""},
		{m("dstream/dstreamtest"), m("dstream"), imports, ""},
		{m("dstream/dstreamtest"), "github.com/google/go-cmp/cmp", imports, ""},
		{m("dstream/ui"), m("dstream"), imports, ""},
		{m("dstream/ui"), "github.com/chromedp/chromedp", xtestImports, ""},
		{m("dstream/ui"), m("rdd"), xtestImports, ""},
		{m("examples/directkafkawordcount"), m("dstream/ui"), imports, ""},
		{m("source/kafka"), "github.com/segmentio/kafka-go", imports, ""},
		{m("source/kafka"), m("source/kafka/kafkatest"), xtestImports, ""},
		{m("source/kafka/kafkatest"), "github.com/twmb/franz-go/pkg/kfake", imports, ""},
		{m("source/kafka/kafkatest"), m("source/kafka"), imports, ""},
		{m("source/kafka/kafkatest"), m("checkpoint"), imports, ""},
		{m("examples/wordcount"), m("source/kafka/kafkatest"), imports, ""},
		{m("examples/wordcount"), m("examples/internal/gen"), imports, ""},
		{m("bench"), m("rdd"), imports, ""},
		{m("bench"), "github.com/segmentio/kafka-go", imports, ""},
		{m("metrics/prometheus"), "github.com/prometheus/client_golang/prometheus", imports, ""},
		{m("metrics/prometheus"), m("source/kafka"), imports, ""},
		{m("metrics/prometheus"), m("source/kafka/kafkatest"), xtestImports, ""},
		{m("examples/demo"), "github.com/prometheus/client_golang/prometheus/promhttp", imports, ""},
	}
	for _, tt := range tests {
		err := checkImport(mod, tt.importer, tt.imported, tt.kind)
		switch {
		case tt.wantRule == "" && err != nil:
			t.Errorf("checkImport(%s → %s, %s) = %v, want allowed", tt.importer, tt.imported, tt.kind, err)
		case tt.wantRule != "" && err == nil:
			t.Errorf("checkImport(%s → %s, %s) allowed it, want a violation of %q", tt.importer, tt.imported, tt.kind, tt.wantRule)
		case tt.wantRule != "":
			msg := err.Error()
			for _, want := range []string{tt.importer, tt.imported, tt.wantRule} {
				if !strings.Contains(msg, want) {
					t.Errorf("checkImport(%s → %s, %s) = %q, want it to name %q", tt.importer, tt.imported, tt.kind, msg, want)
				}
			}
		}
	}
}

// TestCheckPackages feeds the whole check a fake `go list -json` output with one
// violation of each kind of import list.
func TestCheckPackages(t *testing.T) {
	const listOutput = `{
	"ImportPath": "example.com/m/ops",
	"Imports": ["fmt", "example.com/m/rdd"]
}
{
	"ImportPath": "example.com/m/rdd",
	"Imports": ["context", "example.com/m/ops", "golang.org/x/sync/errgroup"],
	"TestImports": ["testing", "example.com/m/dstream"],
	"XTestImports": ["testing", "example.com/m/rdd", "github.com/google/go-cmp/cmp", "example.com/m/examples/wordcount"]
}
{
	"ImportPath": "example.com/m/tools",
	"Imports": ["fmt"]
}
{
	"ImportPath": "example.com/m/shuffle",
	"Error": {"Err": "syntax error"}
}`
	pkgs, err := decodePackages(strings.NewReader(listOutput))
	if err != nil {
		t.Fatal(err)
	}
	got := checkPackages("example.com/m", pkgs)
	want := []string{
		"example.com/m/ops (package imports) imports example.com/m/rdd",
		"example.com/m/rdd (test imports) imports example.com/m/dstream",
		"example.com/m/rdd (external test imports) imports example.com/m/examples/wordcount",
		"example.com/m/tools: package is in no layer",
		"example.com/m/shuffle: cannot check its imports: syntax error",
	}
	if len(got) != len(want) {
		t.Errorf("checkPackages reported %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
			t.Errorf("checkPackages did not report %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
}
