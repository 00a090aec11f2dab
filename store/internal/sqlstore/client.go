package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// A client's scopes and audiences are kept space-separated, as OAuth2
// writes scopes.

const clientCols = `id, name, owner_id, scopes, audiences, token_ttl, ring, secret_hash, jwks, created_at,
	secret_rotated_at, revoked_at, version, exchange, refresh, refresh_idle, refresh_absolute, dpop, public`

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func scanClient(row Row) (*mayfly.Client, error) {
	var c mayfly.Client
	var scopes, auds, exchange, dpop string
	var ttl, idle, absolute int64
	var jwks []byte
	var created, rotated, revoked sql.NullInt64
	if err := row.Scan(&c.ID, &c.Name, &c.OwnerID, &scopes, &auds, &ttl, &c.Ring, &c.SecretHash, &jwks,
		&created, &rotated, &revoked, &c.Version, &exchange, &c.Refresh, &idle, &absolute, &dpop, &c.Public); err != nil {
		return nil, err
	}
	c.Scopes, c.Audiences, c.TokenTTL, c.JWKS = splitList(scopes), splitList(auds), time.Duration(ttl), jwks
	c.Exchange, c.RefreshIdle, c.RefreshAbsolute, c.DPoP = splitList(exchange), time.Duration(idle), time.Duration(absolute), mayfly.DPoPMode(dpop)
	c.CreatedAt, c.SecretRotatedAt, c.RevokedAt = FromNanos(created), FromNanos(rotated), FromNanos(revoked)
	return &c, nil
}

func (s *Store) CreateClient(tx mayfly.Tx, c *mayfly.Client) error {
	const op = "CreateClient"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	_, err = t.conn.Exec(t.ctx, `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.OwnerID, strings.Join(c.Scopes, " "), strings.Join(c.Audiences, " "), int64(c.TokenTTL), c.Ring,
		c.SecretHash, []byte(c.JWKS), Nanos(c.CreatedAt), Nanos(c.SecretRotatedAt), Nanos(c.RevokedAt),
		strings.Join(c.Exchange, " "), c.Refresh, int64(c.RefreshIdle), int64(c.RefreshAbsolute), string(c.DPoP), c.Public)
	if err != nil {
		return s.err(op, err)
	}
	c.Version = 1
	return nil
}

func (s *Store) Client(ctx context.Context, id string) (*mayfly.Client, error) {
	c, err := scanClient(s.cfg.Read.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	return c, s.err("Client", err)
}

func (s *Store) Clients(ctx context.Context) ([]*mayfly.Client, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanClient, `SELECT `+clientCols+` FROM clients ORDER BY ref`)
	return all, s.err("Clients", err)
}

func (s *Store) Owned(ctx context.Context, owner string) ([]*mayfly.Principal, []*mayfly.Client, error) {
	ps, err := queryAll(ctx, s.cfg.Read, scanPrincipal, `SELECT `+principalCols+` FROM principals WHERE owner_id = ? ORDER BY name`, owner)
	if err != nil {
		return nil, nil, s.err("Owned", err)
	}
	cs, err := queryAll(ctx, s.cfg.Read, scanClient, `SELECT `+clientCols+` FROM clients
		WHERE owner_id = ? OR owner_id IN (SELECT id FROM principals WHERE owner_id = ?) ORDER BY ref`, owner, owner)
	return ps, cs, s.err("Owned", err)
}

func (s *Store) UpdateClient(tx mayfly.Tx, c *mayfly.Client) error {
	return s.updateClients("UpdateClient", tx, []*mayfly.Client{c})
}

func (s *Store) UpdateClients(tx mayfly.Tx, cs []*mayfly.Client) error {
	return s.updateClients("UpdateClients", tx, cs)
}

// updateClients sends the versioned updates in one batch. An update that
// matches no row stops the batch; what follows it may have run, which is
// why the transaction must not commit then.
func (s *Store) updateClients(op string, tx mayfly.Tx, cs []*mayfly.Client) error {
	t, err := TxOf(s, tx, op)
	if err != nil || len(cs) == 0 {
		return err
	}
	versions := make([]int64, len(cs))
	failed := -1
	b := &Batch{}
	for i, c := range cs {
		b.QueryRow(func(row Row) error {
			err := row.Scan(&versions[i])
			if err != nil {
				failed = i
			}
			return err
		}, `UPDATE clients SET owner_id = ?, secret_hash = ?, secret_rotated_at = ?, revoked_at = ?, version = version + 1
			WHERE id = ? AND version = ? RETURNING version`,
			c.OwnerID, c.SecretHash, Nanos(c.SecretRotatedAt), Nanos(c.RevokedAt), c.ID, c.Version)
	}
	if err := t.Q().SendBatch(t.ctx, b); err != nil {
		if failed < 0 || !errors.Is(err, sql.ErrNoRows) {
			return s.err(op, err)
		}
		// Nothing matched: the client is missing, or it changed.
		c := cs[failed]
		var stored int64
		if err := t.Q().QueryRow(t.ctx, `SELECT version FROM clients WHERE id = ?`, c.ID).Scan(&stored); err != nil {
			return s.err(op, fmt.Errorf("client %s: %w", c.ID, err))
		}
		return s.err(op, s.staleErr(op, "client", stored, c.Version))
	}
	for i, c := range cs {
		c.Version = versions[i]
	}
	t.changed(mayfly.ChangeIdentity)
	return nil
}
