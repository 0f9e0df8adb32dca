package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrCorrupt is wrapped by every error that reports a checkpoint file that is not valid:
// bad magic bytes, an unknown format version, a wrong length, a checksum mismatch or a
// payload that does not decode. [Store.Latest] wraps it when the directory holds
// checkpoint files and none of them is valid.
var ErrCorrupt = errors.New("checkpoint: corrupt")

// A Checkpoint is what a streaming job saves to resume after a restart. It is data only:
// positions and state, never code.
type Checkpoint struct {
	// Time is the batch time of the last completed batch.
	Time time.Time `msgpack:"time"`
	// Interval is the batch interval.
	Interval time.Duration `msgpack:"interval"`
	// Sources holds each input source's position, by stable source name.
	Sources []Entry `msgpack:"sources"`
	// States holds each stateful operator's state, by stable operator name.
	States []Entry `msgpack:"states"`
}

// An Entry is one named piece of a checkpoint: a source's position or an operator's
// state.
type Entry struct {
	// Name is the stable name of the source or operator. It is unique within
	// Checkpoint.Sources and within Checkpoint.States.
	Name string `msgpack:"name"`
	// Type names the Go type encoded in Data (as fmt's %T prints it), so recovery can
	// report a type that changed.
	Type string `msgpack:"type"`
	// Data is the position or state, encoded with [Encode] by its owner and opaque to
	// this package.
	Data []byte `msgpack:"data"`
}

// NewEntry returns the entry named name that holds v encoded with [Encode], with Type
// set to v's Go type as fmt's %T prints it (for example "map[string]int64").
func NewEntry(name string, v any) (Entry, error) {
	data, err := Encode(v)
	if err != nil {
		return Entry{}, fmt.Errorf("checkpoint: entry %q: %w", name, err)
	}
	return Entry{Name: name, Type: fmt.Sprintf("%T", v), Data: data}, nil
}

// Source returns the entry of the source named name, and whether there is one.
func (cp *Checkpoint) Source(name string) (Entry, bool) { return find(cp.Sources, name) }

// State returns the entry of the stateful operator named name, and whether there is one.
func (cp *Checkpoint) State(name string) (Entry, bool) { return find(cp.States, name) }

func find(entries []Entry, name string) (Entry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// check reports what makes cp unfit to be saved or restored.
func (cp *Checkpoint) check() error {
	if cp.Interval < 0 {
		return fmt.Errorf("negative batch interval %v", cp.Interval)
	}
	if err := checkNames("source", cp.Sources); err != nil {
		return err
	}
	return checkNames("state", cp.States)
}

func checkNames(kind string, entries []Entry) error {
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		if e.Name == "" {
			return fmt.Errorf("%s entry %d has no name", kind, i)
		}
		if seen[e.Name] {
			return fmt.Errorf("two %s entries named %q", kind, e.Name)
		}
		seen[e.Name] = true
	}
	return nil
}

// Encode encodes v with msgpack. Sources and operators use it for Entry.Data, so that
// every part of a checkpoint is encoded the same way.
//
// Integers take the fewest bytes that hold their value, whatever their Go type.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, v); err != nil {
		return nil, fmt.Errorf("checkpoint: encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

func encode(buf *bytes.Buffer, v any) error {
	enc := msgpack.NewEncoder(buf)
	enc.UseCompactInts(true)
	return enc.Encode(v)
}

// Decode decodes data, as [Encode] made it, into v, which must be a non-nil pointer.
//
// Decode is safe on arbitrary bytes: before decoding it checks that data holds exactly
// one well-formed msgpack value whose declared lengths fit in data and whose nesting is
// at most 100 deep, so a forged length can neither make it allocate more than a small
// multiple of len(data) nor exhaust the stack (ext payloads are opaque to this check).
// A panic of the decoder is returned as an error.
func Decode(data []byte, v any) error {
	if err := decode(data, v); err != nil {
		return fmt.Errorf("checkpoint: decode %T: %w", v, err)
	}
	return nil
}

// decode is Decode without the error's prefix.
func decode(data []byte, v any) (err error) {
	if err := checkMsgpack(data); err != nil {
		return err
	}
	// msgpack/v5 panics on some inputs that are well-formed msgpack but do not fit the
	// target type; for example, nil for a time.Time inside a struct makes it call
	// reflect.Value.IsNil on a struct.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: the decoder panicked: %v", r)
		}
	}()
	return msgpack.Unmarshal(data, v)
}

// The file format (see doc.go): a fixed header, then the msgpack payload.
const (
	fileMagic   = "SPATECKP"
	fileVersion = 1
	headerSize  = 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// marshal returns the file contents for cp.
func marshal(cp *Checkpoint) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, headerSize))
	if err := encode(&buf, cp); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	data := buf.Bytes()
	payload := data[headerSize:]
	copy(data, fileMagic)
	binary.BigEndian.PutUint32(data[8:], fileVersion)
	binary.BigEndian.PutUint64(data[12:], uint64(len(payload)))
	binary.BigEndian.PutUint32(data[20:], crc32.Checksum(payload, castagnoli))
	return data, nil
}

// Parse decodes the contents of a checkpoint file. It never panics: bytes that are not a
// valid checkpoint give an error that wraps [ErrCorrupt] and says what is wrong. Times
// in the result are in UTC.
func Parse(data []byte) (*Checkpoint, error) {
	cp, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return cp, nil
}

// parse is Parse without the ErrCorrupt wrapping, so that its errors read well in a list.
func parse(data []byte) (*Checkpoint, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("truncated: %d bytes, shorter than the %d-byte header", len(data), headerSize)
	}
	if string(data[:8]) != fileMagic {
		return nil, fmt.Errorf("bad magic bytes %q, want %q", data[:8], fileMagic)
	}
	if v := binary.BigEndian.Uint32(data[8:]); v != fileVersion {
		return nil, fmt.Errorf("unknown format version %d (this build reads version %d)", v, fileVersion)
	}
	payload := data[headerSize:]
	switch n := binary.BigEndian.Uint64(data[12:]); {
	case n > uint64(len(payload)):
		return nil, fmt.Errorf("truncated: header declares %d payload bytes, %d present", n, len(payload))
	case n < uint64(len(payload)):
		return nil, fmt.Errorf("wrong length: header declares %d payload bytes, %d present", n, len(payload))
	}
	if want, got := binary.BigEndian.Uint32(data[20:]), crc32.Checksum(payload, castagnoli); got != want {
		return nil, fmt.Errorf("checksum mismatch: payload CRC32C is %08x, header says %08x", got, want)
	}
	cp := new(Checkpoint)
	if err := decode(payload, cp); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if err := cp.check(); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	cp.Time = cp.Time.UTC()
	return cp, nil
}
