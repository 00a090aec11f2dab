// Package sqlite is Mayfly's embedded storage backend: one SQLite file in
// write-ahead-log mode, written through a single connection and read through
// a small pool, so writers never contend for the lock.
//
// # Invariants
//
// Every write commits with synchronous=FULL: when a method returns nil, the
// change survives a crash. The package makes no policy decisions.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/refcache"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a mayfly.Store on one SQLite file.
type Store struct {
	w *sql.DB // one connection: all writes
	r *sql.DB // readers

	refs refcache.Cache // integer references for issuance rows

	stop, stopped chan struct{}
	lock          *os.File // held while open: one process per database
	coord         coord
}

var _ mayfly.Store = (*Store)(nil)

// Open opens or creates the database at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	s, _, err := open(ctx, path)
	return s, err
}

// Migrate applies the pending migrations of the database at path and
// returns the versions it applied.
func Migrate(ctx context.Context, path string) ([]int, error) {
	s, applied, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	return applied, s.Close()
}

func open(ctx context.Context, path string) (*Store, []int, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "cache_size(-65536)", "secure_delete(1)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// SQLite creates files 0644 and its -wal and -shm files copy the
	// database's mode: make the database 0600 before SQLite sees it.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	lock, err := lockFile(path)
	if err != nil {
		return nil, nil, err
	}
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		lock.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s := &Store{w: w, r: r, lock: lock}
	applied, err := s.migrate(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.checkpointLoop()
	return s, applied, nil
}

// Close closes the database. Closing twice is harmless.
func (s *Store) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
		s.stop = nil
	}
	err := errors.Join(s.r.Close(), s.w.Close())
	if s.lock != nil {
		s.lock.Close() // releases the process lock
		s.lock = nil
	}
	return err
}

// checkpointLoop copies the WAL into the database from a reader connection,
// so that the one writer never stops to do it inside a commit. PASSIVE
// checkpoints never block the writer.
func (s *Store) checkpointLoop() {
	defer close(s.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.r.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

func (s *Store) migrate(ctx context.Context) ([]int, error) {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var applied []int
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migrate: bad migration name %s", name)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixNano()); err != nil {
				return err
			}
			applied = append(applied, v)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return applied, nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// insertRows runs prefix with n rows of cols values each, a hundred rows a statement.
func insertRows(ctx context.Context, tx *sql.Tx, prefix string, cols, n int, row func(i int, args []any) []any) error {
	const chunk = 100
	tuple := "(" + strings.Repeat("?,", cols-1) + "?)"
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
			args = row(i, args)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// storeErr turns driver errors into mayfly errors callers can branch on.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &mayfly.Error{Op: op, Code: mayfly.NotFound, Msg: "not found"}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: "already exists", Err: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &mayfly.Error{Op: op, Code: mayfly.NotFound, Msg: "a referenced record does not exist", Err: err}
		}
	}
	return mayfly.E(op, err)
}

func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

type scanner interface{ Scan(...any) error }

// Principals.

const principalCols = `id, name, kind, status, owner_id, created_at, external_id, display_name, email, version, updated_at`

func scanPrincipal(row scanner) (*mayfly.Principal, error) {
	var p mayfly.Principal
	var owner sql.NullString
	var created, updated sql.NullInt64
	if err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.Status, &owner, &created, &p.ExternalID, &p.DisplayName, &p.Email, &p.Version, &updated); err != nil {
		return nil, err
	}
	p.OwnerID, p.CreatedAt, p.UpdatedAt = owner.String, fromNanos(created), fromNanos(updated)
	return &p, nil
}

func (s *Store) CreatePrincipal(ctx context.Context, p *mayfly.Principal) error {
	version := max(p.Version, 1)
	_, err := s.w.ExecContext(ctx, `INSERT INTO principals (`+principalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Name, p.Kind, p.Status, nullString(p.OwnerID), nanos(p.CreatedAt),
		p.ExternalID, p.DisplayName, p.Email, version, nanos(p.UpdatedAt))
	if err == nil {
		p.Version = version
	}
	return storeErr("sqlite.CreatePrincipal", err)
}

