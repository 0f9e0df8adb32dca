// Package checkpoint stores what a streaming job needs to resume after a restart, and
// holds the write-ahead log of the Kafka receiver stream. It knows nothing of streams:
// it saves and loads data, never code.
//
// # Checkpoints
//
// A [Checkpoint] records the time of the last completed batch, the batch interval, the
// batch times generated but not completed (recovery runs them again), and two lists of
// named entries: the position of each input source and the state of each stateful
// operator, keyed by a stable name. An [Entry]'s data is an opaque msgpack payload that
// its owner encodes with [Encode] (or [NewEntry]) and decodes with [Decode]; its Type
// names the Go type, so that recovery can report a type that changed. Rebuilding the
// graph with the user's code and matching entries to operators by name is the caller's
// job (dstream's GetOrCreate).
//
// A [Store] keeps checkpoints as files in one directory:
//
//	checkpoint-20240517T103000.000000000Z-00000000000000000007.ckpt
//
// The name holds the checkpoint's time in UTC and a sequence number, so that names sort
// by time and two saves for the same batch time do not collide. A file is a 24-byte
// header followed by the payload, the Checkpoint encoded with msgpack:
//
//	offset  size  field
//	0       8     magic "SPATECKP"
//	8       4     format version, big endian (1)
//	12      8     payload length in bytes, big endian
//	20      4     CRC32C (Castagnoli) of the payload, big endian
//	24      n     payload
//
// [Store.Save] writes a file atomically: it writes a temporary file in the same
// directory, fsyncs it, renames it into place and fsyncs the directory, so a crash
// leaves either the whole new file or none of it (and perhaps a temporary file, which
// is ignored and removed by the next save). It then deletes all but the newest few
// files ([Keep], 3 by default).
//
// [Store.Latest] returns the newest valid checkpoint. A file with bad magic bytes, an
// unknown version, a length that does not match, a checksum mismatch or a payload that
// does not decode is skipped with a warning naming the file and the reason, and Latest
// falls back to the one before. No checkpoint file at all is [ErrNoCheckpoint] (start
// fresh); files of which none is valid is an error wrapping [ErrCorrupt] that lists
// them, never a silent fresh start.
//
// Decoding is safe on arbitrary bytes ([Parse] is fuzzed): the header's length is
// checked against the real size, and before msgpack decoding the payload's structure is
// walked once to check that every declared string, byte, array and map length fits in
// the bytes that remain, so that a forged length cannot make the decoder allocate
// gigabytes (msgpack/v5 trusts such lengths).
//
// # Write-ahead log
//
// A [WAL] is an append-only log of records in a directory. [WAL.Append] gives each
// record the next sequence number and returns once the record is written and fsynced.
// Records go to segment files named by the sequence number of their first record
// (wal-00000000000000000001.log); a new segment starts when the current one would grow
// past [SegmentSize]. A segment is a 12-byte header (magic "SPATEWAL", format version 1)
// followed by records, each framed as
//
//	offset  size  field
//	0       4     record length n, big endian
//	4       4     CRC32C of the record followed by the 8 sequence-number bytes
//	8       8     sequence number, big endian
//	16      n     record
//
// [WAL.Replay] reads the records still in the log in order. [WAL.Truncate] drops the
// records below a sequence number: it first stores that low-water mark durably in the
// file wal.low, which hides the records from every later Replay (also after reopening),
// then deletes the segments that hold only dropped records.
//
// [OpenWAL] reads the last segment. An append cut short by a crash leaves an incomplete
// or damaged record at its very end (possibly followed by zero bytes): it was never
// acknowledged, so it is cut off with a warning. Damage anywhere else is an error that
// names the segment and the offset; OpenWAL finds it in the last segment, Replay in the
// others.
package checkpoint
