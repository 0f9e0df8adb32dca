//go:build unix

package shuffleexec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spatedev/spate/internal/fulldisk"
	"github.com/spatedev/spate/internal/shuffleexec"
	"github.com/spatedev/spate/ops"
	"github.com/spatedev/spate/shuffle"
)

// TestSpillWriteFails spills on a full disk: Add fails with a *SpillError
// naming the file.
func TestSpillWriteFails(t *testing.T) {
	_, space, dir := spaceIn(t, 16<<10)
	sp := space.Spiller("map-0")
	defer sp.Close()
	b := shuffleexec.NewBuckets[ops.KV[int, int]](2)
	b.SpillTo(sp)
	fulldisk.Limit(t, 1024)
	var err error
	for i := 0; err == nil && i < 100_000; i++ {
		err = b.Add(i%2, ops.Pair(i, i))
	}
	var se *shuffle.SpillError
	if !errors.As(err, &se) || se.Op != "write" || !strings.HasPrefix(se.Path, dir) || !strings.Contains(err.Error(), se.Path) {
		t.Fatalf("Add = %v, want a *SpillError writing a file under %s", err, dir)
	}
}
