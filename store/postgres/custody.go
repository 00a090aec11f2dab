package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/mayflyhq/mayfly"
)

func (s *Store) AddCustody(ctx context.Context, c *mayfly.Custody) error {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO custody (principal_id, asset, asset_id, kind, reason, actor, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		c.PrincipalID, string(c.Asset), c.AssetID, string(c.Kind), c.Reason, c.Actor, nanos(c.At)).Scan(&id)
	if err == nil {
		c.ID = id
	}
	return storeErr("postgres.AddCustody", err)
}

func (s *Store) Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.PrincipalID != "" {
		where = append(where, "principal_id = "+arg(f.PrincipalID))
	}
	if f.Asset != "" {
		where = append(where, "asset = "+arg(string(f.Asset)))
	}
	if f.AssetID != "" {
		where = append(where, "asset_id = "+arg(f.AssetID))
	}
	q := `SELECT id, principal_id, asset, asset_id, kind, reason, actor, at FROM custody`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	return queryAll(ctx, s, "postgres.Custody", func(row scanner) (*mayfly.Custody, error) {
		var c mayfly.Custody
		var at *int64
		err := row.Scan(&c.ID, &c.PrincipalID, &c.Asset, &c.AssetID, &c.Kind, &c.Reason, &c.Actor, &at)
		c.At = fromNanos(at)
		return &c, err
	}, q, args...)
}
