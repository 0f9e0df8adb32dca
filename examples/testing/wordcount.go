// Package example shows how to unit-test a stream transformation with
// dstreamtest: WordCounts is the code under test, wordcount_test.go the
// test a user would write. Run it with go test ./examples/testing.
package example

import (
	"strings"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/ops"
)

// WordCounts counts the words of each batch of lines, ignoring case.
func WordCounts(lines *dstream.DStream[string]) *dstream.DStream[ops.KV[string, int]] {
	words := dstream.FlatMap(lines, func(l string) []string { return strings.Fields(strings.ToLower(l)) })
	pairs := dstream.Map(words, func(w string) ops.KV[string, int] { return ops.Pair(w, 1) })
	return dstream.ReduceByKey(pairs, ops.Sum[int])
}
