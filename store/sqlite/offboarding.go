package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/offboardcol"
)

const offboardingCols = `id, principal_id, reason, transfer_to, actor, started_at, finished_at, done, actions`

func (s *Store) SaveOffboarding(ctx context.Context, o *mayfly.Offboarding) error {
	const op = "sqlite.SaveOffboarding"
	done, actions, err := offboardcol.Encode(o)
	if err != nil {
		return mayfly.E(op, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO offboardings (`+offboardingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET principal_id = excluded.principal_id, reason = excluded.reason,
		transfer_to = excluded.transfer_to, actor = excluded.actor, started_at = excluded.started_at,
		finished_at = excluded.finished_at, done = excluded.done, actions = excluded.actions`,
		o.ID, o.PrincipalID, o.Reason, o.TransferTo, o.Actor, nanos(o.StartedAt), nanos(o.FinishedAt), done, actions)
	return storeErr(op, err)
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
	return queryAll(ctx, s.r, "sqlite.Offboardings", scanOffboarding, q, args...)
}

func scanOffboarding(row scanner) (*mayfly.Offboarding, error) {
	var o mayfly.Offboarding
	var started, finished sql.NullInt64
	var done, actions string
	if err := row.Scan(&o.ID, &o.PrincipalID, &o.Reason, &o.TransferTo, &o.Actor, &started, &finished, &done, &actions); err != nil {
		return nil, err
	}
	o.StartedAt, o.FinishedAt = fromNanos(started), fromNanos(finished)
	if err := offboardcol.Decode(&o, done, actions); err != nil {
		return nil, err
	}
	return &o, nil
}
