package kafka

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spatedev/spate/dstream"
)

// ErrOffsetMismatch is wrapped by OffsetTable.Apply's error when a batch does not start
// where the stored offsets say the previous one ended: a range applied twice, or one
// skipped. The transaction is rolled back and nothing is written.
var ErrOffsetMismatch = errors.New("kafka: offset range does not follow the stored offsets")

// OffsetTable keeps a consumer group's offsets in a SQL table, written in the same
// transaction as a batch's results: the seeds' third way of storing offsets, "your own
// data store", which gives exactly-once results even for aggregations. At start, Load
// the stored offsets and start the stream with Assign from them; in each batch, Apply
// the batch's ranges with a function that writes its results in the transaction.
//
// The table is
//
//	kafka_offsets(group_id TEXT, topic TEXT, partition INTEGER, next_offset INTEGER NOT NULL,
//	              PRIMARY KEY (group_id, topic, partition))
//
// and the SQL is that of SQLite and PostgreSQL (INSERT … ON CONFLICT … DO UPDATE).
type OffsetTable struct {
	db    *sql.DB
	group string
	table string
	ph    func(i int) string
}

// A TableOpt configures an OffsetTable (NewOffsetTable).
type TableOpt interface{ applyTable(*OffsetTable) error }

// tableOpt is a TableOpt: it sets an option, or says why it cannot.
type tableOpt func(*OffsetTable) error

func (o tableOpt) applyTable(t *OffsetTable) error { return o(t) }

// sqlName is what TableName accepts: an SQL identifier, optionally qualified by a
// schema, written into the queries as it is.
var sqlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// TableName sets the table's name: an SQL identifier (letters, digits and '_', not
// starting with a digit), optionally qualified by a schema ("offsets.kafka"); any
// other name is an error. Default: "kafka_offsets".
func TableName(name string) TableOpt {
	return tableOpt(func(o *OffsetTable) error {
		if !sqlName.MatchString(name) {
			return fmt.Errorf("TableName(%q), want an SQL identifier, optionally schema-qualified", name)
		}
		o.table = name
		return nil
	})
}

// DollarPlaceholders writes query parameters as $1, $2, … (PostgreSQL). Default: ?
// (SQLite).
func DollarPlaceholders() TableOpt {
	return tableOpt(func(o *OffsetTable) error {
		o.ph = func(i int) string { return fmt.Sprintf("$%d", i) }
		return nil
	})
}

// NewOffsetTable returns the offsets of group in db. A nil db, an empty group or an
// invalid option value is an error wrapping dstream.ErrInvalid.
func NewOffsetTable(db *sql.DB, group string, opts ...TableOpt) (*OffsetTable, error) {
	var errs []error
	if db == nil {
		errs = append(errs, errors.New("nil db"))
	}
	if group == "" {
		errs = append(errs, errors.New("empty group"))
	}
	o := &OffsetTable{db: db, group: group, table: "kafka_offsets", ph: func(int) string { return "?" }}
	for _, opt := range opts {
		if opt != nil {
			if err := opt.applyTable(o); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("kafka.NewOffsetTable: %w: %w", dstream.ErrInvalid, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

func (o *OffsetTable) query(q string) string {
	n := 0
	q = strings.ReplaceAll(q, "{table}", o.table)
	var b strings.Builder
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString(o.ph(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Create creates the table if it does not exist.
func (o *OffsetTable) Create(ctx context.Context) error {
	_, err := o.db.ExecContext(ctx, o.query(`CREATE TABLE IF NOT EXISTS {table} (group_id TEXT NOT NULL, topic TEXT NOT NULL, "partition" INTEGER NOT NULL, next_offset INTEGER NOT NULL, PRIMARY KEY (group_id, topic, "partition"))`))
	if err != nil {
		return fmt.Errorf("kafka.OffsetTable: creating %s: %w", o.table, err)
	}
	return nil
}

// Load returns the group's stored offsets: for each partition, the next offset to
// read. Pass them to Assign; a partition with none starts where OffsetReset says.
func (o *OffsetTable) Load(ctx context.Context) (map[TopicPartition]int64, error) {
	rows, err := o.db.QueryContext(ctx, o.query(`SELECT topic, "partition", next_offset FROM {table} WHERE group_id = ?`), o.group)
	if err != nil {
		return nil, fmt.Errorf("kafka.OffsetTable: loading the offsets of group %q: %w", o.group, err)
	}
	defer rows.Close()
	out := map[TopicPartition]int64{}
	for rows.Next() {
		var tp TopicPartition
		var off int64
		if err := rows.Scan(&tp.Topic, &tp.Partition, &off); err != nil {
			return nil, fmt.Errorf("kafka.OffsetTable: loading the offsets of group %q: %w", o.group, err)
		}
		out[tp] = off
	}
	return out, rows.Err()
}

// Apply runs write and stores the ranges' until offsets in one transaction. It first
// checks that every range starts at its partition's stored offset (a partition with
// no stored offset is accepted: nothing of it was applied yet); otherwise nothing is
// written and the error wraps ErrOffsetMismatch, naming the range and the stored
// offset. An error from write rolls everything back.
func (o *OffsetTable) Apply(ctx context.Context, ranges []OffsetRange, write func(ctx context.Context, tx *sql.Tx) error) (err error) {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("kafka.OffsetTable: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	check := o.query(`SELECT next_offset FROM {table} WHERE group_id = ? AND topic = ? AND "partition" = ?`)
	for _, r := range ranges {
		var stored int64
		switch err := tx.QueryRowContext(ctx, check, o.group, r.Topic, r.Partition).Scan(&stored); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("kafka.OffsetTable: reading the stored offset of %s/%d: %w", r.Topic, r.Partition, err)
		case stored != r.From:
			return fmt.Errorf("%w: %v, but group %q stored %d for %s/%d", ErrOffsetMismatch, r, o.group, stored, r.Topic, r.Partition)
		}
	}
	if err := write(ctx, tx); err != nil {
		return err
	}
	upsert := o.query(`INSERT INTO {table} (group_id, topic, "partition", next_offset) VALUES (?, ?, ?, ?) ON CONFLICT (group_id, topic, "partition") DO UPDATE SET next_offset = excluded.next_offset`)
	for _, r := range ranges {
		if _, err := tx.ExecContext(ctx, upsert, o.group, r.Topic, r.Partition, r.Until); err != nil {
			return fmt.Errorf("kafka.OffsetTable: storing the offset of %v: %w", r, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("kafka.OffsetTable: committing: %w", err)
	}
	return nil
}
