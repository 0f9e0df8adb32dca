package kafka

import (
	"encoding/json"
	"fmt"
	"time"
)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

// String returns "topic/partition".
func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// OffsetRange is the records of one Kafka partition from offset From (included) to
// Until (excluded): what one partition of a batch reads (Spark's OffsetRange).
type OffsetRange struct {
	Topic     string
	Partition int
	From      int64
	Until     int64
}

// TopicPartition returns the range's partition.
func (o OffsetRange) TopicPartition() TopicPartition {
	return TopicPartition{Topic: o.Topic, Partition: o.Partition}
}

// Count returns the number of offsets in the range, Until - From.
func (o OffsetRange) Count() int64 { return o.Until - o.From }

// String returns "topic/partition [from, until)".
func (o OffsetRange) String() string {
	return fmt.Sprintf("%s/%d [%d, %d)", o.Topic, o.Partition, o.From, o.Until)
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a Kafka record with its key and value deserialized (Spark's
// ConsumerRecord).
type Record[K, V any] struct {
	Topic     string
	Partition int
	Offset    int64
	Timestamp time.Time
	// Headers are the record's headers, nil if it has none.
	Headers []Header
	Key     K
	Value   V
}

// Deserializer turns the bytes of a record's key or value into a T. data is nil when
// the record has no key (or value), and is valid only during the call: a deserializer
// that keeps it must copy it. An error fails the batch with an error naming the topic,
// partition and offset, unless a DeserializeErrorHandler decides otherwise.
type Deserializer[T any] func(topic string, data []byte) (T, error)

// BytesDeserializer returns the bytes as they are (copied; nil stays nil).
func BytesDeserializer() Deserializer[[]byte] {
	return func(_ string, data []byte) ([]byte, error) {
		if data == nil {
			return nil, nil
		}
		return append(make([]byte, 0, len(data)), data...), nil
	}
}

// StringDeserializer returns the bytes as a string ("" for none).
func StringDeserializer() Deserializer[string] {
	return func(_ string, data []byte) (string, error) { return string(data), nil }
}

// JSONDeserializer decodes the bytes as JSON into a T (encoding/json); no bytes give
// T's zero value.
func JSONDeserializer[T any]() Deserializer[T] {
	return func(_ string, data []byte) (T, error) {
		var v T
		if data == nil {
			return v, nil
		}
		err := json.Unmarshal(data, &v)
		return v, err
	}
}

// Serializer turns a key or value into the bytes written to Kafka (see WriteToKafka).
// Returning nil bytes writes no key (or a null value).
type Serializer[T any] func(topic string, v T) ([]byte, error)

// BytesSerializer writes the bytes as they are.
func BytesSerializer() Serializer[[]byte] {
	return func(_ string, v []byte) ([]byte, error) { return v, nil }
}

// StringSerializer writes the string's bytes.
func StringSerializer() Serializer[string] {
	return func(_ string, v string) ([]byte, error) { return []byte(v), nil }
}

// JSONSerializer writes v encoded as JSON (encoding/json).
func JSONSerializer[T any]() Serializer[T] {
	return func(_ string, v T) ([]byte, error) { return json.Marshal(v) }
}

// Serde is a Serializer and the Deserializer that reads what it writes, for a topic
// Spate both writes and reads (Repartition's).
type Serde[T any] struct {
	Serializer   Serializer[T]
	Deserializer Deserializer[T]
}

// StringSerde is StringSerializer and StringDeserializer.
func StringSerde() Serde[string] { return Serde[string]{StringSerializer(), StringDeserializer()} }

// BytesSerde is BytesSerializer and BytesDeserializer.
func BytesSerde() Serde[[]byte] { return Serde[[]byte]{BytesSerializer(), BytesDeserializer()} }

// JSONSerde is JSONSerializer and JSONDeserializer.
func JSONSerde[T any]() Serde[T] { return Serde[T]{JSONSerializer[T](), JSONDeserializer[T]()} }
