// Package shuffleexec is the machinery of rdd's shuffles: it holds one map
// task's output bucketed by a [shuffle.Partitioner], combines and merges
// values by key, and bounds the memory it takes by spilling to disk.
// Package rdd is its only user; what a user of Spate needs (partitioners)
// is in package shuffle.
//
// # Model
//
// A shuffle has a map side and a reduce side. Each map task (one input
// partition) writes its records into one bucket per output partition. For an
// aggregating shuffle (ReduceByKey, AggregateByKey, CombineByKey, …) the map
// task first combines the values of each key locally in a [Table] — map-side
// combine — so that at most one record per distinct key and map task crosses
// the shuffle; [Table.Split] then buckets the combined records. A
// non-aggregating shuffle (PartitionBy, Repartition, Join, SortBy) appends
// records straight into [Buckets]. A map task whose first records hold
// mostly distinct keys stops combining (see CheckAfter) and passes the rest
// through uncombined, each with its key's hash; one that reads a
// materialized input (a source's partition, a shuffle's output:
// [MapSide.SetSource]) buckets the places of those records in it instead
// of copies. Reduce task p reads bucket p of every map
// task; an aggregating reduce task merges them again in a [Table] (a
// [Reducer]'s), sized from the [Sketch] of distinct keys each
// hash-partitioned map task keeps per bucket ([Distinct]); a cogroup's
// reduce task groups them by key in a Reducer too, and SortBy's sorts them
// ([Sorter]). A sketch costs what its bucket holds (2 bytes a
// key, at most 1 KiB), and the reduce side of a small bucket counts its
// records instead of merging sketches, so a shuffle's cost grows with map
// tasks × output partitions only by a few words per bucket.
//
// # Memory and spill
//
// A shuffle's memory is bounded by a [Pool]: the budget of one engine's
// shuffles (package rdd gives it half of its MemoryBudget). Every task that
// holds shuffle records has a [Spiller], its account in the pool: the map
// side's [Buckets] and [MapSide] table, the reduce side's [Reducer] table
// and [Sorter]. They reserve what they are about to allocate (a new chunk,
// a table's grown arrays; what strings, slices and maps hold beyond a
// record's size is estimated from samples) before allocating it, and a task
// may hold an equal share of the pool: the limit, less the map outputs kept
// in memory, divided by the tasks running now. A reservation beyond the
// share spills what the task holds to its spill file, instead of growing
// the heap:
//
//   - [Buckets] append every chunk in memory to the file, one segment per
//     bucket; a bucket reads back its segments, then its chunks in memory,
//     in the order the records were added.
//   - A [Table] (a map task's combine, a reduce task's merge) is written as
//     a sorted run: its entries ordered by output partition, then by the
//     64-bit hash of their key (the [shuffle.Hash] partitioner's), one segment per
//     partition, and emptied. Keys need only be comparable: the reduce side
//     merges the runs of a partition by hash with a heap, and equal keys
//     (equal hashes) meet in the group of their hash, where their combiners
//     are merged, earlier runs first. More than 64 runs are merged into
//     longer ones first, so that a merge holds one block (32 KiB) per run.
//     A partition that was merged from runs streams out in hash order; one
//     that never spilled is returned whole, in first-seen key order.
//   - A [Sorter] (SortBy's reduce side) writes its records as a stably
//     sorted run, and merges the runs by the comparison, earlier runs first
//     among equal records.
//
// A finished map task's output stays in memory only while the outputs kept
// by every running job take at most half the pool; beyond, it goes to the
// file too. A spill file is one task's; its directory is one job's (a
// [Space], under the engine's spill directory), removed when the job ends,
// whatever its outcome. A failure to make, write or read a spill file is a
// [shuffle.SpillError] naming the file or directory.
//
// Records are written in a compact binary encoding of their Go type (see
// codec.go): numbers and structs of them as their memory, strings, slices
// and maps with lengths. A record type that holds a pointer, an interface,
// a channel or a function — time.Time included, its zone is a pointer —
// cannot be written so that it reads back equal: such records stay in
// memory, beyond the budget, and the pool's logger warns once per type.
// Spark, which serializes anything, would spill them; use plain values (a
// time as Unix nanoseconds) in records that must spill.
//
// Without a budget (a pool of limit 0, or nil Spillers) nothing is counted
// and everything stays in memory, as fast as before there was a budget: the
// accounting costs a counter per record.
package shuffleexec
