package kafkatest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

func TestBrokerSpeaksKafkaToKafkaGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := kafkatest.Start(kafkatest.NumBrokers(2), kafkatest.Topic("t", 3))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var msgs []kafkatest.Message
	for i := range 30 {
		msgs = append(msgs, kafkatest.Message{Partition: i % 3, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint("v", i))})
	}
	if err := b.Produce(ctx, "t", msgs...); err != nil {
		t.Fatal(err)
	}
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...), Transport: tr}

	lo, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{
		"t": {kafkago.FirstOffsetOf(0), kafkago.LastOffsetOf(0), kafkago.FirstOffsetOf(1), kafkago.LastOffsetOf(1)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, po := range lo.Topics["t"] {
		if po.Error != nil || po.FirstOffset != 0 || po.LastOffset != 10 {
			t.Errorf("ListOffsets partition %d = first %d last %d err %v, want 0, 10, nil", po.Partition, po.FirstOffset, po.LastOffset, po.Error)
		}
	}
	if first, end, err := b.Offsets("t", 2); err != nil || first != 0 || end != 10 {
		t.Errorf("Offsets(t, 2) = %d, %d, %v; want 0, 10, nil", first, end, err)
	}

	f, err := client.Fetch(ctx, &kafkago.FetchRequest{Topic: "t", Partition: 1, Offset: 4, MaxBytes: 1 << 20})
	if err != nil || f.Error != nil {
		t.Fatalf("Fetch: %v, %v", err, f.Error)
	}
	var got []int64
	for {
		r, err := f.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Offset >= 4 {
			got = append(got, r.Offset)
		}
	}
	if len(got) != 6 || got[0] != 4 || got[5] != 9 {
		t.Errorf("fetched offsets %v, want 4..9", got)
	}

	// A standalone commit (no group membership) and reading it back.
	oc, err := client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafkago.OffsetCommit{"t": {{Partition: 0, Offset: 7}}}})
	if err != nil || oc.Topics["t"][0].Error != nil {
		t.Fatalf("OffsetCommit: %v %+v", err, oc)
	}
	of, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "g", Topics: map[string][]int{"t": {0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range of.Topics["t"] {
		want := map[int]int64{0: 7, 1: -1}[p.Partition]
		if p.CommittedOffset != want {
			t.Errorf("committed offset of t/%d = %d, want %d", p.Partition, p.CommittedOffset, want)
		}
	}
}

func TestDataDirSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, err := kafkatest.Start(kafkatest.DataDir(dir), kafkatest.Topic("t", 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Produce(ctx, "t", kafkatest.Message{Partition: 1, Value: []byte("x")}, kafkatest.Message{Partition: 1, Value: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = kafkatest.Start(kafkatest.DataDir(dir), kafkatest.Topic("t", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, end, err := b.Offsets("t", 1); err != nil || end != 2 {
		t.Errorf("after a restart, t/1 ends at %d (%v), want 2", end, err)
	}
}

// Every option value Start cannot use is an error wrapping dstream.ErrInvalid that
// names the option, before any broker starts: an AutoCreate or MinSessionTimeout
// of 0 or less was ignored.
func TestStartRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []kafkatest.Opt
		want string
	}{
		{[]kafkatest.Opt{kafkatest.NumBrokers(0)}, "NumBrokers(0), want at least 1"},
		{[]kafkatest.Opt{kafkatest.Topic("t", 0)}, `Topic("t", 0), want a name and at least 1 partition`},
		{[]kafkatest.Opt{kafkatest.Topic("", 1)}, `Topic("", 1)`},
		{[]kafkatest.Opt{kafkatest.AutoCreate(0)}, "AutoCreate(0), want at least 1 partition"},
		{[]kafkatest.Opt{kafkatest.MinSessionTimeout(-time.Second)}, "MinSessionTimeout(-1s), want > 0"},
		{[]kafkatest.Opt{kafkatest.DataDir("")}, `DataDir(""), want a directory`},
		{[]kafkatest.Opt{kafkatest.Ports(70000)}, "Ports([70000]), want one port from 0 to 65535 per broker"},
		{[]kafkatest.Opt{kafkatest.Ports()}, "Ports([])"},
		{[]kafkatest.Opt{kafkatest.NumBrokers(2), kafkatest.Ports(0)}, "Ports([0]), want one port per broker (2)"},
		{[]kafkatest.Opt{kafkatest.SASL("GSSAPI", "u", "p")}, `SASL("GSSAPI", "u", …)`},
		{[]kafkatest.Opt{kafkatest.SASL("PLAIN", "", "p")}, `SASL("PLAIN", "", …)`},
	} {
		b, err := kafkatest.Start(tc.opts...)
		if err == nil {
			b.Close()
			t.Errorf("Start with %s succeeded", tc.want)
			continue
		}
		if !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start: %v; want an error wrapping ErrInvalid that says %q", err, tc.want)
		}
	}
}

func TestStopAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := kafkatest.Start(kafkatest.DataDir(t.TempDir()), kafkatest.Topic("t", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Produce(ctx, "t", kafkatest.Message{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	addrs := b.Addrs()
	b.Stop()
	if conn, err := net.Dial("tcp", addrs[0]); err == nil {
		conn.Close()
		t.Errorf("a stopped broker accepted a connection on %s", addrs[0])
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := b.Addrs(); !slices.Equal(got, addrs) {
		t.Errorf("restarted on %v, want %v", got, addrs)
	}
	if err := b.Produce(ctx, "t", kafkatest.Message{Value: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if _, end, err := b.Offsets("t", 0); err != nil || end != 2 {
		t.Errorf("after a restart, t/0 ends at %d (%v), want 2", end, err)
	}
	if err := b.Restart(); err == nil {
		t.Error("Restart of a running broker succeeded")
	}
}

func TestNewClosesTheBrokerWhenTheTestEnds(t *testing.T) {
	var addr string
	t.Run("test", func(t *testing.T) {
		b := kafkatest.New(t, kafkatest.NumBrokers(1))
		addr = b.Addrs()[0]
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("the broker does not accept connections: %v", err)
		}
		conn.Close()
	})
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Errorf("the broker at %s accepts connections after its test ended", addr)
	}
}
