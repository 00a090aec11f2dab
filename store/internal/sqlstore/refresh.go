package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Refresh token families and their tokens. No write is a cached kind of
// change: the refresh service reads them from the store each time.
//
// A family's tokens are rows keyed by family and generation, written once
// and never updated: a rotation inserts the successor, and that is all it
// writes. A token is retired when its successor exists, which says when
// (its issued_at) and, if the token was presented rather than replaced
// unused (prev_used), from where (its source). The family's current
// generation is its latest token, which holds its last use (issued_at)
// and idle expiry. Of one family's rows, a rotation writes one page,
// usually the page it read.

const familyCols = `f.id, f.client_id, f.subject, f.jkt, f.created_at, f.expires_at, f.revoked_at, f.reason,
	c.generation, c.issued_at, c.idle_expires_at`

// currentGen is the current generation of a family f: its latest token's.
const currentGen = `(SELECT m.generation FROM refresh_tokens m WHERE m.family_id = f.id ORDER BY m.generation DESC LIMIT 1)`

// currentJoin joins a family f with its current token c.
const currentJoin = ` JOIN refresh_tokens c ON c.family_id = f.id AND c.generation = ` + currentGen

// tokenCols are a token t's columns and its successor n's.
const tokenCols = `t.hash, t.family_id, t.generation, t.issued_at, t.source, n.issued_at, n.prev_used, n.source`

// successorJoin joins a token t with its successor n, if it has one.
const successorJoin = ` LEFT JOIN refresh_tokens n ON n.family_id = t.family_id AND n.generation = t.generation + 1`

// familyDests returns the destinations of familyCols, filling f.
func familyDests(f *mayfly.RefreshFamily) []any {
	return []any{&f.ID, &f.ClientID, &f.Subject, &f.JKT, nanosInto(&f.CreatedAt), nanosInto(&f.ExpiresAt), nanosInto(&f.RevokedAt), &f.Reason,
		&f.Current, nanosInto(&f.LastUsed), nanosInto(&f.IdleExpiresAt)}
}

// tokenRow is what tokenCols scan into.
type tokenRow struct {
	t        mayfly.RefreshToken
	retired  sql.NullInt64 // the successor's issued_at
	used     sql.NullBool
	usedFrom sql.NullString
}

func (r *tokenRow) dests() []any {
	return []any{&r.t.Hash, &r.t.FamilyID, &r.t.Generation, nanosInto(&r.t.IssuedAt), &r.t.Source, &r.retired, &r.used, &r.usedFrom}
}

// token returns the token scanned, retired by its successor if it has one.
func (r *tokenRow) token() *mayfly.RefreshToken {
	t := r.t
	t.RetiredAt = FromNanos(r.retired)
	if r.used.Bool {
		t.UsedAt, t.UsedFrom = t.RetiredAt, r.usedFrom.String
	}
	return &t
}

func scanToken(row Row) (*mayfly.RefreshToken, error) {
	var r tokenRow
	err := row.Scan(r.dests()...)
	return r.token(), err
}

// insertToken is the statement that stores tokens, with the values of
// one.
const insertToken = `INSERT INTO refresh_tokens (family_id, generation, hash, issued_at, source, idle_expires_at, prev_used) VALUES `

const tokenValues = `(?, ?, ?, ?, ?, ?, ?)`

