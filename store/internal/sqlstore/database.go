package sqlstore

import (
	"context"
	"database/sql"
)

// The database/sql adapter, for SQLite (modernc.org/sqlite). Its
// placeholders are ? already.

// sqlQuerier is what a *sql.DB, a *sql.Conn and a *sql.Tx have in common.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SQL adapts a *sql.DB, *sql.Conn or *sql.Tx. A batch runs one statement
// after another: outside a transaction, each commits by itself.
func SQL(q sqlQuerier) Querier { return sqlAdapter{q} }

// SQLTx adapts a database/sql transaction.
func SQLTx(tx *sql.Tx) Conn { return sqlTx{sqlAdapter{tx}, tx} }

type sqlAdapter struct{ q sqlQuerier }

func (a sqlAdapter) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := a.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (a sqlAdapter) QueryRow(ctx context.Context, query string, args ...any) Row {
	return a.q.QueryRowContext(ctx, query, args...)
}

func (a sqlAdapter) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := a.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (a sqlAdapter) SendBatch(ctx context.Context, b *Batch) error {
	for _, it := range b.items {
		if it.scan != nil {
			if err := it.scan(a.q.QueryRowContext(ctx, it.query, it.args...)); err != nil {
				return err
			}
			continue
		}
		n, err := a.Exec(ctx, it.query, it.args...)
		if err != nil {
			return err
		}
		if it.n != nil {
			*it.n += n
		}
	}
	return nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() } // its error is Err's

type sqlTx struct {
	sqlAdapter
	tx *sql.Tx
}

func (t sqlTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }
