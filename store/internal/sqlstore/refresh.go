package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Refresh token families and their tokens. No write is a cached kind of
// change: the refresh service reads them from the store each time.

const familyCols = `id, client_id, subject, jkt, created_at, last_used, idle_expires_at, expires_at, current, revoked_at, reason`

const refreshCols = `hash, family_id, generation, issued_at, source, used_at, used_from, retired_at`

func scanFamily(row Row) (*mayfly.RefreshFamily, error) {
	var f mayfly.RefreshFamily
	var created, used, idle, exp, revoked sql.NullInt64
	err := row.Scan(&f.ID, &f.ClientID, &f.Subject, &f.JKT, &created, &used, &idle, &exp, &f.Current, &revoked, &f.Reason)
	f.CreatedAt, f.LastUsed, f.IdleExpiresAt, f.ExpiresAt, f.RevokedAt = FromNanos(created), FromNanos(used), FromNanos(idle), FromNanos(exp), FromNanos(revoked)
	return &f, err
}

func scanRefresh(row Row) (*mayfly.RefreshToken, error) {
	var t mayfly.RefreshToken
	var issued, used, retired sql.NullInt64
	err := row.Scan(&t.Hash, &t.FamilyID, &t.Generation, &issued, &t.Source, &used, &t.UsedFrom, &retired)
	t.IssuedAt, t.UsedAt, t.RetiredAt = FromNanos(issued), FromNanos(used), FromNanos(retired)
	return &t, err
}

func insertRefresh(b *Batch, t *mayfly.RefreshToken) {
	b.Exec(nil, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, t.Generation, Nanos(t.IssuedAt), t.Source, Nanos(t.UsedAt), t.UsedFrom, Nanos(t.RetiredAt))
}

func (s *Store) CreateRefreshFamilies(tx mayfly.Tx, fams []*mayfly.RefreshFamily, tokens []*mayfly.RefreshToken) error {
	const op = "CreateRefreshFamilies"
	t, err := TxOf(s, tx, op)
	if err != nil || len(fams) == 0 {
		return err
	}
	if len(tokens) != len(fams) {
		return &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Internal, Msg: "each family needs its first token"}
	}
	b := &Batch{}
	for i, f := range fams {
		b.Exec(nil, `INSERT INTO refresh_families (`+familyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.ClientID, f.Subject, f.JKT, Nanos(f.CreatedAt), Nanos(f.LastUsed), Nanos(f.IdleExpiresAt), Nanos(f.ExpiresAt),
			f.Current, Nanos(f.RevokedAt), f.Reason)
		insertRefresh(b, tokens[i])
	}
	return s.err(op, t.conn.SendBatch(t.ctx, b))
}

func (s *Store) RefreshToken(ctx context.Context, familyID string, generation int64, hash []byte) (*mayfly.RefreshToken, *mayfly.RefreshFamily, error) {
	var tok *mayfly.RefreshToken
	var fam *mayfly.RefreshFamily
	// One round trip: the token's columns, then its family's.
	row := s.hotRow(ctx, `SELECT t.hash, t.family_id, t.generation, t.issued_at, t.source, t.used_at, t.used_from, t.retired_at,
		f.id, f.client_id, f.subject, f.jkt, f.created_at, f.last_used, f.idle_expires_at, f.expires_at, f.current, f.revoked_at, f.reason
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
		WHERE t.family_id = ? AND t.generation = ? AND t.hash = ?`, familyID, generation, hash)
	err := row.Scan(scanBoth(&tok, &fam)...)
	if err != nil {
		return nil, nil, s.err("RefreshToken", err)
	}
	return tok, fam, nil
}

// scanBoth returns the destinations of a token's and a family's columns,
// and fills *tok and *fam from them as they are scanned.
func scanBoth(tok **mayfly.RefreshToken, fam **mayfly.RefreshFamily) []any {
	t, f := &mayfly.RefreshToken{}, &mayfly.RefreshFamily{}
	*tok, *fam = t, f
	return []any{&t.Hash, &t.FamilyID, &t.Generation, nanosInto(&t.IssuedAt), &t.Source, nanosInto(&t.UsedAt), &t.UsedFrom, nanosInto(&t.RetiredAt),
		&f.ID, &f.ClientID, &f.Subject, &f.JKT, nanosInto(&f.CreatedAt), nanosInto(&f.LastUsed), nanosInto(&f.IdleExpiresAt),
		nanosInto(&f.ExpiresAt), &f.Current, nanosInto(&f.RevokedAt), &f.Reason}
}

// nanosDest scans a time stored by Nanos into a time.Time.
type nanosDest struct{ t *time.Time }

func nanosInto(t *time.Time) *nanosDest { return &nanosDest{t} }

func (d *nanosDest) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*d.t = FromNanos(n)
	return nil
}