func (s *Store) Principal(ctx context.Context, idOrName string) (*mayfly.Principal, error) {
	p, err := scanPrincipal(s.r.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1`, idOrName, idOrName, idOrName))
	return p, storeErr("sqlite.Principal", err)
}

func (s *Store) Principals(ctx context.Context) ([]*mayfly.Principal, error) {
	return queryAll(ctx, s.r, "sqlite.Principals", scanPrincipal, `SELECT `+principalCols+` FROM principals ORDER BY name`)
}

func (s *Store) UpdatePrincipal(ctx context.Context, p *mayfly.Principal) error {
	const op = "sqlite.UpdatePrincipal"
	var version int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE principals SET name = ?, status = ?, owner_id = ?,
			external_id = ?, display_name = ?, email = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ? RETURNING version`,
			p.Name, p.Status, nullString(p.OwnerID), p.ExternalID, p.DisplayName, p.Email, nanos(p.UpdatedAt),
			p.ID, p.Version).Scan(&version)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Nothing matched: the principal is missing, or it changed.
		if err := tx.QueryRowContext(ctx, `SELECT version FROM principals WHERE id = ?`, p.ID).Scan(&version); err != nil {
			return err
		}
		return staleErr(op, "principal", version, p.Version)
	})
	if err != nil {
		return storeErr(op, err)
	}
	p.Version = version
	s.notify(mayfly.ChangeIdentity)
	return nil
}

// staleErr is the Conflict of an update made from a stale read.
func staleErr(op, what string, stored, read int64) error {
	return &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: what + " changed since it was read",
		Err: fmt.Errorf("version %d is stored, the update was made from version %d", stored, read)}
}

func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storeErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, storeErr(op, err)
		}
		out = append(out, v)
	}
	return out, storeErr(op, rows.Err())
}

// Clients.

const clientCols = `id, name, owner_id, scopes, audiences, token_ttl, ring, secret_hash, jwks, created_at, secret_rotated_at, revoked_at, version`

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func scanClient(row scanner) (*mayfly.Client, error) {
	var c mayfly.Client
	var scopes, auds string
	var ttl int64
	var created, rotated, revoked sql.NullInt64
	if err := row.Scan(&c.ID, &c.Name, &c.OwnerID, &scopes, &auds, &ttl, &c.Ring, &c.SecretHash, (*[]byte)(&c.JWKS), &created, &rotated, &revoked, &c.Version); err != nil {
		return nil, err
	}
	c.Scopes, c.Audiences, c.TokenTTL = splitList(scopes), splitList(auds), time.Duration(ttl)
	c.CreatedAt, c.SecretRotatedAt, c.RevokedAt = fromNanos(created), fromNanos(rotated), fromNanos(revoked)
	return &c, nil
}

func (s *Store) CreateClient(ctx context.Context, c *mayfly.Client) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		c.ID, c.Name, c.OwnerID, strings.Join(c.Scopes, " "), strings.Join(c.Audiences, " "), int64(c.TokenTTL), c.Ring,
		c.SecretHash, c.JWKS, nanos(c.CreatedAt), nanos(c.SecretRotatedAt), nanos(c.RevokedAt))
	if err == nil {
		c.Version = 1
	}
	return storeErr("sqlite.CreateClient", err)
}

func (s *Store) Client(ctx context.Context, id string) (*mayfly.Client, error) {
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	return c, storeErr("sqlite.Client", err)
}

func (s *Store) Clients(ctx context.Context) ([]*mayfly.Client, error) {
	return queryAll(ctx, s.r, "sqlite.Clients", scanClient, `SELECT `+clientCols+` FROM clients ORDER BY ref`)
}

