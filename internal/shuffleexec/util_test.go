package shuffleexec_test

import (
	"cmp"
	"errors"
	"strings"
)

func cmpInt(a, b int) int             { return cmp.Compare(a, b) }
func errorsIs(err, target error) bool { return errors.Is(err, target) }
func contains(s, sub string) bool     { return strings.Contains(s, sub) }

type point struct {
	X, Y int
	Tag  string
}
