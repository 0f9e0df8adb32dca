//go:build unix

package kafka_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/internal/fulldisk"
	"github.com/spatedev/spate/source/kafka"
	"github.com/spatedev/spate/source/kafka/kafkatest"
)

// The receiver's write-ahead log on a full disk: the disk is the process's file size
// limit (package fulldisk), 4 KiB, which the Context's checkpoint files stay under and
// which a block of the 8 KiB records below exceeds.
const (
	fullDisk  = 4 << 10
	bigRecord = 8 << 10
)

// produceBig writes n records of bigRecord bytes, values "v<i> xxx…".
func produceBig(t *testing.T, b *kafkatest.Broker, n int) {
	t.Helper()
	produce(t, b, "events", 2, 0, n, strings.Repeat("x", bigRecord)+" v")
}

// TestReceiverFailsRunWhenItsLogCannotBeWritten fills the disk for good: the receiver
// cannot log a block, each batch says so (InputInfo.Unavailable), and once
// UnavailableTimeout has passed the next batch fails Run with an error naming the
// write-ahead log's directory, instead of batches staying empty forever.
func TestReceiverFailsRunWhenItsLogCannotBeWritten(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	dir := t.TempDir()
	r := newReceiverRun(t, b, "g", dir, dstream.NewManualClock(epoch), kafka.UnavailableTimeout(time.Second))
	fulldisk.Limit(t, fullDisk)
	produceBig(t, b, 10)
	r.start()
	err := r.untilRunFails()
	wal := filepath.Join(dir, "receivers", "g-events")
	for _, want := range []string{"write-ahead log " + wal, "UnavailableTimeout", "file too large"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run's error %q does not name %q", err, want)
		}
	}
	if !r.wasUnavailable("cannot log received records in the write-ahead log " + wal) {
		t.Errorf("no batch said the receiver could not log; unavailable: %v", r.unavailable)
	}
}

// TestReceiverGoesOnOnceItsLogCanBeWrittenAgain fills the disk until the receiver has
// failed to log a block (which leaves the log refusing appends), then frees space:
// the receiver repairs the log and every record is processed.
func TestReceiverGoesOnOnceItsLogCanBeWrittenAgain(t *testing.T) {
	b := kafkatest.New(t, kafkatest.Topic("events", 2))
	r := newReceiverRun(t, b, "g", t.TempDir(), dstream.NewManualClock(epoch))
	free := fulldisk.Limit(t, fullDisk)
	produceBig(t, b, 10)
	r.start()
	r.until(func() bool { return r.wasUnavailable("cannot log received records in the write-ahead log") })
	if n := r.count(); n != 0 {
		t.Fatalf("%d records processed with a full disk", n)
	}
	free()
	r.until(func() bool { return r.count() == 10 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		v := strings.Repeat("x", bigRecord) + " v" + strconv.Itoa(i)
		if r.read[v] == 0 {
			t.Errorf("record %d was not processed", i)
		}
	}
}
