package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mayflyhq/mayfly"
)

// An offboarding run is saved whole after every step. Its Done and Actions
// are kept as JSON documents, each in a column of its own.

const offboardingCols = `id, principal_id, reason, transfer_to, actor, started_at, finished_at, done, actions`

func (s *Store) SaveOffboarding(tx mayfly.Tx, o *mayfly.Offboarding) error {
	const op = "SaveOffboarding"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	done, err := json.Marshal(o.Done)
	if err != nil {
		return mayfly.E(s.cfg.Name+"."+op, err)
	}
	actions, err := json.Marshal(o.Actions)
	if err != nil {
		return mayfly.E(s.cfg.Name+"."+op, err)
	}
	_, err = t.conn.Exec(t.ctx, `INSERT INTO offboardings (`+offboardingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET principal_id = excluded.principal_id, reason = excluded.reason,
		transfer_to = excluded.transfer_to, actor = excluded.actor, started_at = excluded.started_at,
		finished_at = excluded.finished_at, done = excluded.done, actions = excluded.actions`,
		o.ID, o.PrincipalID, o.Reason, o.TransferTo, o.Actor, Nanos(o.StartedAt), Nanos(o.FinishedAt), string(done), string(actions))
	return s.err(op, err)
}

func (s *Store) Offboardings(ctx context.Context, principalID string, unfinished bool) ([]*mayfly.Offboarding, error) {
	var where []string
	var args []any
	if principalID != "" {
		where, args = append(where, "principal_id = ?"), append(args, principalID)
	}
	if unfinished {
		where = append(where, "finished_at IS NULL")
	}
	q := `SELECT ` + offboardingCols + ` FROM offboardings`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY started_at, id"
	all, err := queryAll(ctx, s.cfg.Read, scanOffboarding, q, args...)
	return all, s.err("Offboardings", err)
}

func scanOffboarding(row Row) (*mayfly.Offboarding, error) {
	var o mayfly.Offboarding
	var started, finished sql.NullInt64
	var done, actions string
	if err := row.Scan(&o.ID, &o.PrincipalID, &o.Reason, &o.TransferTo, &o.Actor, &started, &finished, &done, &actions); err != nil {
		return nil, err
	}
	o.StartedAt, o.FinishedAt = FromNanos(started), FromNanos(finished)
	if err := json.Unmarshal([]byte(done), &o.Done); err != nil {
		return nil, fmt.Errorf("offboarding %s: done: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(actions), &o.Actions); err != nil {
		return nil, fmt.Errorf("offboarding %s: actions: %w", o.ID, err)
	}
	return &o, nil
}