func (s *Store) UpdateClient(ctx context.Context, c *mayfly.Client) error {
	res, err := s.w.ExecContext(ctx, `UPDATE clients SET owner_id = ?, secret_hash = ?, secret_rotated_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
		c.OwnerID, c.SecretHash, nanos(c.SecretRotatedAt), c.ID, c.Version)
	err = oneRow(res, err)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if s.r.QueryRowContext(ctx, `SELECT count(*) FROM clients WHERE id = ?`, c.ID).Scan(&n) == nil && n > 0 {
			return &mayfly.Error{Op: "sqlite.UpdateClient", Code: mayfly.Conflict, Msg: "client changed since it was read"}
		}
	}
	if err == nil {
		c.Version++
		s.notify(mayfly.ChangeIdentity)
	}
	return storeErr("sqlite.UpdateClient", err)
}

// oneRow turns an update that matched no row into sql.ErrNoRows.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = sql.ErrNoRows
	}
	return err
}

// Rings and keys.

func scanRing(row scanner) (*mayfly.Ring, error) {
	var r mayfly.Ring
	var lifetime int64
	var created sql.NullInt64
	if err := row.Scan(&r.Name, &r.Alg, &lifetime, &created); err != nil {
		return nil, err
	}
	r.Lifetime, r.CreatedAt = time.Duration(lifetime), fromNanos(created)
	return &r, nil
}

func (s *Store) CreateRing(ctx context.Context, r *mayfly.Ring) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO rings (name, alg, lifetime, created_at) VALUES (?, ?, ?, ?)`,
		r.Name, r.Alg, int64(r.Lifetime), nanos(r.CreatedAt))
	if err == nil {
		s.notify(mayfly.ChangeKeys)
	}
	return storeErr("sqlite.CreateRing", err)
}

func (s *Store) Ring(ctx context.Context, name string) (*mayfly.Ring, error) {
	r, err := scanRing(s.r.QueryRowContext(ctx, `SELECT name, alg, lifetime, created_at FROM rings WHERE name = ?`, name))
	return r, storeErr("sqlite.Ring", err)
}

func (s *Store) Rings(ctx context.Context) ([]*mayfly.Ring, error) {
	return queryAll(ctx, s.r, "sqlite.Rings", scanRing, `SELECT name, alg, lifetime, created_at FROM rings ORDER BY name`)
}

const keyCols = `kid, ring, alg, public, sealed, created_at, activate_at, deactivate_at, retire_at, revoked_at`

func scanKey(row scanner) (*mayfly.Key, error) {
	var k mayfly.Key
	var created, act, deact, retire, revoked sql.NullInt64
	if err := row.Scan(&k.KID, &k.Ring, &k.Alg, &k.Public, &k.Sealed, &created, &act, &deact, &retire, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ActivateAt, k.DeactivateAt = fromNanos(created), fromNanos(act), fromNanos(deact)
	k.RetireAt, k.RevokedAt = fromNanos(retire), fromNanos(revoked)
	return &k, nil
}

func (s *Store) Keys(ctx context.Context) ([]*mayfly.Key, error) {
	return queryAll(ctx, s.r, "sqlite.Keys", scanKey, `SELECT `+keyCols+` FROM keys ORDER BY ref`)
}

func (s *Store) SaveKeys(ctx context.Context, keys []*mayfly.Key) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			_, err := tx.ExecContext(ctx, `INSERT INTO keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (kid) DO UPDATE SET activate_at = excluded.activate_at,
				deactivate_at = excluded.deactivate_at, retire_at = excluded.retire_at,
				revoked_at = COALESCE(keys.revoked_at, excluded.revoked_at),
				sealed = CASE WHEN keys.sealed IS NULL OR keys.revoked_at IS NOT NULL OR excluded.revoked_at IS NOT NULL
					THEN NULL ELSE excluded.sealed END`,
				k.KID, k.Ring, k.Alg, k.Public, k.Sealed, nanos(k.CreatedAt), nanos(k.ActivateAt), nanos(k.DeactivateAt), nanos(k.RetireAt), nanos(k.RevokedAt))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.notify(mayfly.ChangeKeys)
	}
	return storeErr("sqlite.SaveKeys", err)
}

