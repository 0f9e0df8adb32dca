package shuffle_test

import (
	"cmp"
)

func cmpInt(a, b int) int       { return cmp.Compare(a, b) }
func cmpString(a, b string) int { return cmp.Compare(a, b) }

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
