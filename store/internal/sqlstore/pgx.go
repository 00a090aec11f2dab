package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The pgx adapter, for PostgreSQL, whose placeholders are numbered.

// pgxQuerier is what a *pgxpool.Pool, a *pgx.Conn and a pgx.Tx have in
// common.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// PGX adapts a pgx pool, connection or transaction. Statements are
// rebound through r, which the adapters of one store share. A batch sent
// outside a transaction runs in one implicit transaction.
func PGX(q pgxQuerier, r *Rebinder) Querier { return &pgxAdapter{q, r} }

// pgxPool is what a *pgxpool.Pool has to begin transactions.
type pgxPool interface {
	pgxQuerier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// PGXBegin returns a transaction on pool that begins with its first
// statement: BEGIN goes in the same round trip as a first statement, batch
// or query for a row (pgx.Batch.BeginTx), and before a first query for rows
// or COPY. A transaction that ran nothing has nothing to commit.
func PGXBegin(pool pgxPool, r *Rebinder) Conn { return &pgxLazyTx{pool: pool, r: r} }

type pgxAdapter struct {
	q pgxQuerier
	r *Rebinder
}

func (a *pgxAdapter) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := a.q.Exec(ctx, a.r.Rebind(query), args...)
	return tag.RowsAffected(), err
}

func (a *pgxAdapter) QueryRow(ctx context.Context, query string, args ...any) Row {
	return a.q.QueryRow(ctx, a.r.Rebind(query), args...)
}

func (a *pgxAdapter) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return a.q.Query(ctx, a.r.Rebind(query), args...)
}

func (a *pgxAdapter) SendBatch(ctx context.Context, b *Batch) error {
	if len(b.items) == 0 {
		return nil
	}
	pb := &pgx.Batch{}
	a.queue(pb, b)
	return a.q.SendBatch(ctx, pb).Close()
}

// queue queues b's statements in pb.
func (a *pgxAdapter) queue(pb *pgx.Batch, b *Batch) {
	for _, it := range b.items {
		qq := pb.Queue(a.r.Rebind(it.query), it.args...)
		switch {
		case it.scan != nil:
			qq.QueryRow(func(row pgx.Row) error { return it.scan(row) })
		case it.n != nil:
			qq.Exec(func(tag pgconn.CommandTag) error {
				*it.n += tag.RowsAffected()
				return nil
			})
		}
	}
}

// CopyFrom loads rows into table with PostgreSQL's COPY: one round trip,
// all or none.
func (a *pgxAdapter) CopyFrom(ctx context.Context, table string, columns []string, rows int, row func(i int) ([]any, error)) (int64, error) {
	return a.q.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromSlice(rows, row))
}

type pgxTx struct {
	pgxAdapter
	tx pgx.Tx
}

func (t *pgxTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *pgxTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

type pgxLazyTx struct {
	pool pgxPool
	r    *Rebinder
	tx   *pgxTx // once begun
}

// begun begins the transaction unless it has begun.
func (l *pgxLazyTx) begun(ctx context.Context) (*pgxTx, error) {
	if l.tx == nil {
		tx, err := l.pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		l.tx = &pgxTx{pgxAdapter{tx, l.r}, tx}
	}
	return l.tx, nil
}

func (l *pgxLazyTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if l.tx != nil {
		return l.tx.Exec(ctx, query, args...)
	}
	var n int64
	b := &Batch{}
	b.Exec(&n, query, args...)
	err := l.SendBatch(ctx, b)
	return n, err
}

func (l *pgxLazyTx) QueryRow(ctx context.Context, query string, args ...any) Row {
	if l.tx != nil {
		return l.tx.QueryRow(ctx, query, args...)
	}
	return lazyRow{l, ctx, query, args}
}

// lazyRow is a first query for a row, sent with BEGIN when it is scanned.
type lazyRow struct {
	l     *pgxLazyTx
	ctx   context.Context
	query string
	args  []any
}

func (r lazyRow) Scan(dest ...any) error {
	b := &Batch{}
	b.QueryRow(func(row Row) error { return row.Scan(dest...) }, r.query, r.args...)
	return r.l.SendBatch(r.ctx, b)
}

func (l *pgxLazyTx) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Query(ctx, query, args...)
}

func (l *pgxLazyTx) SendBatch(ctx context.Context, b *Batch) error {
	if l.tx != nil {
		return l.tx.SendBatch(ctx, b)
	}
	if len(b.items) == 0 {
		return nil
	}
	pb := &pgx.Batch{}
	pb.BeginTx(pgx.TxOptions{})
	a := &pgxAdapter{l.pool, l.r}
	a.queue(pb, b)
	br := l.pool.SendBatch(ctx, pb)
	// The transaction holds the connection from here on, begun or not:
	// Commit or Rollback releases it.
	tx := br.Tx()
	l.tx = &pgxTx{pgxAdapter{tx, l.r}, tx}
	return br.Close()
}

func (l *pgxLazyTx) CopyFrom(ctx context.Context, table string, columns []string, rows int, row func(i int) ([]any, error)) (int64, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, columns, rows, row)
}

func (l *pgxLazyTx) Commit(ctx context.Context) error {
	if l.tx == nil {
		return nil
	}
	return l.tx.Commit(ctx)
}

func (l *pgxLazyTx) Rollback(ctx context.Context) error {
	if l.tx == nil {
		return nil
	}
	return l.tx.Rollback(ctx)
}

// Rebinder turns statements written with ? placeholders into PostgreSQL's
// $1, $2, ...: once per statement text, then from a cache. Statements
// never carry values, only placeholders, so the cache holds one entry per
// statement the store can make. The zero Rebinder is ready.
type Rebinder struct{ cache sync.Map }

// Rebind returns query with its placeholders numbered.
func (r *Rebinder) Rebind(query string) string {
	if v, ok := r.cache.Load(query); ok {
		return v.(string)
	}
	out := rebind(query)
	r.cache.Store(query, out)
	return out
}

// rebind numbers the ? placeholders of query, leaving alone those in
// quoted strings and identifiers.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
