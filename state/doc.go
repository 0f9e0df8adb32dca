// Package state is Spate's state store: the per-partition, mutable, versioned key-value
// stores that every stateful stream (dstream's UpdateStateByKey, MapWithState, the
// incremental windows) keeps its state in.
//
// # Model
//
// A stateful stream's state is split into partitions, co-located with the batch data
// they are joined with (the batch is partitioned by the state's partitioner, the
// state never moves). Each partition is a [Store]: a Go map updated in place by the one
// task that owns the partition in a batch, so a batch costs the keys it touches, not
// the whole state, and an entry costs about what it costs in a hand-written map.
//
//	batch t data ──partition by key──▶ task p ──Get/Put/Delete──▶ Store p (version t-1 → t)
//	                                                  Commit(t) ─┘   └─ Rollback (the batch failed)
//
// The changes of the batch being applied are kept aside (each changed key's old value),
// so that the batch can be committed as version t, or rolled back to version t-1 if it
// fails. [Store.Changes] yields the changes of the current version: what a changelog
// (a compacted Kafka topic, for scale-out) records. The keys changed since the last
// save are tracked, so that a checkpoint can save only them ([Store.Delta]).
//
// [Timeouts] finds the keys idle for a timeout by bucketing keys by the time they were
// last touched, so that timeouts cost the keys due, not a scan of every key.
package state
