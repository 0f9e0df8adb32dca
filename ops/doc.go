// Package ops holds the small vocabulary every other Spate package shares:
// the key-value pair [KV] that keyed operators work on, the join result
// shapes ([Joined], [Maybe], [CoGrouped]), and reusable element functions —
// [Sum], [Min], [Max], [One], the [Aggregator] shape behind CombineByKey and
// AggregateByKey, and the [InvReducer] (a reducer with its inverse) that
// incremental windows use.
//
// ops is a leaf package: it imports only the standard library, so every layer
// (shuffle, rdd, dstream, source/kafka) can depend on it.
//
// Functions here are pure: they never block, never fail and never keep
// references to their arguments, so they are safe to call from many
// partitions at once.
package ops
