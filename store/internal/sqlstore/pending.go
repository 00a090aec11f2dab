package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mayflyhq/mayfly"
)

// Pending actions. No write is a cached kind of change: services read
// them from the store each time.

const pendingCols = `id, kind, subject, params, why, requested_by, requester, requested_at,
	status, decided_by, decider, decided_at, reason, done_at, result, material, version`

func encodeParams(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

// bytesOrEmpty keeps nil out of a NOT NULL column.
func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanPending(row Row) (*mayfly.PendingAction, error) {
	var p mayfly.PendingAction
	var params string
	var requested, decided, done sql.NullInt64
	if err := row.Scan(&p.ID, &p.Kind, &p.Subject, &params, &p.Why, &p.RequestedBy, &p.Requester, &requested,
		&p.Status, &p.DecidedBy, &p.Decider, &decided, &p.Reason, &done, &p.Result, &p.Material, &p.Version); err != nil {
		return nil, err
	}
	p.RequestedAt, p.DecidedAt, p.DoneAt = FromNanos(requested), FromNanos(decided), FromNanos(done)
	if err := json.Unmarshal([]byte(params), &p.Params); err != nil {
		return nil, fmt.Errorf("pending action %s: params: %w", p.ID, err)
	}
	if len(p.Params) == 0 {
		p.Params = nil
	}
	if len(p.Material) == 0 {
		p.Material = nil
	}
	return &p, nil
}

func (s *Store) CreatePending(tx mayfly.Tx, p *mayfly.PendingAction) error {
	const op = "CreatePending"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	_, err = t.conn.Exec(t.ctx, `INSERT INTO pending_actions (`+pendingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		p.ID, string(p.Kind), p.Subject, encodeParams(p.Params), p.Why, p.RequestedBy, p.Requester, Nanos(p.RequestedAt),
		string(p.Status), p.DecidedBy, p.Decider, Nanos(p.DecidedAt), p.Reason, Nanos(p.DoneAt), p.Result, bytesOrEmpty(p.Material))
	if err != nil {
		return s.err(op, err)
	}
	p.Version = 1
	return nil
}

func (s *Store) PendingAction(ctx context.Context, id string) (*mayfly.PendingAction, error) {
	p, err := scanPending(s.cfg.Read.QueryRow(ctx, `SELECT `+pendingCols+` FROM pending_actions WHERE id = ?`, id))
	return p, s.err("PendingAction", err)
}

func (s *Store) PendingActions(ctx context.Context, f mayfly.PendingFilter) ([]*mayfly.PendingAction, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"status", string(f.Status)}, {"kind", string(f.Kind)}, {"subject", f.Subject}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + pendingCols + ` FROM pending_actions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	all, err := queryAll(ctx, s.cfg.Read, scanPending, q+` ORDER BY requested_at, id`, args...)
	return all, s.err("PendingActions", err)
}

func (s *Store) UpdatePending(tx mayfly.Tx, p *mayfly.PendingAction) error {
	const op = "UpdatePending"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	version, err := s.versioned(t, op, "pending action", "pending_actions", p.ID, p.Version, `UPDATE pending_actions SET
		params = ?, why = ?, status = ?, decided_by = ?, decider = ?, decided_at = ?, reason = ?, done_at = ?, result = ?,
		version = version + 1 WHERE id = ? AND version = ? RETURNING version`,
		encodeParams(p.Params), p.Why, string(p.Status), p.DecidedBy, p.Decider, Nanos(p.DecidedAt), p.Reason,
		Nanos(p.DoneAt), p.Result, p.ID, p.Version)
	if err != nil {
		return s.err(op, err)
	}
	p.Version = version
	return nil
}
