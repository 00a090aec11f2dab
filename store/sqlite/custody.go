package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/mayflyhq/mayfly"
)

func (s *Store) AddCustody(ctx context.Context, c *mayfly.Custody) error {
	var id int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO custody (principal_id, asset, asset_id, kind, reason, actor, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.PrincipalID, c.Asset, c.AssetID, c.Kind, c.Reason, c.Actor, nanos(c.At)).Scan(&id)
	if err == nil {
		c.ID = id
	}
	return storeErr("sqlite.AddCustody", err)
}

func (s *Store) Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error) {
	var where []string
	var args []any
	if f.PrincipalID != "" {
		where, args = append(where, "principal_id = ?"), append(args, f.PrincipalID)
	}
	if f.Asset != "" {
		where, args = append(where, "asset = ?"), append(args, f.Asset)
	}
	if f.AssetID != "" {
		where, args = append(where, "asset_id = ?"), append(args, f.AssetID)
	}
	q := `SELECT id, principal_id, asset, asset_id, kind, reason, actor, at FROM custody`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	return queryAll(ctx, s.r, "sqlite.Custody", func(row scanner) (*mayfly.Custody, error) {
		var c mayfly.Custody
		var at sql.NullInt64
		err := row.Scan(&c.ID, &c.PrincipalID, &c.Asset, &c.AssetID, &c.Kind, &c.Reason, &c.Actor, &at)
		c.At = fromNanos(at)
		return &c, err
	}, q, args...)
}
