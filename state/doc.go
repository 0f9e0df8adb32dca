// Package state is Spate's state store: the per-partition, mutable, versioned key-value
// stores that every stateful stream (dstream's UpdateStateByKey, MapWithState, the
// incremental windows) keeps its state in.
//
// # Model
//
// A stateful stream's state is split into partitions, co-located with the batch data
// they are joined with (the batch is partitioned by the state's partitioner, the
// state never moves). Each partition is a [Store], updated in place by the one task
// that owns the partition in a batch, so a batch costs the keys it touches, not the
// whole state.
//
//	batch t data ──partition by key──▶ task p ──Update/Put/Delete──▶ Store p (version t-1 → t)
//	                                                    Commit(t) ─┘   └─ Rollback (the batch failed)
//
// # The table
//
// A store's entries are in a hash table of its own: open addressing with linear
// probing, one control byte per slot (empty, deleted, or 7 bits of the key's hash)
// and the keys and values side by side in one array of slots. An entry costs its
// key, its value and a byte, over the table's load: the table grows when 4/5 of its
// slots are in use, to 5/3 of its entries (its size is not a power of two, so it
// grows by 4/3 rather than doubling, and its load stays between 3/5 and 4/5: about
// 36 bytes for an entry of 24), and shrinks when its entries fill a fifth of it
// (after removals; [Store.Evict] rebuilds it for the entries it leaves). A string
// key is copied when it enters the table, so that the table holds the key's bytes,
// not the larger string it may be a piece of (the line a word came from), and its
// keys' bytes lie together in the heap. [Store.MemBytes] is the table's size plus
// what the keys and values hold beyond it (strings, slices), sampled.
//
// Unlike a Go map, the table lets a caller reach an entry without hashing its key
// again. [Store.Update] finds a key once to read and change its value;
// [Store.UpdateRef] also returns a [Ref], the entry's slot and the table's
// generation, with which the caller comes back to the entry later without a lookup
// (an incremental window keeps the Refs of a batch's keys from when the batch
// entered the window until it leaves); a Ref whose table has been rebuilt since, or
// whose slot no longer holds its key, costs a lookup instead, never a wrong entry.
// [Store.UpdateAll] is a pass over every key joined with a batch's keys
// (UpdateStateByKey's): the batch's keys are looked up once, the store's entries are
// updated where they lie in the table, and an unchanged value costs no write.
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
