package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Key rings and signing keys. The keys service decides what a key's
// windows, revocation and material are; the store keeps what it is given.

const ringCols = `name, alg, lifetime, created_at`

func scanRing(row Row) (*mayfly.Ring, error) {
	var r mayfly.Ring
	var lifetime int64
	var created sql.NullInt64
	if err := row.Scan(&r.Name, &r.Alg, &lifetime, &created); err != nil {
		return nil, err
	}
	r.Lifetime, r.CreatedAt = time.Duration(lifetime), FromNanos(created)
	return &r, nil
}

func (s *Store) CreateRing(tx mayfly.Tx, r *mayfly.Ring) error {
	const op = "CreateRing"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	_, err = t.conn.Exec(t.ctx, `INSERT INTO rings (`+ringCols+`) VALUES (?, ?, ?, ?)`,
		r.Name, string(r.Alg), int64(r.Lifetime), Nanos(r.CreatedAt))
	if err != nil {
		return s.err(op, err)
	}
	t.changed(mayfly.ChangeKeys)
	return nil
}

func (s *Store) Ring(ctx context.Context, name string) (*mayfly.Ring, error) {
	r, err := scanRing(s.cfg.Read.QueryRow(ctx, `SELECT `+ringCols+` FROM rings WHERE name = ?`, name))
	return r, s.err("Ring", err)
}

func (s *Store) Rings(ctx context.Context) ([]*mayfly.Ring, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanRing, `SELECT `+ringCols+` FROM rings ORDER BY name`)
	return all, s.err("Rings", err)
}

const keyCols = `kid, ring, alg, public, sealed, created_at, activate_at, deactivate_at, retire_at, revoked_at`

func scanKey(row Row) (*mayfly.Key, error) {
	var k mayfly.Key
	var created, act, deact, retire, revoked sql.NullInt64
	if err := row.Scan(&k.KID, &k.Ring, &k.Alg, &k.Public, &k.Sealed, &created, &act, &deact, &retire, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ActivateAt, k.DeactivateAt = FromNanos(created), FromNanos(act), FromNanos(deact)
	k.RetireAt, k.RevokedAt = FromNanos(retire), FromNanos(revoked)
	return &k, nil
}

func (s *Store) Keys(ctx context.Context) ([]*mayfly.Key, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanKey, `SELECT `+keyCols+` FROM keys ORDER BY ref`)
	return all, s.err("Keys", err)
}

// saveKey inserts a key, or replaces its windows, revocation time and
// sealed material.
const saveKey = `INSERT INTO keys (` + keyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (kid) DO UPDATE SET activate_at = excluded.activate_at, deactivate_at = excluded.deactivate_at,
	retire_at = excluded.retire_at, revoked_at = excluded.revoked_at, sealed = excluded.sealed`

func (s *Store) SaveKeys(tx mayfly.Tx, keys []*mayfly.Key) error {
	const op = "SaveKeys"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	b := &Batch{} // one round trip for the lot where the driver allows
	for _, k := range keys {
		b.Exec(nil, saveKey, k.KID, k.Ring, string(k.Alg), k.Public, k.Sealed, Nanos(k.CreatedAt),
			Nanos(k.ActivateAt), Nanos(k.DeactivateAt), Nanos(k.RetireAt), Nanos(k.RevokedAt))
	}
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return s.err(op, err)
	}
	t.changed(mayfly.ChangeKeys)
	return nil
}

func (s *Store) DestroyKeyMaterial(tx mayfly.Tx, kids []string) error {
	const op = "DestroyKeyMaterial"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	b := &Batch{}
	for _, kid := range kids {
		b.Exec(nil, `UPDATE keys SET sealed = NULL WHERE kid = ? AND sealed IS NOT NULL`, kid)
	}
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return s.err(op, err)
	}
	t.changed(mayfly.ChangeKeys)
	t.scrubs("keys")
	return nil
}
