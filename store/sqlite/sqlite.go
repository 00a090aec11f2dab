// Package sqlite is Mayfly's embedded storage backend: one SQLite file in
// write-ahead-log mode, written through a single connection and read
// through a small pool, so writers never contend for the lock.
//
// Its SQL is store/internal/sqlstore's, shared with store/postgres. What is
// SQLite's own is opening the file, its migrations, coordination (one
// process owns the database, so locks and change notices live in memory),
// scrubbing freed space, and two paths where speed decides: issuance
// records and audit entries are inserted many rows a statement, and
// audit entries are found by time with a binary search over their index.
//
// # Transactions
//
// A transaction (Begin) holds the writer connection until it ends: every
// write through it runs on that connection, and other writers wait for it.
// So a goroutine holding a transaction must not begin another, nor call a
// method that commits by itself (UseAssertion, the pruning methods,
// SaveCheckpoint, the SSF queue methods): it would wait for itself. Reads
// run on the pool and see what is committed.
//
// # Invariants
//
// Every commit is made with synchronous=FULL: when Commit, or a method
// that commits by itself, returns nil, the change survives a crash.
// Watchers hear of a change only after the transaction that made it has
// committed. Once a transaction that destroyed key material or replaced or
// deleted a setting commits, the write-ahead log is checkpointed and
// truncated, and secure_delete has zeroed the freed space, so no file of
// the store holds the old bytes. The package makes no policy decisions.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a mayfly.Store on one SQLite file.
type Store struct {
	*sqlstore.Store

	w     *sql.DB              // one connection: all writes
	r     *sql.DB              // readers
	sc    *sql.DB              // readers of the ledger, through mmap
	stmts *sqlstore.Statements // the writer's, prepared once
	reads *sqlstore.Statements // the readers'
	scans *sqlstore.Statements // the ledger readers'

	stop, stopped chan struct{}
	lock          *os.File // held while open: one process per database
	coord         coord
}

var _ mayfly.Store = (*Store)(nil)

// Open opens or creates the database at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	s, _, err := open(ctx, path)
	return s, err
}

// Migrate applies the pending migrations of the database at path and
// returns the versions it applied.
func Migrate(ctx context.Context, path string) ([]int, error) {
	s, applied, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	return applied, s.Close()
}

func open(ctx context.Context, path string) (*Store, []int, error) {
	q := url.Values{}
	// The writer checkpoints every 10,000 pages (40 MB of WAL), not every
	// 1,000: a page changed in many commits between two checkpoints is
	// copied once, and refresh grants ran 7% faster in six alternating
	// rounds, with lower tails (BENCHMARKS.md "Refresh tokens").
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "cache_size(-65536)", "secure_delete(1)", "wal_autocheckpoint(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// SQLite creates files 0644 and its -wal and -shm files copy the
	// database's mode: make the database 0600 before SQLite sees it.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	lock, err := lockFile(path)
	if err != nil {
		return nil, nil, err
	}
	dsn := "file:" + path + "?" + q.Encode()
	// The writer keeps its savepoints' journal in memory: the audit log
	// runs each change of a group commit in a savepoint, and journaling
	// the pages they change to a temporary file took 6% of the CPU of a
	// token and refresh benchmark (1% in memory). A transaction's journal
	// is bounded by what it changes.
	wq := url.Values{"_pragma": {"temp_store(MEMORY)"}}
	w, err := sql.Open("sqlite", dsn+"&"+wq.Encode())
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		lock.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	// The ledger's readers map the file into memory (up to 16 GiB of
	// address space), which took a fifth off a scope's time on a large
	// ledger. The other readers do not: a connection that maps the file
	// unmaps it at its first read after any commit.
	sq := url.Values{"_pragma": {"mmap_size(17179869184)"}}
	sc, err := sql.Open("sqlite", dsn+"&"+sq.Encode())
	if err != nil {
		r.Close()
		w.Close()
		lock.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	sc.SetMaxOpenConns(4)
	sc.SetMaxIdleConns(2)
	s := &Store{w: w, r: r, sc: sc, lock: lock, stmts: sqlstore.NewStatements(w), reads: sqlstore.NewPoolStatements(r),
		scans: sqlstore.NewPoolStatements(sc)}
	s.Store = sqlstore.New(sqlstore.Config{
		Name:  "sqlite",
		Read:  sqlstore.SQLPool(r, s.reads),
		Scan:  sqlstore.SQLPool(sc, s.scans),
		Write: sqlstore.SQL(w),
		// KeepsBlobs: modernc.org/sqlite copies each blob it returns
		// into a slice of its own (TestDriverKeepsBlobs).
		KeepsBlobs: true,
		Begin: func(ctx context.Context) (sqlstore.Conn, error) {
			tx, err := w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock), on the one writer
			if err != nil {
				return nil, err
			}
			return sqlstore.SQLTx(tx, s.stmts), nil
		},
		Constraint:      constraint,
		AfterCommit:     s.afterCommit,
		InsertIssuances: insertIssuances,
		InsertAudit:     insertAudit,
		AuditTime:       s.auditTime,
	})
	applied, err := s.migrate(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.checkpointLoop()
	return s, applied, nil
}

// Close closes the database. Closing twice is harmless.
func (s *Store) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
		s.stop = nil
	}
	err := errors.Join(s.stmts.Close(), s.reads.Close(), s.scans.Close(), s.r.Close(), s.sc.Close(), s.w.Close())
	if s.lock != nil {
		s.lock.Close() // releases the process lock
		s.lock = nil
	}
	return err
}

// checkpointLoop copies the WAL into the database from a reader connection,
// so that the writer's own checkpoints (every 10,000 pages, after a commit)
// have little left to copy. PASSIVE checkpoints never block the writer.
// They cannot restart the WAL under a writer that commits every
// millisecond, which only the writer's checkpoint can: without it the WAL
// grew by 40 MB a second under the token benchmark.
func (s *Store) checkpointLoop() {
	defer close(s.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.r.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

func (s *Store) migrate(ctx context.Context) ([]int, error) {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	all, err := sqlstore.Migrations(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// One transaction for every pending migration: an upgrade happens
	// whole or not at all, and a fresh database costs one commit.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() // after Commit it does nothing
	done := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int
	for _, m := range all {
		if done[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, time.Now().UnixNano()); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// constraint classifies SQLite's constraint violations (sqlstore.Config).
func constraint(err error) mayfly.Code {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return mayfly.Conflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return mayfly.NotFound
		}
	}
	return ""
}

// afterCommit tells watchers of a committed transaction's changes, and
// scrubs what it freed.
func (s *Store) afterCommit(ctx context.Context, changes []mayfly.Change, scrub []string) {
	for _, c := range changes {
		s.notify(c)
	}
	if len(scrub) > 0 {
		s.scrub(ctx)
	}
}

// scrub makes destroyed material unrecoverable from the files: secure_delete
// zeroes freed space in pages, and a truncating checkpoint moves those pages
// into the database and empties the WAL, which still held the old images.
//
// It is best effort and reports nothing: the change it follows has
// committed, and must not be reported as failed because the caller went
// away or a reader kept the checkpoint from finishing. That is why key
// material is sealed under the root key whatever happens to it here.
func (s *Store) scrub(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
}
