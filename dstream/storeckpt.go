package dstream

import (
	"context"
	"fmt"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/errfmt"
)

// savedStore is a stateful stream's state as checkpointed (see stateHeader): every
// key's value (a snapshot), or the keys changed since the save at Base, with their
// values, and the keys deleted.
type savedStore[K comparable, V any] struct {
	Snapshot   bool
	Base       time.Time
	Partitions int
	Keys       []K
	Values     []V
	Deleted    []K
}

// decodeStore decodes a saved state and checks its shape.
func decodeStore[K comparable, V any](data []byte) (*savedStore[K, V], error) {
	var st savedStore[K, V]
	if err := checkpoint.Decode(data, &st); err != nil {
		return nil, err
	}
	if len(st.Keys) != len(st.Values) || st.Partitions < 1 || st.Snapshot && len(st.Deleted) > 0 {
		return nil, fmt.Errorf("%w: a saved state of %d keys, %d values, %d deleted keys, %d partitions",
			checkpoint.ErrCorrupt, len(st.Keys), len(st.Values), len(st.Deleted), st.Partitions)
	}
	return &st, nil
}

// replay decodes a snapshot and the deltas after it, oldest first, and hands every
// key's value (and, for the deltas, every deleted key) to set, in order; it returns
// the snapshot's partition count. progress, if not nil, hears how many bytes of
// chain are replayed as it goes: each entry's size in shares of its keys, every
// progressKeys keys.
func replay[K comparable, V any](chain [][]byte, set func(k K, v V, deleted bool), progress func(bytes int64)) (partitions int, err error) {
	for i, data := range chain {
		st, err := decodeStore[K, V](data)
		if err != nil {
			return 0, err
		}
		if st.Snapshot != (i == 0) {
			return 0, fmt.Errorf("%w: a state chain whose entry %d is a snapshot: %v", checkpoint.ErrCorrupt, i, st.Snapshot)
		}
		if i == 0 {
			partitions = st.Partitions
		}
		n, told := len(st.Keys)+len(st.Deleted), int64(0)
		tell := func(done int) { // done of the entry's n keys are replayed
			if progress != nil {
				b := int64(len(data)) * int64(done) / int64(max(n, 1))
				progress(b - told)
				told = b
			}
		}
		for j, k := range st.Keys {
			set(k, st.Values[j], false)
			if (j+1)%progressKeys == 0 {
				tell(j + 1)
			}
		}
		for j, k := range st.Deleted {
			var zero V
			set(k, zero, true)
			if (len(st.Keys)+j+1)%progressKeys == 0 {
				tell(len(st.Keys) + j + 1)
			}
		}
		tell(max(n, 1))
	}
	return partitions, nil
}

// progressKeys is how many keys a restore replays between reports of its
// progress.
const progressKeys = 4096

// saveStores returns the state ks holds at batch t as saved: every key's value that
// save keeps (a snapshot) if base is zero, else the keys changed since the save at
// base, and those deleted. name names the stream in errors.
func saveStores[K comparable, E, V any](ctx context.Context, ks *keyedStore[K, E], name fmt.Stringer, t, base time.Time, save func(E) (V, bool)) ([]byte, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if !ks.done.Equal(t) {
		return nil, fmt.Errorf("%s: the state of batch %v is not what the stores hold (batch %v)", name, errfmt.Time(t), errfmt.Time(ks.done))
	}
	st := savedStore[K, V]{Snapshot: base.IsZero(), Base: base, Partitions: len(ks.stores)}
	put := func(k K, e E) {
		if v, ok := save(e); ok {
			st.Keys, st.Values = append(st.Keys, k), append(st.Values, v)
		} else if !st.Snapshot {
			st.Deleted = append(st.Deleted, k)
		}
	}
	for _, store := range ks.stores {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if st.Snapshot {
			for k, e := range store.All() {
				put(k, e)
			}
			continue
		}
		for c := range store.Delta() {
			if c.Deleted {
				st.Deleted = append(st.Deleted, c.Key)
			} else {
				put(c.Key, c.Value)
			}
		}
	}
	return checkpoint.Encode(st)
}

// mergeSaved returns the snapshot that a saved snapshot and the deltas after it,
// oldest first, make.
func mergeSaved[K comparable, V any](chain [][]byte) ([]byte, error) {
	m := map[K]V{}
	partitions, err := replay(chain, func(k K, v V, deleted bool) {
		if deleted {
			delete(m, k)
		} else {
			m[k] = v
		}
	}, nil)
	if err != nil {
		return nil, err
	}
	st := savedStore[K, V]{Snapshot: true, Partitions: partitions, Keys: make([]K, 0, len(m)), Values: make([]V, 0, len(m))}
	for k, v := range m {
		st.Keys, st.Values = append(st.Keys, k), append(st.Values, v)
	}
	return checkpoint.Encode(st)
}
