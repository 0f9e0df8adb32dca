package shuffleexec

import (
	"fmt"

	"github.com/spatedev/spate/shuffle"
)

// CheckPartition returns an error wrapping [shuffle.ErrPartition] and naming the
// key when p is outside [0, n).
func CheckPartition[K any](p, n int, key K) error {
	if p < 0 || p >= n {
		return fmt.Errorf("%w: partitioner returned %d for key %v, want [0, %d)", shuffle.ErrPartition, p, key, n)
	}
	return nil
}
