package dstream

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
)

// State checkpoints are deltas: the first save of a run (and of a resumed run that
// has no state yet) is a snapshot, every key; each later one holds only the keys
// changed since the save before (its Base). A compactor, in the background, merges
// the newest snapshot and the deltas after it into a new snapshot once there are
// StateSnapshotEvery deltas, and deletes the files no restart can need any longer.
// The state at a save time is its file and, back along the bases, the files to the
// newest snapshot (a compaction's snapshot of a time replaces, when it can be read,
// the delta of that time).
//
//	save:      S1   d2   d3 … d10  d11  d12 …
//	compactor:                S10            (S1…d10 merged; files before the
//	                                          snapshot before S10 are deleted)

// defaultStateSnapshotEvery is StateSnapshotEvery's default.
const defaultStateSnapshotEvery = 10

// StateSnapshotEvery sets after how many delta state checkpoints the state is
// compacted into a full snapshot, in the background: a state checkpoint costs the keys
// changed since the last one, and a restart reads the newest snapshot and at most n
// deltas. n must be at least 1. Default: 10.
func StateSnapshotEvery(n int) Opt {
	return ctxOpt(func(c *Context) {
		if n < 1 {
			c.invalidOpt("StateSnapshotEvery(%d), want at least 1", n)
			return
		}
		c.snapshotEvery = n
	})
}

// stateCodec saves and restores a stateful stream's state.
type stateCodec struct {
	typ string
	// slides is the stream's default state checkpoint interval in slides
	// (MapWithState: 10); 0: the larger of its slide and 10s.
	slides int
	// save returns the state at batch t: a snapshot if base is zero, else the
	// keys changed since the save at base (see stateHeader); saved is called once
	// that is durable.
	save  func(ctx context.Context, t, base time.Time) ([]byte, error)
	saved func()
	// merge makes a snapshot of a snapshot and the deltas after it, oldest
	// first; restore sets the state of batch t from them, telling progress how
	// many more bytes of chain it has restored as it goes.
	merge   func(chain [][]byte) ([]byte, error)
	restore func(t time.Time, chain [][]byte, progress func(bytes int64)) error
}

// stateHeader is how every saved state entry starts: a snapshot, or the changes since
// the state saved at Base.
type stateHeader struct {
	Snapshot bool
	Base     time.Time
}

// stateChain returns the state checkpoints that make the state saved at t, oldest
// first: the newest snapshot of t or before, and the deltas after it to t.
func stateChain(store *checkpoint.Store, t time.Time) ([]*checkpoint.Checkpoint, error) {
	var chain []*checkpoint.Checkpoint
	for at := t; ; {
		cp, err := store.At(at)
		if err != nil {
			return nil, fmt.Errorf("the state saved at %v: %w", errfmt.Time(at), err)
		}
		h, err := chainHeader(cp)
		if err != nil {
			return nil, err
		}
		chain = append(chain, cp)
		if h.Snapshot {
			break
		}
		if !h.Base.Before(at) {
			return nil, fmt.Errorf("%w: the state delta saved at %v has base %v", checkpoint.ErrCorrupt, errfmt.Time(at), errfmt.Time(h.Base))
		}
		at = h.Base
	}
	slices.Reverse(chain)
	return chain, nil
}

// chainHeader returns the header that every state entry of cp has (they are saved
// together: all snapshots, or all deltas on one base).
func chainHeader(cp *checkpoint.Checkpoint) (stateHeader, error) {
	if len(cp.States) == 0 {
		return stateHeader{}, fmt.Errorf("%w: the state checkpoint of %v holds no state", checkpoint.ErrCorrupt, errfmt.Time(cp.Time))
	}
	var first stateHeader
	for i, e := range cp.States {
		var h stateHeader
		if err := checkpoint.Decode(e.Data, &h); err != nil {
			return stateHeader{}, fmt.Errorf("the state of %s saved at %v: %w", e.Name, errfmt.Time(cp.Time), err)
		}
		if i == 0 {
			first = h
		} else if h.Snapshot != first.Snapshot || !h.Base.Equal(first.Base) {
			return stateHeader{}, fmt.Errorf("%w: the states saved at %v are not of one kind (%s: %+v, %s: %+v)",
				checkpoint.ErrCorrupt, errfmt.Time(cp.Time), cp.States[0].Name, first, e.Name, h)
		}
	}
	return first, nil
}

// chainData returns the data of the state named name in every checkpoint of chain,
// oldest first.
func chainData(chain []*checkpoint.Checkpoint, name string) ([][]byte, error) {
	out := make([][]byte, len(chain))
	for i, cp := range chain {
		e, ok := cp.State(name)
		if !ok {
			return nil, fmt.Errorf("%w: the state checkpoint of %v has no state %s", checkpoint.ErrCorrupt, errfmt.Time(cp.Time), name)
		}
		out[i] = e.Data
	}
	return out, nil
}
