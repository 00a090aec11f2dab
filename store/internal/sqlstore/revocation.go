package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Revocations are numbered by the store (seq), and numbers are never
// reused, even after pruning: a reader that has seen a number must never
// miss one above it.

func (s *Store) Revoke(tx mayfly.Tx, rs ...*mayfly.Revocation) error {
	const op = "Revoke"
	t, err := TxOf(s, tx, op)
	if err != nil || len(rs) == 0 {
		return err
	}
	b := &Batch{} // one round trip for the lot where the driver allows
	// Revocations commit in the order of their sequence numbers, so a
	// reader that has seen one has seen every one below it. Where several
	// processes write at once (PostgreSQL), a lock held until the
	// transaction ends orders them: without it, a lower number taken by a
	// slower transaction could commit after a reader moved past it, and
	// that reader would never see it. SQLite's one writer orders them
	// already.
	locking := s.lock(t, b, "revocations")
	seqs := make([]int64, len(rs))
	for i, r := range rs {
		b.QueryRow(func(row Row) error { return row.Scan(&seqs[i]) },
			`INSERT INTO revocations (kind, subject, until, at, reason, cause) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`,
			string(r.Kind), r.Subject, Nanos(r.Until), Nanos(r.At), r.Reason, string(r.Cause))
	}
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return s.err(op, err)
	}
	if locking {
		t.locked("revocations")
	}
	for i, r := range rs {
		r.Seq = seqs[i]
	}
	t.changed(mayfly.ChangeRevocations)
	return nil
}

func (s *Store) Revocations(ctx context.Context, after int64, now time.Time) ([]*mayfly.Revocation, error) {
	all, err := queryAll(ctx, s.cfg.Read, func(row Row) (*mayfly.Revocation, error) {
		var r mayfly.Revocation
		var until, at sql.NullInt64
		err := row.Scan(&r.Seq, &r.Kind, &r.Subject, &until, &at, &r.Reason, &r.Cause)
		r.Until, r.At = FromNanos(until), FromNanos(at)
		return &r, err
	}, `SELECT seq, kind, subject, until, at, reason, cause FROM revocations
		WHERE seq > ? AND (until IS NULL OR until > ?) ORDER BY seq`, after, now.UnixNano())
	return all, s.err("Revocations", err)
}

func (s *Store) PruneRevocations(ctx context.Context, now time.Time) error {
	_, err := s.cfg.Write.Exec(ctx, `DELETE FROM revocations WHERE until IS NOT NULL AND until <= ?`, now.UnixNano())
	return s.err("PruneRevocations", err)
}
