package dstream_test

import (
	"errors"
	"testing"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/rdd"
)

// dstream's ErrInvalid is rdd's: errors.Is matches either way.
func TestErrInvalidIsRDDs(t *testing.T) {
	if !errors.Is(dstream.ErrInvalid, rdd.ErrInvalid) || !errors.Is(rdd.ErrInvalid, dstream.ErrInvalid) {
		t.Fatal("dstream.ErrInvalid and rdd.ErrInvalid are different errors")
	}
}
