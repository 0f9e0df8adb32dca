package shuffleexec_test

import (
	"strconv"
	"testing"

	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/shuffle"
)

func TestCheckPartition(t *testing.T) {
	if err := shuffleexec.CheckPartition(0, 3, "k"); err != nil {
		t.Errorf("CheckPartition(0, 3) = %v", err)
	}
	if err := shuffleexec.CheckPartition(2, 3, "k"); err != nil {
		t.Errorf("CheckPartition(2, 3) = %v", err)
	}
	for _, p := range []int{-1, 3, 100} {
		err := shuffleexec.CheckPartition(p, 3, "the-key")
		if !errorsIs(err, shuffle.ErrPartition) {
			t.Errorf("CheckPartition(%d, 3) = %v, want ErrPartition", p, err)
			continue
		}
		if !contains(err.Error(), "the-key") || !contains(err.Error(), strconv.Itoa(p)) {
			t.Errorf("CheckPartition(%d, 3) = %q, want the key and the partition named", p, err)
		}
	}
}
