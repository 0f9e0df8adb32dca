// Package proflabels reads, for tests, the profiler labels of the calling
// goroutine: runtime/pprof.Do sets them, and the standard library has no reader
// of them.
package proflabels

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
)

// mu lets one goroutine at a time write the goroutine profile, so that the one
// writing it is the caller.
var mu sync.Mutex

var label = regexp.MustCompile(`"((?:[^"\\]|\\.)*)":"((?:[^"\\]|\\.)*)"`)

// Goroutine returns the profiler labels of the calling goroutine, read from the
// goroutine profile (debug=1, which prints each stack's labels): the caller's
// stack is the one writing the profile.
func Goroutine() (map[string]string, error) {
	mu.Lock()
	defer mu.Unlock()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, err
	}
	// Stacks are separated by blank lines; each starts "N @ addresses", then
	// "# labels: {...}" if it has labels, then "#\t<pc>\t<func>+<off>\t<file:line>".
	for stack := range strings.SplitSeq(buf.String(), "\n\n") {
		if !strings.Contains(stack, "runtime/pprof.(*Profile).WriteTo") {
			continue
		}
		out := map[string]string{}
		for line := range strings.SplitSeq(stack, "\n") {
			if rest, ok := strings.CutPrefix(line, "# labels: "); ok {
				for _, m := range label.FindAllStringSubmatch(rest, -1) {
					out[m[1]] = m[2]
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("proflabels: the goroutine profile has no stack writing it:\n%s", buf.String())
}