func (s *Store) DestroyKeyMaterial(ctx context.Context, kids []string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, kid := range kids {
			if _, err := tx.ExecContext(ctx, `UPDATE keys SET sealed = NULL WHERE kid = ?`, kid); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.notify(mayfly.ChangeKeys)
		err = s.scrub(ctx)
	}
	return storeErr("sqlite.DestroyKeyMaterial", err)
}

// scrub makes destroyed material unrecoverable from the files: secure_delete
// zeroes freed space in pages, and a truncating checkpoint moves those pages
// into the database and empties the WAL, which still held the old images.
func (s *Store) scrub(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// Issuance records.

// lookupRef reads the integer reference of the row of table whose col is id.
func (s *Store) lookupRef(ctx context.Context, table, col, id string) (ref int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT ref FROM `+table+` WHERE `+col+` = ?`, id).Scan(&ref)
	return ref, err
}

func (s *Store) RecordIssuances(ctx context.Context, recs []mayfly.Issuance) error {
	const op = "sqlite.RecordIssuances"
	refs, err := s.refs.Resolve(ctx, recs, s.lookupRef)
	if err != nil {
		return storeErr(op, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// Multi-row statements: one per hundred rows instead of one per row.
		return insertRows(ctx, tx, `INSERT INTO issuances (jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp) VALUES `, 8, len(recs),
			func(i int, args []any) []any {
				r := recs[i]
				return append(args, r.JTI, refs[i].Key, refs[i].Client, refs[i].Principal, r.SourceIP, r.UserAgent, r.IssuedAt.Unix(), r.ExpiresAt.Unix())
			})
	})
	return storeErr(op, err)
}

func (s *Store) Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error) {
	var where []string
	var args []any
	if f.ClientID != "" {
		where, args = append(where, "c.id = ?"), append(args, f.ClientID)
	}
	if f.KID != "" {
		where, args = append(where, "k.kid = ?"), append(args, f.KID)
	}
	if f.JTI != "" {
		where, args = append(where, "i.jti = ?"), append(args, f.JTI)
	}
	// Token IDs begin with their issue time: a time range is a jti range,
	// served by the jti index.
	if !f.Since.IsZero() {
		where, args = append(where, "i.jti >= ? AND i.iat >= ?"), append(args, mayfly.JTIBound(f.Since), f.Since.Unix())
	}
	if !f.Until.IsZero() {
		// iat is whole seconds: a record of the second Until falls in is
		// kept here and decided by the jti, which has milliseconds.
		where, args = append(where, "i.jti < ? AND i.iat <= ?"), append(args, mayfly.JTIBound(f.Until), f.Until.Unix())
	}
	q := `SELECT i.jti, k.kid, c.id, p.id, i.source_ip, i.user_agent, i.iat, i.exp FROM issuances i
		JOIN keys k ON k.ref = i.key_ref JOIN clients c ON c.ref = i.client_ref JOIN principals p ON p.ref = i.principal_ref`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY i.jti DESC"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return queryAll(ctx, s.r, "sqlite.Issuances", func(row scanner) (mayfly.Issuance, error) {
		var r mayfly.Issuance
		var iat, exp int64
		err := row.Scan(&r.JTI, &r.KID, &r.ClientID, &r.PrincipalID, &r.SourceIP, &r.UserAgent, &iat, &exp)
		r.IssuedAt, r.ExpiresAt = time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
		return r, err
	}, q, args...)
}

// Revocations.

func (s *Store) Revoke(ctx context.Context, rs ...*mayfly.Revocation) error {
	if len(rs) == 0 {
		return nil
	}
	seqs := make([]int64, len(rs))
	keys := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, r := range rs {
			res, err := tx.ExecContext(ctx, `INSERT INTO revocations (kind, subject, until, at, reason, cause) VALUES (?, ?, ?, ?, ?, ?)`,
				r.Kind, r.Subject, nanos(r.Until), nanos(r.At), r.Reason, r.Cause)
			if err != nil {
				return err
			}
			if seqs[i], err = res.LastInsertId(); err != nil {
				return err
			}
			switch r.Kind {
			case mayfly.RevokeClient:
				_, err = tx.ExecContext(ctx, `UPDATE clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, nanos(r.At), r.Subject)
			case mayfly.RevokeKey:
				keys = true
				_, err = tx.ExecContext(ctx, `UPDATE keys SET revoked_at = ?, sealed = NULL WHERE kid = ? AND revoked_at IS NULL`, nanos(r.At), r.Subject)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for i, r := range rs {
			r.Seq = seqs[i]
		}
		s.notify(mayfly.ChangeRevocations)
		if keys {
			s.notify(mayfly.ChangeKeys)
			err = s.scrub(ctx)
		}
	}
	return storeErr("sqlite.Revoke", err)
}

