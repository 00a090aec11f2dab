package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Admin and SCIM credentials, found by the hash of their token.

const adminCols = `id, name, hash, created_at, revoked_at, role, owner_id`

func scanAdmin(row Row) (*mayfly.AdminCredential, error) {
	var a mayfly.AdminCredential
	var created, revoked sql.NullInt64
	var owner sql.NullString
	if err := row.Scan(&a.ID, &a.Name, &a.Hash, &created, &revoked, &a.Role, &owner); err != nil {
		return nil, err
	}
	a.CreatedAt, a.RevokedAt, a.OwnerID = FromNanos(created), FromNanos(revoked), owner.String
	return &a, nil
}

func (s *Store) CreateAdminCredential(tx mayfly.Tx, a *mayfly.AdminCredential) error {
	const op = "CreateAdminCredential"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	_, err = t.conn.Exec(t.ctx, `INSERT INTO admin_credentials (`+adminCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.Hash, Nanos(a.CreatedAt), Nanos(a.RevokedAt), string(a.Role), nullString(a.OwnerID))
	return s.err(op, err)
}

func (s *Store) AdminCredentialByHash(ctx context.Context, hash []byte) (*mayfly.AdminCredential, error) {
	a, err := scanAdmin(s.cfg.Read.QueryRow(ctx, `SELECT `+adminCols+` FROM admin_credentials WHERE hash = ?`, hash))
	return a, s.err("AdminCredentialByHash", err)
}

func (s *Store) AdminCredentials(ctx context.Context) ([]*mayfly.AdminCredential, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanAdmin, `SELECT `+adminCols+` FROM admin_credentials ORDER BY created_at`)
	return all, s.err("AdminCredentials", err)
}

func (s *Store) RevokeAdminCredential(tx mayfly.Tx, id string, at time.Time) error {
	const op = "RevokeAdminCredential"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	n, err := t.conn.Exec(t.ctx, `UPDATE admin_credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, Nanos(at), id)
	if err := oneRow(n, err, "admin credential", id); err != nil {
		return s.err(op, err)
	}
	t.changed(mayfly.ChangeIdentity)
	return nil
}
