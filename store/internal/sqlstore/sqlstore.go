// Package sqlstore is the SQL that Mayfly's two storage backends share.
// store/sqlite and store/postgres differ in how they open, migrate and
// scrub a database, in how they coordinate processes, and in a few paths
// where speed decides (bulk loading issuance records and audit entries,
// finding audit entries by time); everything else is written here once,
// and both run it.
//
// It owns:
//
//   - Querier, a driver-neutral way to run statements, with an adapter for
//     database/sql (SQLite) and one for pgx (PostgreSQL). Statements are
//     written with ? placeholders; the pgx adapter rebinds each statement
//     text to $1, $2, ... once and caches it.
//   - Error mapping: each backend names its driver's unique and foreign key
//     violations; a unique violation is a Conflict, a missing referenced row
//     or a missing row a NotFound.
//   - Tx, the backend transaction behind a mayfly.Tx: it keeps the change
//     notices its writes make, and the tables they free secrets in, until
//     it commits, and then hands them to the backend's commit hooks.
//   - Store, the implementation of every concern whose SQL is the same in
//     both backends, which each backend embeds.
//   - The encodings both backends keep in columns: times as Unix
//     nanoseconds (NULL for the zero time), lists of strings as JSON arrays,
//     an offboarding run's steps and report as JSON, and the integer
//     references issuance rows hold instead of IDs.
//   - The access ledger: merges that unite bitmaps under the upsert's row
//     lock, compaction that claims buckets by deleting them, and the one
//     defensive decoder of record bitmaps (DecodeRecords).
//
// # Invariants
//
// A write that takes a mayfly.Tx runs every statement through that
// transaction, under the context it began with, and never touches the
// backend's pool: SQLite's one writer connection is the transaction's while
// it is open. Change notices are handed to the backend only for a
// transaction that commits (see Config). The package makes no policy
// decisions: it stores what it is given.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
)

// Config is what a backend gives the shared implementation.
type Config struct {
	// Name prefixes the Op of every error: "sqlite", "postgres".
	Name string
	// Read runs reads outside a transaction; Write runs the writes that
	// commit by themselves, one statement each.
	Read, Write Querier
	// Scan, if set, runs the reads of the ledger's buckets and unions,
	// which are long ranges of large rows: SQLite maps the file into
	// memory for them. The other reads are short, and a connection
	// remaps the file at its first read after any commit, which cost a
	// refresh grant 20% of its throughput (BENCHMARKS.md "Refresh
	// tokens"). Nil: Read.
	Scan Querier
	// KeepsBlobs says that a blob scanned into a sql.RawBytes stays the
	// scan's after the next row: the driver hands each in memory of its
	// own (modernc.org/sqlite does; the SQLite backend's tests hold it to
	// that). Scanned into a []byte instead, database/sql copies a second
	// time what the driver has copied already, which was a tenth of a
	// 90-day scope's time (BENCHMARKS.md "Scope").
	KeepsBlobs bool
	// Begin begins a driver transaction under ctx.
	Begin func(ctx context.Context) (Conn, error)
	// Constraint classifies a driver error: mayfly.Conflict for a unique
	// violation, mayfly.NotFound for a foreign key violation, "" for any
	// other error.
	Constraint func(err error) mayfly.Code
	// XactLock returns the statement that takes the transaction-level lock
	// named name, held until the transaction ends. Nil where a transaction
	// excludes every other writer already (SQLite).
	XactLock func(name string) (query string, args []any)
	// XactLockShared is XactLock's shared form: holders of it wait only
	// for a holder of XactLock. Nil where XactLock is.
	XactLockShared func(name string) (query string, args []any)
	// SkipLocked ends a SELECT that locks the rows it picks and passes over
	// those another transaction holds (PostgreSQL: FOR UPDATE SKIP LOCKED);
	// "" where a transaction excludes every other writer already (SQLite).
	SkipLocked string
	// ForShare ends a SELECT in a transaction that must keep the rows it
	// reads from changing until it commits (PostgreSQL: FOR SHARE); ""
	// where a transaction excludes every other writer already (SQLite).
	ForShare string
	// BeforeCommit, if set, runs in a transaction just before its COMMIT
	// with the changes the transaction made, if any (PostgreSQL: NOTIFY,
	// delivered if and only if the transaction commits).
	BeforeCommit func(ctx context.Context, q Querier, changes []mayfly.Change) error
	// AfterCommit, if set, runs once a transaction has committed, with the
	// changes it made and the tables it freed secrets in, if any (SQLite:
	// tell watchers; both: scrub). It cannot fail the commit.
	AfterCommit func(ctx context.Context, changes []mayfly.Change, scrub []string)
	// InsertIssuances stores issuance records in t, with the references
	// of their key, client and principal, all or none.
	InsertIssuances func(t *Tx, recs []mayfly.Issuance, refs []IssuanceRefs) error
	// InsertAudit stores audit records, which continue the log, and the
	// tree nodes above the leaves among nodes, a node already stored
	// taking its new hash.
	InsertAudit func(t *Tx, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error
	// AuditTime returns the conditions, and their arguments, that keep the
	// audit entries whose times are at or after since and before until; a
	// zero bound is no bound.
	AuditTime func(ctx context.Context, since, until time.Time) (conds []string, args []any, err error)
}

// Store implements the concerns whose SQL both backends share. A backend
// embeds it, and implements the rest itself.
type Store struct {
	cfg   Config
	refs  refs     // integer references of issuance rows, committed
	stmts sync.Map // query -> *sql.Stmt, for hotRow
}

// New returns the shared implementation on cfg.
func New(cfg Config) *Store {
	if cfg.Scan == nil {
		cfg.Scan = cfg.Read
	}
	return &Store{cfg: cfg}
}

// Begin begins a transaction; see mayfly.TxStore.
func (s *Store) Begin(ctx context.Context) (mayfly.BackendTx, error) {
	c, err := s.cfg.Begin(ctx)
	if err != nil {
		return nil, s.err("Begin", err)
	}
	return &Tx{s: s, ctx: ctx, conn: c, auditSize: -1}, nil
}

// TxOf returns the backend transaction of tx for the operation op. It
// must be one s began, and must not have ended; anything else is an
// Internal error, never a panic.
func TxOf(s *Store, tx mayfly.Tx, op string) (*Tx, error) {
	var b mayfly.BackendTx
	if tx != nil {
		b = tx.Backend()
	}
	t, ok := b.(*Tx)
	switch {
	case !ok || t == nil || t.s != s:
		return nil, &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Internal, Msg: "the transaction is not this store's"}
	case t.done:
		return nil, &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Internal, Msg: "the transaction has ended"}
	}
	return t, nil
}

