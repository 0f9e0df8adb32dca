// Package shuffle decides which output partition a key belongs to: the
// [Partitioner] interface, its two implementations [Hash] (the default) and
// [Range] (SortBy's), and [RangeBounds], which picks a range partitioner's
// bounds from a sample. The wide operators of package rdd take a partitioner
// with rdd.WithPartitioner, typed by the operator's key: a partitioner over
// another key type does not compile. rdd.PartitionerOf returns the one a
// keyed RDD is known to follow.
//
// The shuffle itself (map-side combine, buckets, spill files, the memory
// budget) is the executor's, in an internal package: a shuffle fails with a
// [*SpillError] when a spill file cannot be written or read, and with an
// error wrapping [ErrPartition] when a partitioner answers a partition out
// of range.
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
// Its Equal method says whether another partitioner places every key alike:
// an operator whose input is already partitioned that way skips its shuffle.
package shuffle
