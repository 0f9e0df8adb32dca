package kafka_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/source/kafka"
)

func TestOffsetTableAppliesEachRangeOnce(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	offsets, err := kafka.NewOffsetTable(db, "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := offsets.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := offsets.Create(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE results (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	apply := func(n int, ranges ...kafka.OffsetRange) error {
		return offsets.Apply(ctx, ranges, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO results (n) VALUES (?)`, n)
			return err
		})
	}
	sum := func() (n int) {
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM results`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a0 := kafka.OffsetRange{Topic: "a", Partition: 0, From: 0, Until: 10}
	a1 := kafka.OffsetRange{Topic: "a", Partition: 1, From: 5, Until: 7}
	if err := apply(1, a0, a1); err != nil {
		t.Fatal(err)
	}
	// The same ranges again (a batch run twice): refused, nothing written.
	if err := apply(100, a0, a1); !errors.Is(err, kafka.ErrOffsetMismatch) {
		t.Errorf("applying a range twice = %v, want ErrOffsetMismatch", err)
	}
	// A skipped range: refused.
	if err := apply(100, kafka.OffsetRange{Topic: "a", Partition: 0, From: 12, Until: 20}); !errors.Is(err, kafka.ErrOffsetMismatch) {
		t.Errorf("skipping offsets = %v, want ErrOffsetMismatch", err)
	}
	// The next ranges: applied.
	if err := apply(2, kafka.OffsetRange{Topic: "a", Partition: 0, From: 10, Until: 15}, kafka.OffsetRange{Topic: "a", Partition: 1, From: 7, Until: 7}); err != nil {
		t.Fatal(err)
	}
	// A failing write rolls back the offsets too.
	boom := errors.New("boom")
	err = offsets.Apply(ctx, []kafka.OffsetRange{{Topic: "a", Partition: 0, From: 15, Until: 16}}, func(context.Context, *sql.Tx) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("a failing write = %v", err)
	}
	if n := sum(); n != 3 {
		t.Errorf("results sum to %d, want 3 (two batches applied once each)", n)
	}
	got, err := offsets.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[kafka.TopicPartition]int64{{Topic: "a", Partition: 0}: 15, {Topic: "a", Partition: 1}: 7}
	if !maps.Equal(got, want) {
		t.Errorf("Load = %v, want %v", got, want)
	}
	otherGroup, err := kafka.NewOffsetTable(db, "other")
	if err != nil {
		t.Fatal(err)
	}
	other, err := otherGroup.Load(ctx)
	if err != nil || len(other) != 0 {
		t.Errorf("another group's offsets: %v, %v; want none", other, err)
	}
}

// NewOffsetTable checks its arguments and options: the table name, written into the
// queries, must be an SQL identifier (it was taken as it was).
func TestNewOffsetTableRejectsInvalidArguments(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		db    *sql.DB
		group string
		opts  []kafka.TableOpt
		want  string
	}{
		{db, "g", []kafka.TableOpt{kafka.TableName("")}, `TableName(""), want an SQL identifier`},
		{db, "g", []kafka.TableOpt{kafka.TableName("offsets; DROP TABLE results")}, `TableName("offsets; DROP TABLE results")`},
		{db, "g", []kafka.TableOpt{kafka.TableName("1st")}, `TableName("1st")`},
		{nil, "g", nil, "nil db"},
		{db, "", nil, "empty group"},
	} {
		o, err := kafka.NewOffsetTable(tc.db, tc.group, tc.opts...)
		if o != nil || !errors.Is(err, dstream.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewOffsetTable = %v, %v; want an error wrapping ErrInvalid that says %q", o, err, tc.want)
		}
	}
	for _, name := range []string{"kafka_offsets", "spate.offsets", "_t1"} {
		if _, err := kafka.NewOffsetTable(db, "g", kafka.TableName(name), nil, kafka.DollarPlaceholders()); err != nil {
			t.Errorf("TableName(%q): %v", name, err)
		}
	}
}
