// Package checkpoint stores what a streaming application needs to recover after a
// restart, and holds the write-ahead log of the Kafka receiver stream.
//
// # Checkpoints
//
// A checkpoint holds data, never code: for each batch time generated but not yet
// completed, each source's offset ranges, and the state of each stateful operator, keyed
// by a stable operator name. It is encoded with msgpack, versioned and checksummed with
// a CRC, and written atomically (a temporary file, fsync, rename); the last few are
// kept.
//
// GetOrCreate(dir, build) rebuilds the graph with the user's code, then restores the
// positions and state by operator name. A mismatch is an error that lists what differs;
// a code change that keeps the names and types resumes from the checkpoint.
//
// A corrupt or truncated checkpoint is detected by its checksum; recovery then falls back
// to the previous good one and says so. Nothing is lost silently.
//
// # Write-ahead log
//
// The write-ahead log appends records and fsyncs them before they are acknowledged, can
// be replayed after a crash, and is truncated once what it holds is no longer needed.
package checkpoint
