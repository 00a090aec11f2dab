package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

func (s *Store) AppendAudit(ctx context.Context, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var size uint64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&size); err != nil {
			return err
		}
		if len(recs) > 0 && recs[0].Index != size {
			return &mayfly.Error{Code: mayfly.Conflict, Msg: fmt.Sprintf("audit append at %d, but the log holds %d entries", recs[0].Index, size)}
		}
		// Multi-row statements: one per hundred rows instead of one per row.
		err := insertRows(ctx, tx, `INSERT INTO audit_entries (idx, body, leaf_hash, time, action, principal, client, kid) VALUES `, 8, len(recs),
			func(i int, args []any) []any {
				r := recs[i]
				return append(args, r.Index, r.Body, r.LeafHash, r.Entry.Time.UnixNano(), r.Entry.Action, r.Entry.Principal, r.Entry.Client, r.Entry.KID)
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
		return insertRows(ctx, tx, `INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES `, 3, len(inner),
			func(i int, args []any) []any { return append(args, inner[i].Level, inner[i].Index, inner[i].Hash) })
	})
	return storeErr("sqlite.AppendAudit", err)
}

func (s *Store) AuditEntries(ctx context.Context, f mayfly.AuditFilter) ([]mayfly.AuditRecord, error) {
	where := []string{"idx >= ?"}
	args := []any{f.From}
	if f.To > 0 {
		where, args = append(where, "idx < ?"), append(args, f.To)
	}
	for col, v := range map[string]string{"action": f.Action, "principal": f.Principal, "client": f.Client, "kid": f.KID} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if !f.Since.IsZero() {
		from, err := s.auditIndexAt(ctx, f.Since)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "idx >= ?"), append(args, from)
	}
	if !f.Until.IsZero() {
		to, err := s.auditIndexAt(ctx, f.Until)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "idx < ?"), append(args, to)
	}
	q := `SELECT idx, body, leaf_hash FROM audit_entries WHERE ` + strings.Join(where, " AND ")
	if f.Newest {
		q += " ORDER BY idx DESC"
	} else {
		q += " ORDER BY idx"
	}
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return queryAll(ctx, s.r, "sqlite.AuditEntries", func(row scanner) (mayfly.AuditRecord, error) {
		var r mayfly.AuditRecord
		if err := row.Scan(&r.Index, &r.Body, &r.LeafHash); err != nil {
			return r, err
		}
		// A body that does not decode is kept as it is: verification
		// reports it, searches show what can be shown.
		json.Unmarshal(r.Body, &r.Entry)
		return r, nil
	}, q, args...)
}

// auditIndexAt returns the index of the first entry at or after t, by
// binary search: entry times never decrease along the log.
func (s *Store) auditIndexAt(ctx context.Context, t time.Time) (uint64, error) {
	size, err := s.AuditSize(ctx)
	if err != nil {
		return 0, err
	}
	lo, hi := uint64(0), size
	for lo < hi {
		mid := lo + (hi-lo)/2
		var at int64
		if err := s.r.QueryRowContext(ctx, `SELECT time FROM audit_entries WHERE idx = ?`, mid).Scan(&at); err != nil {
			return 0, storeErr("sqlite.auditIndexAt", err)
		}
		if at < t.UnixNano() {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

func (s *Store) AuditSize(ctx context.Context) (uint64, error) {
	var n uint64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n)
	return n, storeErr("sqlite.AuditSize", err)
}

func (s *Store) AuditNodes(ctx context.Context, ids []mayfly.AuditNode) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		q, args := `SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?`, []any{id.Level, id.Index}
		if id.Level == 0 {
			q, args = `SELECT leaf_hash FROM audit_entries WHERE idx = ?`, []any{id.Index}
		}
		if err := s.r.QueryRowContext(ctx, q, args...).Scan(&out[i]); err != nil {
			return nil, storeErr("sqlite.AuditNodes", fmt.Errorf("node %d.%d: %w", id.Level, id.Index, err))
		}
	}
	return out, nil
}

func (s *Store) SaveCheckpoint(ctx context.Context, c *mayfly.Checkpoint) error {
	_, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO audit_checkpoints (size, note, time) VALUES (?, ?, ?)`, c.Size, c.Note, c.Time.UnixNano())
	return storeErr("sqlite.SaveCheckpoint", err)
}

func (s *Store) Checkpoints(ctx context.Context) ([]*mayfly.Checkpoint, error) {
	return queryAll(ctx, s.r, "sqlite.Checkpoints", func(row scanner) (*mayfly.Checkpoint, error) {
		var c mayfly.Checkpoint
		var t int64
		err := row.Scan(&c.Size, &c.Note, &t)
		c.Time = time.Unix(0, t).UTC()
		return &c, err
	}, `SELECT size, note, time FROM audit_checkpoints ORDER BY size`)
}

func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	return v, storeErr("sqlite.Setting", err)
}

func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, value)
	if err == nil {
		s.notify(mayfly.ChangeSettings)
	}
	return storeErr("sqlite.PutSetting", err)
}

func (s *Store) DeleteSetting(ctx context.Context, name string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM settings WHERE name = ?`, name)
	if err == nil {
		s.notify(mayfly.ChangeSettings)
		err = s.scrub(ctx) // settings hold sealed keys
	}
	return storeErr("sqlite.DeleteSetting", err)
}
