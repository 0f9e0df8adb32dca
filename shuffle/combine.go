package shuffle

import "github.com/spatedev/spate/ops"

// Adaptive map-side combine: a map task combines its first CheckAfter
// records; if they hold more than MaxDistinctRatio distinct keys per record,
// combining is not shrinking the data, so the task keeps what it combined
// and passes its remaining records through uncombined (the reduce side
// combines them). Spark SQL skips partial aggregation on the same evidence.
const (
	CheckAfter       = 1 << 16
	MaxDistinctRatio = 0.5
)

// MapSide is one map task of an aggregating shuffle: it combines values by
// key (map-side combine) and buckets the result by output partition.
type MapSide[K comparable, V, C any] struct {
	table *Table[K, V, C]
	part  Partitioner[K]
	hash  *Hash[K] // part, when it is the default partitioner
	raw   *Buckets[ops.KV[K, V]]
	// sketches estimate each bucket's distinct keys (hash partitioner
	// only): combined keys are added by Finish, raw ones as they pass.
	// Each is sized by its bucket (see Sketch).
	sketches []Sketch
	seen     int
}

// NewMapSide returns a map task writer that combines with agg and buckets
// by part.
func NewMapSide[K comparable, V, C any](agg ops.Aggregator[V, C], part Partitioner[K]) *MapSide[K, V, C] {
	m := &MapSide[K, V, C]{table: NewTable[K](agg, 0), part: part}
	m.hash, _ = part.(*Hash[K])
	if m.hash != nil {
		m.sketches = make([]Sketch, part.NumPartitions())
	}
	return m
}

// Add takes one record. It fails, naming the key, only if a custom
// partitioner answers a partition out of range.
func (m *MapSide[K, V, C]) Add(k K, v V) error {
	if m.raw == nil {
		m.table.Add(k, v)
		if m.seen++; m.seen == CheckAfter && float64(m.table.Len()) > MaxDistinctRatio*float64(m.seen) {
			m.raw = NewBuckets[ops.KV[K, V]](m.part.NumPartitions())
		}
		return nil
	}
	if m.hash != nil {
		h := m.hash.Sum64(k)
		q := int(h % uint64(m.hash.n))
		m.sketches[q].Add(h)
		m.raw.Add(q, ops.KV[K, V]{Key: k, Value: v})
		return nil
	}
	return AddKeyed(m.raw, m.part, ops.KV[K, V]{Key: k, Value: v})
}

// Combining reports whether the task still combines (false once it has
// switched to passing records through).
func (m *MapSide[K, V, C]) Combining() bool { return m.raw == nil }

// Finish returns the task's output.
func (m *MapSide[K, V, C]) Finish() (*MapOutput[K, V, C], error) {
	var b *Buckets[ops.KV[K, C]]
	if m.hash != nil {
		// One hash per key places it and feeds its bucket's sketch.
		n := m.hash.n
		dest := make([]int32, len(m.table.entries))
		codes := make([]uint16, len(m.table.entries))
		counts := make([]int, n)
		for i := range m.table.entries {
			h := m.hash.Sum64(m.table.entries[i].Key)
			q := int32(h % uint64(n))
			dest[i], codes[i] = q, encode(h)
			counts[q]++
		}
		addAll(m.sketches, dest, codes, counts)
		b = m.table.bucketsOf(n, dest, counts)
	} else {
		var err error
		if b, err = m.table.Split(m.part); err != nil {
			return nil, err
		}
	}
	return &MapOutput[K, V, C]{Combined: b, Raw: m.raw, sketches: m.sketches}, nil
}

// MapOutput is one map task's output of an aggregating shuffle: combined
// records (at most one per key) and, if the task stopped combining, the raw
// records after that point. Raw is nil when every record was combined.
type MapOutput[K comparable, V, C any] struct {
	Combined *Buckets[ops.KV[K, C]]
	Raw      *Buckets[ops.KV[K, V]]
	sketches []Sketch // per bucket, nil unless hash-partitioned
}

// smallBucket is the most records a bucket may hold across every map
// output for Distinct to answer their number instead of merging sketches:
// a table that many keys too large costs less than the merge.
const smallBucket = 1024

// Distinct estimates the number of distinct keys in bucket q across outs:
// from the merged sketches when every output has them, else the number of
// combined records (an upper bound for them alone). For a bucket of at most
// smallBucket records in all, their number is the answer: the sketches are
// not merged.
func Distinct[K comparable, V, C any](outs []*MapOutput[K, V, C], q int) int {
	size, records := 0, 0
	sketched := true
	for _, o := range outs {
		if o == nil {
			continue
		}
		size += o.Combined.Size(q)
		records += o.Combined.Size(q)
		if o.Raw != nil {
			records += o.Raw.Size(q)
		}
		sketched = sketched && o.sketches != nil
	}
	if !sketched {
		return size
	}
	if records <= smallBucket {
		return records
	}
	var s Sketch
	for _, o := range outs {
		if o != nil {
			s.Merge(&o.sketches[q])
		}
	}
	return s.Estimate() * 21 / 20 // the estimate's error is about 3%
}

// Reduce merges bucket q of every output into one table, sized by
// [Distinct].
func Reduce[K comparable, V, C any](agg ops.Aggregator[V, C], outs []*MapOutput[K, V, C], q int, tick func() error) (*Table[K, V, C], error) {
	t := NewTable[K](agg, Distinct(outs, q))
	for _, o := range outs {
		if o == nil {
			continue
		}
		for _, c := range o.Combined.Chunks(q) {
			for _, kv := range c {
				if err := tick(); err != nil {
					return nil, err
				}
				t.Merge(kv.Key, kv.Value)
			}
		}
		if o.Raw == nil {
			continue
		}
		for _, c := range o.Raw.Chunks(q) {
			for _, kv := range c {
				if err := tick(); err != nil {
					return nil, err
				}
				t.Add(kv.Key, kv.Value)
			}
		}
	}
	return t, nil
}
