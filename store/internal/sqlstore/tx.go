package sqlstore

import (
	"context"
	"slices"

	"github.com/mayflyhq/mayfly"
)

// Tx is a backend transaction: a driver transaction, and what its writes
// leave to do once it commits. It implements mayfly.BackendTx. Like a
// mayfly.Tx, it is not safe for concurrent use.
type Tx struct {
	s    *Store
	ctx  context.Context // Begin's: every statement runs under it
	conn Conn

	changes []mayfly.Change // made by its writes, announced once it commits
	scrub   []string        // tables whose freed space held secrets
	locks   []string        // transaction-level locks taken (Config.XactLock)
	refs    refMaps         // references read in it, cached once it commits
	// auditSize is the audit log's size while the transaction holds the
	// append lock (AuditHead), -1 when it is not known.
	auditSize int64
	done      bool
}

var _ mayfly.BackendTx = (*Tx)(nil)

// Q is the transaction's Querier.
func (t *Tx) Q() Querier { return t.conn }

// Context is the context the transaction began with.
func (t *Tx) Context() context.Context { return t.ctx }

// changed records that the transaction changed c.
func (t *Tx) changed(c mayfly.Change) {
	if !slices.Contains(t.changes, c) {
		t.changes = append(t.changes, c)
	}
}

// scrubs records that the transaction freed secrets in table, to be
// scrubbed once it commits.
func (t *Tx) scrubs(table string) {
	if !slices.Contains(t.scrub, table) {
		t.scrub = append(t.scrub, table)
	}
}

func (t *Tx) holds(lock string) bool { return slices.Contains(t.locks, lock) }

func (t *Tx) locked(lock string) { t.locks = append(t.locks, lock) }

// The savepoint statements are the same in SQLite and PostgreSQL. One name
// serves every mark: each SAVEPOINT of a name hides the one before it
// until it is released.

func (t *Tx) Savepoint() error {
	_, err := t.conn.Exec(t.ctx, `SAVEPOINT mayfly`)
	return t.s.err("Savepoint", err)
}

func (t *Tx) RollbackToSavepoint() error {
	_, err := t.conn.Exec(t.ctx, `ROLLBACK TO SAVEPOINT mayfly`)
	// What was read or locked after the mark may be undone: forget it all,
	// to be read or taken again. Changes and scrubs stay: announcing or
	// scrubbing more than happened is harmless.
	t.refs = refMaps{}
	t.locks = nil
	t.auditSize = -1
	return t.s.err("RollbackToSavepoint", err)
}

func (t *Tx) ReleaseSavepoint() error {
	_, err := t.conn.Exec(t.ctx, `RELEASE SAVEPOINT mayfly`)
	return t.s.err("ReleaseSavepoint", err)
}

// Commit commits the transaction and then hands its changes and scrubs to
// the backend (Config.AfterCommit).
func (t *Tx) Commit() error {
	if t.done {
		return &mayfly.Error{Op: t.s.cfg.Name + ".Commit", Code: mayfly.Internal, Msg: "the transaction has ended"}
	}
	t.done = true
	if t.s.cfg.BeforeCommit != nil && len(t.changes) > 0 {
		if err := t.s.cfg.BeforeCommit(t.ctx, t.conn, t.changes); err != nil {
			t.conn.Rollback(context.WithoutCancel(t.ctx))
			return t.s.err("Commit", err)
		}
	}
	if err := t.conn.Commit(t.ctx); err != nil {
		t.conn.Rollback(context.WithoutCancel(t.ctx)) // releases the connection if the commit did not
		return t.s.err("Commit", err)
	}
	t.s.refs.merge(&t.refs)
	if t.s.cfg.AfterCommit != nil && (len(t.changes) > 0 || len(t.scrub) > 0) {
		t.s.cfg.AfterCommit(t.ctx, t.changes, t.scrub)
	}
	return nil
}

// Rollback discards the transaction; after Commit or Rollback it does
// nothing.
func (t *Tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	return t.s.err("Rollback", t.conn.Rollback(context.WithoutCancel(t.ctx)))
}
