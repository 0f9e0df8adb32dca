package dstream_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spatedev/spate/dstream"
)

func TestBatchLog(t *testing.T) {
	at := func(k int) time.Time { return epoch.Add(time.Duration(k) * interval) }
	var l dstream.BatchLog[string]
	for k := 1; k <= 4; k++ {
		l.Record(at(k), string(rune('a'+k-1)))
	}
	// From batch 2 on, including batches produced after those asked for; 1 is forgotten.
	ts, vs := l.Saved(at(2))
	if diff := cmp.Diff([]string{"b", "c", "d"}, vs); diff != "" {
		t.Errorf("Saved(2) (-want +got):\n%s", diff)
	}
	if len(ts) != 3 || !ts[0].Equal(at(2)) || !ts[2].Equal(at(4)) {
		t.Errorf("Saved(2) times %v", ts)
	}
	if _, vs := l.Saved(at(1)); len(vs) != 3 {
		t.Errorf("batch 1 was not forgotten: %v", vs)
	}

	// After a restart: the saved batches are produced again, whatever the times'
	// location, and recorded again for the next checkpoints.
	var r dstream.BatchLog[string]
	if err := r.Restore(ts, vs); err != nil {
		t.Fatal(err)
	}
	if got := r.Restored(); !cmp.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("Restored = %v", got)
	}
	if v, ok := r.Again(at(3).In(time.FixedZone("x", 3600))); !ok || v != "c" {
		t.Errorf("Again(3) = %q, %v; want c", v, ok)
	}
	if _, ok := r.Again(at(3)); ok {
		t.Error("Again(3) twice")
	}
	if _, ok := r.Again(at(5)); ok {
		t.Error("Again(5) of a batch never recorded")
	}
	if _, vs := r.Saved(at(1)); !cmp.Equal(vs, []string{"c"}) {
		t.Errorf("after Again(3), Saved = %v, want [c]", vs)
	}
	if err := r.Restore(ts, vs[:1]); err == nil {
		t.Error("Restore of 3 times and 1 batch succeeded")
	}
}