// inTx runs fn in a transaction of its own and commits it, for the writes
// that commit by themselves. It makes no change notices.
func (s *Store) inTx(ctx context.Context, fn func(q Querier) error) error {
	c, err := s.cfg.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		c.Rollback(context.WithoutCancel(ctx)) // fn's error says what went wrong
		return err
	}
	return c.Commit(ctx)
}

// lock queues in b the statement that takes the transaction-level lock
// named name, unless t holds it already, and returns whether it did: the
// caller records the lock as held (Tx.locked) once b has run.
func (s *Store) lock(t *Tx, b *Batch, name string) bool {
	if s.cfg.XactLock == nil || t.holds(name) {
		return false
	}
	q, args := s.cfg.XactLock(name)
	b.Exec(nil, q, args...)
	return true
}

// err turns a driver error of the operation op into a mayfly error that
// callers can branch on.
func (s *Store) err(op string, err error) error {
	if err == nil {
		return nil
	}
	op = s.cfg.Name + "." + op
	if errors.Is(err, sql.ErrNoRows) {
		e := &mayfly.Error{Op: op, Code: mayfly.NotFound, Msg: "not found"}
		if err != sql.ErrNoRows && err != pgx.ErrNoRows {
			e.Err = err // it says what was not found
		}
		return e
	}
	switch s.cfg.Constraint(err) {
	case mayfly.Conflict:
		return &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: "already exists", Err: err}
	case mayfly.NotFound:
		return &mayfly.Error{Op: op, Code: mayfly.NotFound, Msg: "a referenced record does not exist", Err: err}
	}
	return mayfly.E(op, err)
}

// staleErr is the Conflict of an update made from a stale read.
func (s *Store) staleErr(op, what string, stored, read int64) error {
	return &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Conflict, Msg: what + " changed since it was read",
		Err: fmt.Errorf("version %d is stored, the update was made from version %d", stored, read)}
}

// versioned runs update, which changes the row of table whose id is id if
// its version is still read and returns the new version. If it matched no
// row, versioned tells a missing row (sql.ErrNoRows) from a changed one (a
// Conflict).
func (s *Store) versioned(t *Tx, op, what, table, id string, read int64, update string, args ...any) (int64, error) {
	var version int64
	err := t.Q().QueryRow(t.ctx, update, args...).Scan(&version)
	if !errors.Is(err, sql.ErrNoRows) {
		return version, err
	}
	if err := t.Q().QueryRow(t.ctx, `SELECT version FROM `+table+` WHERE id = ?`, id).Scan(&version); err != nil {
		return 0, fmt.Errorf("%s %s: %w", what, id, err)
	}
	return 0, s.staleErr(op, what, version, read)
}
