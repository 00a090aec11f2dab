package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
	"github.com/mayflyhq/mayfly/store/storetest"
)

// TestSuspensionBackfill: a database from before principals recorded who
// suspended them takes it from its audit log when it is migrated.
func TestSuspensionBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mayfly.db")
	db := migratedBefore(t, path, 6)
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	for _, q := range []string{
		`INSERT INTO principals (id, name, kind, status, created_at) VALUES ('prn_a', 'a', 'human', 'suspended', 1), ('prn_b', 'b', 'human', 'active', 1)`,
		`INSERT INTO audit_entries (idx, body, leaf_hash, time, action, principal, client, kid) VALUES
			(0, CAST('{"v":1,"index":0,"action":"principal.suspended","actor":"adm_old","principal":"prn_a"}' AS BLOB), X'00', 1, 'principal.suspended', 'prn_a', '', ''),
			(1, CAST('{"v":1,"index":1,"action":"principal.suspended","actor":"adm_scim","principal":"prn_a"}' AS BLOB), X'00', ?, 'principal.suspended', 'prn_a', '', ''),
			(2, CAST('{"v":1,"index":2,"action":"principal.suspended","actor":"adm_x","principal":"prn_b"}' AS BLOB), X'00', 3, 'principal.suspended', 'prn_b', '', '')`,
	} {
		if _, err := db.Exec(q, at.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	s := reopen(t, db, path)
	storetest.SuspensionBackfilled(t, s, at)
}

// TestIssuanceDigestMigration: an issuance record from before records kept
// a token's digest reads back with an empty one once migrated.
func TestIssuanceDigestMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mayfly.db")
	db := migratedBefore(t, path, 8)
	iat := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	jti := "0123456789abcdefghijklmnop"
	for _, q := range oldRefs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.Exec(oldIssuance, jti, iat.Unix(), iat.Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	s := reopen(t, db, path)
	storetest.IssuanceWithoutDigest(t, s, jti, iat)
}

// oldRefs and oldIssuance write one issuance record, and what it refers
// to, with the schema of migration 7; oldIssuance takes jti, iat and exp.
var oldRefs = []string{
	`INSERT INTO principals (id, name, kind, status, created_at) VALUES ('prn_a', 'a', 'human', 'active', 1)`,
	`INSERT INTO rings (name, alg, lifetime, created_at) VALUES ('r', 'ES256', 1, 1)`,
	`INSERT INTO keys (kid, ring, alg, public, created_at, activate_at, deactivate_at, retire_at) VALUES ('kid_a', 'r', 'ES256', X'00', 1, 1, 1, 1)`,
	`INSERT INTO clients (id, name, owner_id, scopes, audiences, token_ttl, ring, created_at) VALUES ('mfc_a', 'a', 'prn_a', '', '', 1, 'r', 1)`,
}

const oldIssuance = `INSERT INTO issuances (jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp)
	SELECT ?, (SELECT ref FROM keys WHERE kid = 'kid_a'), (SELECT ref FROM clients WHERE id = 'mfc_a'),
		(SELECT ref FROM principals WHERE id = 'prn_a'), '10.0.0.1', 'agent/1', ?, ?`

// reopen closes db and opens the store at path, which applies the
// migrations db lacks.
func reopen(t *testing.T, db *sql.DB, path string) *Store {
	t.Helper()
	db.Close()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migratedBefore is a database at path holding the migrations before
// version, as one made by an older Mayfly would.
func migratedBefore(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.Migrations(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version >= version {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, 0)`, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestRefreshByFamilyMigration: refresh tokens stored by hash are kept,
// keyed by family and generation, when migration 18 is applied.
func TestRefreshByFamilyMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mayfly.db")
	db := migratedBefore(t, path, 18)
	f, toks := storetest.RefreshBeforeMigration()
	if _, err := db.Exec(`INSERT INTO refresh_families (id, client_id, subject, jkt, created_at, last_used, idle_expires_at, expires_at, current, revoked_at, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '')`, f.ID, f.ClientID, f.Subject, f.JKT, f.CreatedAt.UnixNano(), f.LastUsed.UnixNano(),
		f.IdleExpiresAt.UnixNano(), f.ExpiresAt.UnixNano(), f.Current); err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if _, err := db.Exec(`INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, source, used_at, used_from, retired_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tok.Hash, tok.FamilyID, tok.Generation, tok.IssuedAt.UnixNano(), tok.Source,
			sqlstore.Nanos(tok.UsedAt), tok.UsedFrom, sqlstore.Nanos(tok.RetiredAt)); err != nil {
			t.Fatal(err)
		}
	}
	s := reopen(t, db, path)
	storetest.RefreshMigrated(t, s)
}

// TestUnionsServiceMigration: migration 19 drops the day unions made
// before services had theirs, so that maintenance makes them again.
func TestUnionsServiceMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mayfly.db")
	db := migratedBefore(t, path, 19)
	day := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.Exec(`INSERT INTO ledger_union_days (day, services, services_more) VALUES (?, '[]', 0)`, day.Unix()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO ledger_unions (day, namespace, dim, value, bucket_count, buckets, records)
		VALUES (?, 'customer', '', '', 0, x'00', NULL)`, day.Unix()); err != nil {
		t.Fatal(err)
	}
	s := reopen(t, db, path)
	if days, err := s.LedgerUnionDays(t.Context(), time.Time{}, time.Time{}); err != nil || len(days) != 0 {
		t.Errorf("union days after the migration: %v, %v; want none", days, err)
	}
	if _, err := s.LedgerUnions(t.Context(), mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimAll}); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("LedgerUnions of a day made before the migration: %v, want ErrNotFound", err)
	}
}