func (s *Store) Revocations(ctx context.Context, after int64, now time.Time) ([]*mayfly.Revocation, error) {
	return queryAll(ctx, s.r, "sqlite.Revocations", func(row scanner) (*mayfly.Revocation, error) {
		var r mayfly.Revocation
		var until, at sql.NullInt64
		err := row.Scan(&r.Seq, &r.Kind, &r.Subject, &until, &at, &r.Reason, &r.Cause)
		r.Until, r.At = fromNanos(until), fromNanos(at)
		return &r, err
	}, `SELECT seq, kind, subject, until, at, reason, cause FROM revocations WHERE seq > ? AND (until IS NULL OR until > ?) ORDER BY seq`, after, now.UnixNano())
}

// Client assertions and admin credentials.

func (s *Store) UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO assertions (client_id, jti, exp) VALUES (?, ?, ?)`, clientID, jti, exp.UnixNano())
	return storeErr("sqlite.UseAssertion", err)
}

func (s *Store) CreateAdminCredential(ctx context.Context, a *mayfly.AdminCredential) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO admin_credentials (`+adminCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.Hash, nanos(a.CreatedAt), nanos(a.RevokedAt), adminRole(a.Role), nullString(a.OwnerID))
	return storeErr("sqlite.CreateAdminCredential", err)
}

// adminRole is the role stored for r: a credential made without one
// administers.
func adminRole(r mayfly.Role) mayfly.Role {
	if r == "" {
		return mayfly.RoleAdmin
	}
	return r
}

const adminCols = `id, name, hash, created_at, revoked_at, role, owner_id`

func scanAdmin(row scanner) (*mayfly.AdminCredential, error) {
	var a mayfly.AdminCredential
	var created, revoked sql.NullInt64
	var owner sql.NullString
	if err := row.Scan(&a.ID, &a.Name, &a.Hash, &created, &revoked, &a.Role, &owner); err != nil {
		return nil, err
	}
	a.CreatedAt, a.RevokedAt, a.OwnerID = fromNanos(created), fromNanos(revoked), owner.String
	return &a, nil
}

func (s *Store) AdminCredentialByHash(ctx context.Context, hash []byte) (*mayfly.AdminCredential, error) {
	a, err := scanAdmin(s.r.QueryRowContext(ctx, `SELECT `+adminCols+` FROM admin_credentials WHERE hash = ?`, hash))
	return a, storeErr("sqlite.AdminCredentialByHash", err)
}

func (s *Store) AdminCredentials(ctx context.Context) ([]*mayfly.AdminCredential, error) {
	return queryAll(ctx, s.r, "sqlite.AdminCredentials", scanAdmin, `SELECT `+adminCols+` FROM admin_credentials ORDER BY created_at`)
}

func (s *Store) RevokeAdminCredential(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE admin_credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, nanos(at), id)
	err = oneRow(res, err)
	if err == nil {
		s.notify(mayfly.ChangeIdentity)
	}
	return storeErr("sqlite.RevokeAdminCredential", err)
}

func (s *Store) Prune(ctx context.Context, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM assertions WHERE exp <= ?`, now.UnixNano()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE until IS NOT NULL AND until <= ?`, now.UnixNano())
		return err
	})
	return storeErr("sqlite.Prune", err)
}
