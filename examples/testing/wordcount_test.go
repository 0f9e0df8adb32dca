package example_test

import (
	"testing"

	"github.com/spatedev/spate/dstream/dstreamtest"
	"github.com/spatedev/spate/examples/testing"
	"github.com/spatedev/spate/ops"
)

// Each inner slice of the input is one batch; each inner slice of want is
// what WordCounts must produce for it. No real time passes: dstreamtest
// drives the stream with a manual clock.
func TestWordCounts(t *testing.T) {
	input := [][]string{
		{"to be or", "not to be"},
		{},
		{"Be quick"},
	}
	want := [][]ops.KV[string, int]{
		{{Key: "to", Value: 2}, {Key: "be", Value: 2}, {Key: "or", Value: 1}, {Key: "not", Value: 1}},
		{},
		{{Key: "be", Value: 1}, {Key: "quick", Value: 1}},
	}
	// A batch's pairs come in no defined order: compare each as a set.
	dstreamtest.Run(t, input, example.WordCounts, want, dstreamtest.Unordered())
}