// hotRow runs query, a fixed statement of a hot path, for one row: through
// a statement prepared once where the driver does not cache statements
// itself (database/sql; SQLite parsing a join costs as much as the rest
// of a refresh), else as Read.QueryRow does.
func (s *Store) hotRow(ctx context.Context, query string, args ...any) Row {
	if a, ok := s.cfg.Read.(sqlAdapter); ok {
		if db, ok := a.q.(*sql.DB); ok {
			st, ok := s.stmts.Load(query)
			if !ok {
				prep, err := db.PrepareContext(ctx, query)
				if err != nil {
					return errRow{err}
				}
				if st, ok = s.stmts.LoadOrStore(query, prep); ok {
					prep.Close() // another was first
				}
			}
			return st.(*sql.Stmt).QueryRowContext(ctx, args...)
		}
	}
	return s.cfg.Read.QueryRow(ctx, query, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (s *Store) RefreshFamily(ctx context.Context, id string) (*mayfly.RefreshFamily, error) {
	f, err := scanFamily(s.cfg.Read.QueryRow(ctx, `SELECT `+familyCols+` FROM refresh_families WHERE id = ?`, id))
	return f, s.err("RefreshFamily", err)
}

func (s *Store) RefreshTokens(ctx context.Context, familyID string) ([]*mayfly.RefreshToken, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanRefresh, `SELECT `+refreshCols+` FROM refresh_tokens WHERE family_id = ? ORDER BY generation`, familyID)
	return all, s.err("RefreshTokens", err)
}

// RotateRefresh runs three statements per chunk of rotations, whatever
// their number: the families' compare-and-swaps, then the retirements
// and the insertions of those that won. A rotation of a family that an
// earlier one in the call moves from the same generation loses without
// reaching the database.
func (s *Store) RotateRefresh(tx mayfly.Tx, rs []*mayfly.RefreshRotation) error {
	const op = "RotateRefresh"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	for len(rs) > 0 {
		n := min(len(rs), rotateChunk)
		if err := s.rotate(t, rs[:n]); err != nil {
			return s.err(op, err)
		}
		rs = rs[n:]
	}
	return nil
}

// rotateChunk bounds the rows of one statement, under SQLite's limit on
// parameters.
const rotateChunk = 500

type familyGen struct {
	id  string
	gen int64
}

func (s *Store) rotate(t *Tx, rs []*mayfly.RefreshRotation) error {
	// The first rotation of each family and generation is tried; a later
	// one (the same token presented twice in one batch) loses.
	tried := make(map[familyGen]*mayfly.RefreshRotation, len(rs))
	var vals []string
	var args []any
	for _, r := range rs {
		r.Rotated = false
		k := familyGen{r.FamilyID, r.From}
		if tried[k] != nil {
			continue
		}
		tried[k] = r
		vals = append(vals, `(CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))`)
		args = append(args, r.FamilyID, r.From, Nanos(r.At), Nanos(r.IdleExpiresAt))
	}
	// A family is updated once at most, from the generation it is at:
	// RETURNING names it with that generation, the rotation that won.
	moved, err := queryAll(t.ctx, t.conn, func(row Row) (familyGen, error) {
		var k familyGen
		return k, row.Scan(&k.id, &k.gen)
	}, `UPDATE refresh_families SET current = current + 1, last_used = v.column3, idle_expires_at = v.column4
		FROM (VALUES `+strings.Join(vals, ", ")+`) AS v
		WHERE refresh_families.id = v.column1 AND refresh_families.current = v.column2 AND refresh_families.revoked_at IS NULL
		RETURNING refresh_families.id, refresh_families.current - 1`, args...)
	if err != nil {
		return err
	}
	if len(moved) == 0 {
		return nil
	}
	var winners []*mayfly.RefreshRotation
	for _, k := range moved {
		if r := tried[k]; r != nil {
			winners = append(winners, r)
		}
	}
	vals, args = vals[:0], args[:0]
	var ins []string
	var insArgs []any
	for _, r := range winners {
		var usedAt sql.NullInt64
		if r.Used {
			usedAt = Nanos(r.At)
		}
		vals = append(vals, `(CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT))`)
		args = append(args, r.FamilyID, r.From, Nanos(r.At), usedAt, r.UsedFrom)
		n := r.Next
		ins = append(ins, `(?, ?, ?, ?, ?, ?, ?, ?)`)
		insArgs = append(insArgs, n.Hash, n.FamilyID, n.Generation, Nanos(n.IssuedAt), n.Source, Nanos(n.UsedAt), n.UsedFrom, Nanos(n.RetiredAt))
	}
	b := &Batch{}
	b.Exec(nil, `UPDATE refresh_tokens SET retired_at = v.column3, used_at = v.column4, used_from = v.column5
		FROM (VALUES `+strings.Join(vals, ", ")+`) AS v
		WHERE refresh_tokens.family_id = v.column1 AND refresh_tokens.generation = v.column2`, args...)
	b.Exec(nil, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES `+strings.Join(ins, ", "), insArgs...)
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return err
	}
	for _, r := range winners {
		r.Rotated = true
	}
	return nil
}

func (s *Store) RevokeRefreshFamily(tx mayfly.Tx, id string, at time.Time, reason string) (bool, error) {
	const op = "RevokeRefreshFamily"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return false, err
	}
	n, err := t.conn.Exec(t.ctx, `UPDATE refresh_families SET revoked_at = ?, reason = ? WHERE id = ? AND revoked_at IS NULL`, Nanos(at), reason, id)
	return n > 0, s.err(op, err)
}

func (s *Store) PruneRefresh(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(q Querier) error {
		b := &Batch{}
		b.Exec(nil, `DELETE FROM refresh_tokens WHERE family_id IN (SELECT id FROM refresh_families WHERE expires_at <= ?)`, before.UnixNano())
		b.Exec(&n, `DELETE FROM refresh_families WHERE expires_at <= ?`, before.UnixNano())
		return q.SendBatch(ctx, b)
	})
	return int(n), s.err("PruneRefresh", err)
}