func tokenArgs(args []any, t *mayfly.RefreshToken, idle time.Time, prevUsed bool) []any {
	return append(args, t.FamilyID, t.Generation, t.Hash, Nanos(t.IssuedAt), t.Source, Nanos(idle), prevUsed)
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
		tok := tokens[i]
		if f.Current != 1 || tok.Generation != 1 || tok.FamilyID != f.ID || !tok.IssuedAt.Equal(f.LastUsed) {
			return &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Internal,
				Msg: "a family begins at generation 1, with a token of its own issued when it was last used"}
		}
		b.Exec(nil, `INSERT INTO refresh_families (id, client_id, subject, jkt, created_at, expires_at, revoked_at, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.ClientID, f.Subject, f.JKT, Nanos(f.CreatedAt), Nanos(f.ExpiresAt), Nanos(f.RevokedAt), f.Reason)
		b.Exec(nil, insertToken+tokenValues, tokenArgs(nil, tok, f.IdleExpiresAt, false)...)
	}
	return s.err(op, t.conn.SendBatch(t.ctx, b))
}

func (s *Store) RefreshToken(ctx context.Context, familyID string, generation int64, hash []byte) (*mayfly.RefreshToken, *mayfly.RefreshFamily, error) {
	// One round trip: the token and its successor, its family and the
	// family's current token.
	var r tokenRow
	f := &mayfly.RefreshFamily{}
	row := s.hotRow(ctx, `SELECT `+tokenCols+`, `+familyCols+` FROM refresh_tokens t`+successorJoin+`
		JOIN refresh_families f ON f.id = t.family_id`+currentJoin+`
		WHERE t.family_id = ? AND t.generation = ? AND t.hash = ?`, familyID, generation, hash)
	if err := row.Scan(append(r.dests(), familyDests(f)...)...); err != nil {
		return nil, nil, s.err("RefreshToken", err)
	}
	return r.token(), f, nil
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
	f := &mayfly.RefreshFamily{}
	err := s.cfg.Read.QueryRow(ctx, `SELECT `+familyCols+` FROM refresh_families f`+currentJoin+` WHERE f.id = ?`, id).Scan(familyDests(f)...)
	if err != nil {
		return nil, s.err("RefreshFamily", err)
	}
	return f, nil
}

func (s *Store) RefreshTokens(ctx context.Context, familyID string) ([]*mayfly.RefreshToken, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanToken, `SELECT `+tokenCols+` FROM refresh_tokens t`+successorJoin+`
		WHERE t.family_id = ? ORDER BY t.generation`, familyID)
	return all, s.err("RefreshTokens", err)
}

// RotateRefresh runs two statements per chunk of rotations, whatever
// their number: it reads the current generation of the families that are
// not revoked (on PostgreSQL holding them against a revocation until the
// commit), and inserts the successors of the rotations from there. The
// insertion is the compare-and-swap: a generation's successor is stored
// once, and a concurrent transaction's insertion of the same one waits
// for this one and then writes nothing.
func (s *Store) RotateRefresh(tx mayfly.Tx, rs []*mayfly.RefreshRotation) error {
	const op = "RotateRefresh"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	// In the order of their families, so that two transactions lock the
	// families they share, and insert their tokens, in the same order
	// (PostgreSQL); stable, so the first rotation of a family stays first.
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b *mayfly.RefreshRotation) int { return strings.Compare(a.FamilyID, b.FamilyID) })
	for len(rs) > 0 {
		n := min(len(rs), chunkRows)
		if err := s.rotate(t, rs[:n]); err != nil {
			return s.err(op, err)
		}
		rs = rs[n:]
	}
	return nil
}

// chunkRows bounds the rows of one statement, under SQLite's limit on
// parameters.
const chunkRows = 500

type familyGen struct {
	id  string
	gen int64
}

func (s *Store) rotate(t *Tx, rs []*mayfly.RefreshRotation) error {
	ids := make([]any, 0, len(rs))
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		r.Rotated = false
		if !seen[r.FamilyID] {
			seen[r.FamilyID] = true
			ids = append(ids, r.FamilyID)
		}
	}
	current := make(map[string]int64, len(ids))
	err := queryEach(t.ctx, t.conn, func(row Row) error {
		var id string
		var gen int64
		err := row.Scan(&id, &gen)
		current[id] = gen
		return err
	}, `SELECT f.id, `+currentGen+`
		FROM refresh_families f WHERE f.id IN (`+placeholders(len(ids))+`) AND f.revoked_at IS NULL ORDER BY f.id`+s.cfg.ForShare, ids...)
	if err != nil {
		return err
	}
	// The first rotation of each family from where it is is tried; the
	// others (the same token presented twice in one batch, or a stale
	// one) lose.
	tried := make(map[familyGen]*mayfly.RefreshRotation, len(rs))
	var vals []string
	var args []any
	for _, r := range rs {
		k := familyGen{r.FamilyID, r.From}
		if cur, ok := current[r.FamilyID]; !ok || cur != r.From || tried[k] != nil {
			continue
		}
		if r.Next == nil || r.Next.FamilyID != r.FamilyID || r.Next.Generation != r.From+1 {
			return &mayfly.Error{Code: mayfly.Internal, Msg: "a rotation's next token is of its family's next generation"}
		}
		tried[k] = r
		vals = append(vals, tokenValues)
		args = tokenArgs(args, r.Next, r.IdleExpiresAt, r.Used)
	}
	if len(vals) == 0 {
		return nil
	}
	return queryEach(t.ctx, t.conn, func(row Row) error {
		var k familyGen
		if err := row.Scan(&k.id, &k.gen); err != nil {
			return err
		}
		k.gen-- // the generation it was rotated from
		if r := tried[k]; r != nil {
			r.Rotated = true
		}
		return nil
	}, insertToken+strings.Join(vals, ", ")+` ON CONFLICT DO NOTHING RETURNING family_id, generation`, args...)
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

// PruneRefresh deletes the families first and their tokens after: on
// PostgreSQL, deleting a family waits for a rotation of it that holds it
// (FOR SHARE), and the tokens' statement then sees the token that rotation
// added; deleting the tokens first would leave that one behind.
func (s *Store) PruneRefresh(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := s.inTx(ctx, func(q Querier) error {
		ids, err := queryAll(ctx, q, func(row Row) (any, error) {
			var id string
			err := row.Scan(&id)
			return id, err
		}, `DELETE FROM refresh_families WHERE expires_at <= ? RETURNING id`, before.UnixNano())
		if err != nil {
			return err
		}
		n = len(ids)
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), chunkRows)]
			ids = ids[len(chunk):]
			if _, err := q.Exec(ctx, `DELETE FROM refresh_tokens WHERE family_id IN (`+placeholders(len(chunk))+`)`, chunk...); err != nil {
				return err
			}
		}
		return nil
	})
	return n, s.err("PruneRefresh", err)
}
