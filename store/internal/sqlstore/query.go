package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Querier runs statements on a database, a connection or a transaction,
// whichever driver is underneath. Statements are written with ?
// placeholders; an adapter whose driver numbers them rebinds them.
type Querier interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query for one row; the row's Scan returns an error
	// matching sql.ErrNoRows if there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// SendBatch runs b's statements in order, stopping at the first error,
	// in as few round trips as the driver allows. Outside a transaction
	// they are not atomic with every driver: a batch that must be is sent
	// in one.
	SendBatch(ctx context.Context, b *Batch) error
}

// Row is a row of QueryRow.
type Row interface{ Scan(dest ...any) error }

// Rows are the rows of Query. Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Conn is an open transaction of a driver.
type Conn interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Copier is a Querier that can bulk-load rows: PostgreSQL's COPY.
type Copier interface {
	CopyFrom(ctx context.Context, table string, columns []string, rows int, row func(i int) ([]any, error)) (int64, error)
}

// Batch is a list of statements sent together (see Querier.SendBatch).
type Batch struct{ items []batchItem }

type batchItem struct {
	query string
	args  []any
	scan  func(Row) error // for QueryRow
	n     *int64          // for Exec: rows changed are added here, if set
}

// Exec queues a statement; the rows it changes are added to *n unless n
// is nil.
func (b *Batch) Exec(n *int64, query string, args ...any) {
	b.items = append(b.items, batchItem{query: query, args: args, n: n})
}

// QueryRow queues a query for one row, which scan reads.
func (b *Batch) QueryRow(scan func(Row) error, query string, args ...any) {
	b.items = append(b.items, batchItem{query: query, args: args, scan: scan})
}

// drainer is a Querier that can run a query whose rows are all read
// before anything else runs, through a statement prepared once, which a
// transaction cannot do for rows read while other statements run.
type drainer interface {
	queryDrained(ctx context.Context, query string, args ...any) (Rows, error)
}

// queryAll runs query and scans each row with scan, which must not run
// statements itself: the rows are read to the end before queryAll
// returns.
func queryAll[T any](ctx context.Context, q Querier, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	var rows Rows
	var err error
	if d, ok := q.(drainer); ok {
		rows, err = d.queryDrained(ctx, query, args...)
	} else {
		rows, err = q.Query(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// placeholders is n parameters of an IN list: "?, ?, ?".
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// queryEach is queryAll for a scan that keeps what it reads itself.
func queryEach(ctx context.Context, q Querier, scan func(Row) error, query string, args ...any) error {
	_, err := queryAll(ctx, q, func(r Row) (struct{}, error) { return struct{}{}, scan(r) }, query, args...)
	return err
}

// oneRow turns a change of what, named id, that matched no row into an
// error matching sql.ErrNoRows.
func oneRow(n int64, err error, what, id string) error {
	if err == nil && n == 0 {
		err = &noRows{what + " " + id}
	}
	return err
}

type noRows struct{ what string }

func (e *noRows) Error() string        { return e.what + ": " + sql.ErrNoRows.Error() }
func (e *noRows) Is(target error) bool { return target == sql.ErrNoRows }

// Columns.

// Nanos is t as stored: Unix nanoseconds, NULL for the zero time.
func Nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// FromNanos reads a time stored by Nanos.
func FromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// nullString stores "" as NULL: for references, which are NULL when unset.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
