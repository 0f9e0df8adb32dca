package kafka

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
)

// localCopy is a task's state kept on local disk (StateDir) when the process
// stops owning the task or stops, with the changelog offset it reflects, as Kafka
// Streams' state directory and .checkpoint file: a restore of the task reads it,
// then only the changelog records after Offset.
type localCopy struct {
	Changelog string   `msgpack:"changelog"`
	Offset    int64    `msgpack:"offset"` // the next changelog offset: what the copy does not hold
	Keys      [][]byte `msgpack:"keys"`
	Values    [][]byte `msgpack:"values"`
}

const localCopyEntry = "task-state"

// localDir is where the local copy of a task of topic's state lives.
func localDir(stateDir, topic string, task int) string {
	return filepath.Join(stateDir, topic, strconv.Itoa(task))
}

// saveLocal writes the local copy of st's task, which reflects the changelog up to
// offset, replacing the one before. The directory is locked while it writes; held by
// another process, nothing is written.
func saveLocal(stateDir, topic string, st dstream.TaskState, task int, offset int64) error {
	dir := localDir(stateDir, topic, task)
	lock, err := checkpoint.Lock(dir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	c := localCopy{Changelog: topic, Offset: offset}
	if err := st.Entries(task, func(k, v []byte) error {
		c.Keys, c.Values = append(c.Keys, k), append(c.Values, v)
		return nil
	}); err != nil {
		return err
	}
	store, err := checkpoint.Open(dir, checkpoint.Keep(1))
	if err != nil {
		return err
	}
	e, err := checkpoint.NewEntry(localCopyEntry, c)
	if err != nil {
		return err
	}
	return store.Save(&checkpoint.Checkpoint{Time: time.Now().UTC(), States: []checkpoint.Entry{e}})
}

// loadLocal reads the local copy of topic's task, if there is one (ok false if not).
func loadLocal(stateDir, topic string, task int) (c localCopy, ok bool, err error) {
	dir := localDir(stateDir, topic, task)
	lock, err := checkpoint.Lock(dir)
	if err != nil {
		return c, false, err
	}
	defer lock.Unlock()
	store, err := checkpoint.Open(dir, checkpoint.Keep(1))
	if err != nil {
		return c, false, err
	}
	cp, err := store.Latest()
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	e, found := cp.State(localCopyEntry)
	if !found {
		return c, false, fmt.Errorf("%s: no %s entry", dir, localCopyEntry)
	}
	if err := checkpoint.Decode(e.Data, &c); err != nil {
		return c, false, err
	}
	if c.Changelog != topic || len(c.Keys) != len(c.Values) {
		return c, false, fmt.Errorf("%s: a copy of %s with %d keys and %d values", dir, c.Changelog, len(c.Keys), len(c.Values))
	}
	return c, true, nil
}
