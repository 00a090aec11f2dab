package sqlstore

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
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
func SQL(q sqlQuerier) Querier { return sqlAdapter{q: q} }

// SQLPool adapts a pool of connections that only read, whose statements
// run often are prepared once (see Statements; made with NewPoolStatements).
func SQLPool(db *sql.DB, stmts *Statements) Querier { return sqlAdapter{q: db, stmts: stmts} }

// SQLTx adapts a database/sql transaction. With stmts, the statements it
// runs often are prepared once (see Statements).
func SQLTx(tx *sql.Tx, stmts *Statements) Conn {
	return sqlTx{sqlAdapter{q: tx, tx: tx, stmts: stmts}, tx}
}

type sqlAdapter struct {
	q     sqlQuerier
	tx    *sql.Tx     // set in a transaction
	stmts *Statements // nil: every statement is parsed where it runs
}

// on returns what runs query: a statement prepared once, if there is one.
// held says the caller keeps rows open while it runs other statements,
// which a transaction's prepared statement cannot allow: the same query
// run meanwhile would reset them. A pool runs each use on a connection
// of its own.
func (a sqlAdapter) on(ctx context.Context, query string, held bool) sqlQuerier {
	if a.stmts == nil || (held && a.tx != nil) {
		return a.q
	}
	st := a.stmts.get(query)
	switch {
	case st == nil && a.tx == nil:
		a.stmts.prepare() // on another of the pool's connections
		return a.q
	case st == nil:
		return a.q
	case a.tx == nil:
		return stmtQuerier{st}
	}
	return stmtQuerier{a.tx.StmtContext(ctx, st)}
}

func (a sqlAdapter) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := a.on(ctx, query, false).ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (a sqlAdapter) QueryRow(ctx context.Context, query string, args ...any) Row {
	return a.on(ctx, query, false).QueryRowContext(ctx, query, args...)
}

func (a sqlAdapter) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return a.query(ctx, query, true, args...)
}

func (a sqlAdapter) queryDrained(ctx context.Context, query string, args ...any) (Rows, error) {
	return a.query(ctx, query, false, args...)
}

func (a sqlAdapter) query(ctx context.Context, query string, held bool, args ...any) (Rows, error) {
	rows, err := a.on(ctx, query, held).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (a sqlAdapter) SendBatch(ctx context.Context, b *Batch) error {
	for _, it := range b.items {
		if it.scan != nil {
			if err := it.scan(a.QueryRow(ctx, it.query, it.args...)); err != nil {
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

func (t sqlTx) Commit(context.Context) error {
	err := t.tx.Commit()
	t.stmts.prepare()
	return err
}

func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }

// stmtQuerier runs a prepared statement, ignoring the query it is given
// (the one it was prepared from).
type stmtQuerier struct{ st *sql.Stmt }

func (s stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func (s stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.st.QueryRowContext(ctx, args...)
}

// Statements are the statements a database's transactions run more than
// once, each prepared once on the database. SQLite otherwise parses a
// statement every time it runs: for the batches of the token endpoint that
// was about a tenth of the server's CPU (BENCHMARKS.md). A statement is
// prepared once a second transaction has run it, in the background after
// that transaction's commit: a database with one connection cannot
// prepare while a transaction holds it. The least recently used are
// closed beyond maxStatements, so that queries built with a varying
// number of placeholders cannot crowd out the hot ones.
//
// A pool's statements (NewPoolStatements) are used outside transactions,
// where nothing would keep a closed one usable: none is closed before the
// pool is, and beyond maxStatements the rest run unprepared.
type Statements struct {
	db        *sql.DB
	max       int
	pool      bool
	mu        sync.Mutex
	stmts     map[string]*list.Element // of *cachedStmt; front: most recently used
	lru       list.List
	seen      map[string]bool // run once, unprepared
	want      map[string]bool // run twice: prepare after the commit
	preparing bool
	closed    bool
	done      sync.WaitGroup // the background preparation
}

type cachedStmt struct {
	query string
	st    *sql.Stmt
}

// maxStatements bounds the statements kept prepared.
const maxStatements = 512

// NewStatements returns an empty cache of db's statements.
func NewStatements(db *sql.DB) *Statements {
	return &Statements{db: db, max: maxStatements, stmts: map[string]*list.Element{}, seen: map[string]bool{}, want: map[string]bool{}}
}

// NewPoolStatements returns an empty cache of the statements of db, a
// pool that only reads (SQLPool).
func NewPoolStatements(db *sql.DB) *Statements {
	c := NewStatements(db)
	c.pool = true
	return c
}

func (c *Statements) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.stmts[query]; e != nil {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).st
	}
	switch {
	case c.want[query]:
	case c.pool && len(c.stmts)+len(c.want) >= c.max:
	case !c.seen[query]:
		if len(c.seen) >= 4*maxStatements { // queries that never repeat
			clear(c.seen)
		}
		c.seen[query] = true
	default:
		delete(c.seen, query)
		c.want[query] = true
	}
	return nil
}

// prepare prepares, in the background, the statements that ran twice.
// One that does not prepare keeps running unprepared.
func (c *Statements) prepare() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.want) == 0 || c.preparing || c.closed {
		return
	}
	c.preparing = true
	c.done.Add(1)
	go c.prepareWanted()
}

func (c *Statements) prepareWanted() {
	defer c.done.Done()
	for {
		c.mu.Lock()
		var q string
		for q = range c.want {
			break
		}
		if q == "" || c.closed {
			c.preparing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		st, err := c.db.Prepare(q)
		c.mu.Lock()
		delete(c.want, q)
		switch {
		case err != nil:
		case c.closed:
			st.Close()
		default:
			c.stmts[q] = c.lru.PushFront(&cachedStmt{q, st})
			for c.lru.Len() > c.max {
				old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
				delete(c.stmts, old.query)
				old.st.Close() // a transaction using it keeps it until it ends
			}
		}
		c.mu.Unlock()
	}
}

// Close closes the prepared statements, once any being prepared is.
func (c *Statements) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.done.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, e := range c.stmts {
		e.Value.(*cachedStmt).st.Close()
		delete(c.stmts, q)
	}
	c.lru.Init()
	clear(c.want)
	return nil
}
