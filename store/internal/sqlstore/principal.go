package sqlstore

import (
	"context"
	"database/sql"

	"github.com/mayflyhq/mayfly"
)

// Principal names are unique whatever their letter case: a unique index on
// lower(name) refuses a second one, so two creates or renames racing with
// names that differ only in case cannot both commit.

const principalCols = `id, name, kind, status, owner_id, created_at, external_id, display_name, email,
	suspended_by, suspended_at, version, updated_at`

func scanPrincipal(row Row) (*mayfly.Principal, error) {
	var p mayfly.Principal
	var owner sql.NullString
	var created, suspended, updated sql.NullInt64
	if err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.Status, &owner, &created, &p.ExternalID, &p.DisplayName, &p.Email,
		&p.SuspendedBy, &suspended, &p.Version, &updated); err != nil {
		return nil, err
	}
	p.OwnerID, p.CreatedAt, p.SuspendedAt, p.UpdatedAt = owner.String, FromNanos(created), FromNanos(suspended), FromNanos(updated)
	return &p, nil
}

func (s *Store) CreatePrincipal(tx mayfly.Tx, p *mayfly.Principal) error {
	const op = "CreatePrincipal"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	version := max(p.Version, 1)
	_, err = t.conn.Exec(t.ctx, `INSERT INTO principals (`+principalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Name, string(p.Kind), string(p.Status), nullString(p.OwnerID), Nanos(p.CreatedAt),
		p.ExternalID, p.DisplayName, p.Email, p.SuspendedBy, Nanos(p.SuspendedAt), version, Nanos(p.UpdatedAt))
	if err != nil {
		return s.err(op, err)
	}
	p.Version = version
	return nil
}

func (s *Store) Principal(ctx context.Context, idOrName string) (*mayfly.Principal, error) {
	p, err := scanPrincipal(s.cfg.Read.QueryRow(ctx, `SELECT `+principalCols+` FROM principals
		WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1`, idOrName, idOrName, idOrName))
	return p, s.err("Principal", err)
}

func (s *Store) Principals(ctx context.Context) ([]*mayfly.Principal, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanPrincipal, `SELECT `+principalCols+` FROM principals ORDER BY name`)
	return all, s.err("Principals", err)
}

func (s *Store) UpdatePrincipal(tx mayfly.Tx, p *mayfly.Principal) error {
	const op = "UpdatePrincipal"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	version, err := s.versioned(t, op, "principal", "principals", p.ID, p.Version, `UPDATE principals SET name = ?, status = ?,
		owner_id = ?, external_id = ?, display_name = ?, email = ?, suspended_by = ?, suspended_at = ?, updated_at = ?,
		version = version + 1 WHERE id = ? AND version = ? RETURNING version`,
		p.Name, string(p.Status), nullString(p.OwnerID), p.ExternalID, p.DisplayName, p.Email, p.SuspendedBy, Nanos(p.SuspendedAt),
		Nanos(p.UpdatedAt), p.ID, p.Version)
	if err != nil {
		return s.err(op, err)
	}
	p.Version = version
	t.changed(mayfly.ChangeIdentity)
	return nil
}
