package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/mayflyhq/mayfly"
)

func (s *Store) AddCustody(tx mayfly.Tx, c *mayfly.Custody) error {
	const op = "AddCustody"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	var id int64
	err = t.conn.QueryRow(t.ctx, `INSERT INTO custody (principal_id, asset, asset_id, kind, reason, actor, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.PrincipalID, string(c.Asset), c.AssetID, string(c.Kind), c.Reason, c.Actor, Nanos(c.At)).Scan(&id)
	if err != nil {
		return s.err(op, err)
	}
	c.ID = id
	return nil
}

func (s *Store) Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error) {
	var where []string
	var args []any
	if f.PrincipalID != "" {
		where, args = append(where, "principal_id = ?"), append(args, f.PrincipalID)
	}
	if f.Asset != "" {
		where, args = append(where, "asset = ?"), append(args, string(f.Asset))
	}
	if f.AssetID != "" {
		where, args = append(where, "asset_id = ?"), append(args, f.AssetID)
	}
	q := `SELECT id, principal_id, asset, asset_id, kind, reason, actor, at FROM custody`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	recs, err := queryAll(ctx, s.cfg.Read, func(row Row) (*mayfly.Custody, error) {
		var c mayfly.Custody
		var at sql.NullInt64
		err := row.Scan(&c.ID, &c.PrincipalID, &c.Asset, &c.AssetID, &c.Kind, &c.Reason, &c.Actor, &at)
		c.At = FromNanos(at)
		return &c, err
	}, q, args...)
	return recs, s.err("Custody", err)
}
