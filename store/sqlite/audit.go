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
		ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_entries (idx, body, leaf_hash, time, action, principal, client, kid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, r := range recs {
			e := r.Entry
			if _, err := ins.ExecContext(ctx, r.Index, r.Body, r.LeafHash, e.Time.UnixNano(), e.Action, e.Principal, e.Client, e.KID); err != nil {
				return err
			}
		}
		node, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer node.Close()
		for _, n := range nodes {
			if _, err := node.ExecContext(ctx, n.Level, n.Index, n.Hash); err != nil {
				return err
			}
		}
		return nil
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
		where, args = append(where, "time >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, f.Until.UnixNano())
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

func (s *Store) AuditSize(ctx context.Context) (uint64, error) {
	var n uint64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n)
	return n, storeErr("sqlite.AuditSize", err)
}

func (s *Store) AuditNodes(ctx context.Context, ids []mayfly.AuditNode) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if err := s.r.QueryRowContext(ctx, `SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?`, id.Level, id.Index).Scan(&out[i]); err != nil {
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
	return storeErr("sqlite.PutSetting", err)
}
