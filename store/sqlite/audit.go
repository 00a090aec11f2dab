package sqlite

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
)

// insertAudit inserts entries and nodes many rows a statement
// (sqlstore.Config.InsertAudit). A transaction is SQLite's one writer, so
// it holds the append lock already.
func insertAudit(t *sqlstore.Tx, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error {
	err := insertRows(t, `INSERT INTO audit_entries (idx, body, leaf_hash, time, action, principal, client, kid) VALUES `, 8, len(recs),
		func(i int, args []any) []any {
			r := recs[i]
			return append(args, int64(r.Index), r.Body, r.LeafHash, r.Entry.Time.UnixNano(), string(r.Entry.Action), r.Entry.Principal, r.Entry.Client, r.Entry.KID)
		})
	if err != nil {
		return err
	}
	var inner []mayfly.AuditNode
	for _, n := range nodes {
		if n.Level > 0 { // leaves are stored with their entries
			inner = append(inner, n)
		}
	}
	return insertRows(t, `INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES `, 3, len(inner),
		func(i int, args []any) []any {
			return append(args, int64(inner[i].Level), int64(inner[i].Index), inner[i].Hash)
		})
}

// auditTime bounds entry times by their index (sqlstore.Config.AuditTime):
// entry times never decrease along the log, so a binary search over the
// primary key finds where a time begins, and no index on time is kept.
func (s *Store) auditTime(ctx context.Context, since, until time.Time) ([]string, []any, error) {
	var conds []string
	var args []any
	if !since.IsZero() {
		from, err := s.auditIndexAt(ctx, since)
		if err != nil {
			return nil, nil, err
		}
		conds, args = append(conds, "idx >= ?"), append(args, from)
	}
	if !until.IsZero() {
		to, err := s.auditIndexAt(ctx, until)
		if err != nil {
			return nil, nil, err
		}
		conds, args = append(conds, "idx < ?"), append(args, to)
	}
	return conds, args, nil
}

// auditIndexAt returns the index of the first entry at or after t.
func (s *Store) auditIndexAt(ctx context.Context, t time.Time) (int64, error) {
	size, err := s.AuditSize(ctx)
	if err != nil {
		return 0, err
	}
	lo, hi := int64(0), int64(size)
	for lo < hi {
		mid := lo + (hi-lo)/2
		var at int64
		if err := s.r.QueryRowContext(ctx, `SELECT time FROM audit_entries WHERE idx = ?`, mid).Scan(&at); err != nil {
			return 0, err
		}
		if at < t.UnixNano() {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
