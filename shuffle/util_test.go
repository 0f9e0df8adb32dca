package shuffle_test

import (
	"cmp"
	"errors"
	"strings"
)

func cmpInt(a, b int) int             { return cmp.Compare(a, b) }
func cmpString(a, b string) int       { return cmp.Compare(a, b) }
func errorsIs(err, target error) bool { return errors.Is(err, target) }
func contains(s, sub string) bool     { return strings.Contains(s, sub) }

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
