// Package argerr holds the one error every package of the module wraps for
// an invalid argument or option: rdd.ErrInvalid (and dstream.ErrInvalid,
// the same value) is ErrInvalid, so that packages rdd does not import (checkpoint,
// state) wrap it too, and errors.Is(err, rdd.ErrInvalid) holds for all of
// them.
package argerr

import (
	"errors"
	"fmt"
)

// ErrInvalid is rdd.ErrInvalid.
var ErrInvalid = errors.New("invalid argument")

// Errorf returns the error "op: invalid argument: why", wrapping ErrInvalid, where
// op names the constructor or operator and why (format and args, as for
// fmt.Errorf: %w wraps) the option or argument and what is wrong with its
// value, e.g. Errorf("rdd.NewEngine", "Parallelism(%d), want at least 1", n).
func Errorf(op, format string, args ...any) error {
	return fmt.Errorf("%s: %w: "+format, append([]any{op, ErrInvalid}, args...)...)
}
