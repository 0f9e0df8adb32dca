// Package shuffle moves keyed records between partitions: it decides which
// output partition a key belongs to ([Partitioner]: [Hash], [Range]) and
// holds one map task's output bucketed by that partition.
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
// records straight into [Buckets]. Reduce task p reads bucket p of every map
// task; an aggregating reduce task merges them again in a [Table], sized
// from the [Sketch] of distinct keys each hash-partitioned map task keeps
// per bucket ([Distinct]). A sketch costs what its bucket holds (2 bytes a
// key, at most 1 KiB), and the reduce side of a small bucket counts its
// records instead of merging sketches, so a shuffle's cost grows with map
// tasks × output partitions only by a few words per bucket.
//
// Everything is in memory for now. The map output types ([Buckets] and the
// result of [Table.Split]) are the only places a map task's records live, so
// a memory budget with spilling to disk belongs behind them.
//
// # Partitioners
//
// [Hash] assigns a key to hash(key) mod n with the process-wide seed of
// [hash/maphash]: consistent within a process, different between processes,
// fast paths for strings and integers. [Range] assigns ordered keys to
// contiguous key ranges given by sorted upper bounds, so partition i holds
// only keys smaller than those of partition i+1 (SortBy's total order);
// [RangeBounds] picks those bounds from a weighted sample.
//
// A custom partitioner implements [Partitioner]. It must be deterministic and
// return a value in [0, NumPartitions()); anything else is reported as an
// error naming the key, never a panic.
package shuffle
