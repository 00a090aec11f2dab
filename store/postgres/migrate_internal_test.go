package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/mayflyhq/mayfly/store/storetest"
)

// TestSuspensionBackfill: a database from before principals recorded who
// suspended them takes it from its audit log when it is migrated.
func TestSuspensionBackfill(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn := migratedBefore(t, ctx, dsn, 6)
	at := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	if _, err := conn.Exec(ctx, `INSERT INTO principals (id, name, kind, status, created_at) VALUES ('prn_a', 'a', 'human', 'suspended', 1), ('prn_b', 'b', 'human', 'active', 1)`); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, `INSERT INTO audit_entries (idx, body, leaf_hash, time, action, principal, client, kid) VALUES
		(0, convert_to('{"v":1,"index":0,"action":"principal.suspended","actor":"adm_old","principal":"prn_a"}', 'UTF8'), '\x00', 1, 'principal.suspended', 'prn_a', '', ''),
		(1, convert_to('{"v":1,"index":1,"action":"principal.suspended","actor":"adm_scim","principal":"prn_a"}', 'UTF8'), '\x00', $1, 'principal.suspended', 'prn_a', '', ''),
		(2, convert_to('{"v":1,"index":2,"action":"principal.suspended","actor":"adm_x","principal":"prn_b"}', 'UTF8'), '\x00', 3, 'principal.suspended', 'prn_b', '', '')`, at.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	s := reopen(t, conn, dsn)
	storetest.SuspensionBackfilled(t, s, at)
}

// TestIssuanceDigestMigration: an issuance record from before records kept
// a token's digest reads back with an empty one once migrated.
func TestIssuanceDigestMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn := migratedBefore(t, ctx, dsn, 8)
	iat := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	jti := "0123456789abcdefghijklmnop"
	for _, q := range []string{
		`INSERT INTO principals (id, name, kind, status, created_at) VALUES ('prn_a', 'a', 'human', 'active', 1)`,
		`INSERT INTO rings (name, alg, lifetime, created_at) VALUES ('r', 'ES256', 1, 1)`,
		`INSERT INTO keys (kid, ring, alg, public, created_at, activate_at, deactivate_at, retire_at) VALUES ('kid_a', 'r', 'ES256', '\x00', 1, 1, 1, 1)`,
		`INSERT INTO clients (id, name, owner_id, scopes, audiences, token_ttl, ring, created_at) VALUES ('mfc_a', 'a', 'prn_a', '', '', 1, 'r', 1)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err := conn.Exec(ctx, `INSERT INTO issuances (jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp)
		SELECT $1, (SELECT ref FROM keys WHERE kid = 'kid_a'), (SELECT ref FROM clients WHERE id = 'mfc_a'),
			(SELECT ref FROM principals WHERE id = 'prn_a'), '10.0.0.1', 'agent/1', $2, $3`, jti, iat.Unix(), iat.Add(time.Hour).Unix())
	if err != nil {
		t.Fatal(err)
	}
	s := reopen(t, conn, dsn)
	storetest.IssuanceWithoutDigest(t, s, jti, iat)
}

// reopen closes conn and opens the store at dsn, which applies the
// migrations the database lacks.
func reopen(t *testing.T, conn *pgx.Conn, dsn string) *Store {
	t.Helper()
	conn.Close(context.Background())
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migratedBefore is a connection to a database at dsn holding the
// migrations before version, as one made by an older Mayfly would.
func migratedBefore(t *testing.T, ctx context.Context, dsn string, version int) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.Migrations(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version >= version {
			break
		}
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, 0)`, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// TestIssuancePartitionMigration: records made before issuance records
// were kept by day move into their days' partitions, none in the default,
// and are found by jti, subject and time as before.
func TestIssuancePartitionMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn := migratedBefore(t, ctx, dsn, 16)
	for _, q := range []string{
		`INSERT INTO principals (id, name, kind, status, created_at) VALUES ('prn_a', 'a', 'human', 'active', 1)`,
		`INSERT INTO rings (name, alg, lifetime, created_at) VALUES ('r', 'ES256', 1, 1)`,
		`INSERT INTO keys (kid, ring, alg, public, created_at, activate_at, deactivate_at, retire_at) VALUES ('kid_a', 'r', 'ES256', '\x00', 1, 1, 1, 1)`,
		`INSERT INTO clients (id, name, owner_id, scopes, audiences, token_ttl, ring, created_at) VALUES ('mfc_a', 'a', 'prn_a', '', '', 1, 'r', 1)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	days := []time.Time{time.Date(2025, 1, 1, 23, 59, 59, 0, time.UTC), time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 2, 13, 0, 0, 0, time.UTC)}
	var jtis []string
	for i, at := range days {
		jti, err := mayfly.NewJTI(at, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jtis = append(jtis, jti)
		_, err = conn.Exec(ctx, `INSERT INTO issuances (jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp, digest, subject)
			SELECT $1, (SELECT ref FROM keys WHERE kid = 'kid_a'), (SELECT ref FROM clients WHERE id = 'mfc_a'),
				(SELECT ref FROM principals WHERE id = 'prn_a'), '10.0.0.1', 'agent/1', $2, $3, $4, 'customer:1'`, jti, at.Unix(), at.Add(time.Hour).Unix(), fmt.Sprint("dg-", i))
		if err != nil {
			t.Fatal(err)
		}
	}
	s := reopen(t, conn, dsn)
	for table, want := range map[string]int{"issuances_20250101": 1, "issuances_20250102": 2, "issuances_default": 0, "issuances": 3} {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n != want {
			t.Errorf("%s holds %d records, want %d", table, n, want)
		}
	}
	for i, jti := range jtis {
		recs, err := s.Issuances(ctx, mayfly.IssuanceFilter{JTI: jti})
		if err != nil || len(recs) != 1 || !recs[0].IssuedAt.Equal(days[i]) || recs[0].Digest != fmt.Sprint("dg-", i) {
			t.Errorf("jti %s after the migration: %+v, %v", jti, recs, err)
		}
	}
	recs, err := s.Issuances(ctx, mayfly.IssuanceFilter{Subject: "customer:1", Limit: 2})
	if err != nil || len(recs) != 2 || recs[0].JTI != jtis[2] || recs[1].JTI != jtis[1] {
		t.Errorf("customer:1's newest two after the migration: %+v, %v", recs, err)
	}
	// Every index is made again, on the table and on each day's partition.
	var parent, perDay string
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'issuances'),
		(SELECT string_agg(indexdef, '; ' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'issuances_20250102')`).Scan(&parent, &perDay)
	if err != nil {
		t.Fatal(err)
	}
	if want := "issuances_client issuances_jti issuances_key issuances_subject"; parent != want {
		t.Errorf("indexes of issuances: %q, want %q", parent, want)
	}
	if !strings.Contains(perDay, "(subject, jti) WHERE (subject <> ''::text)") || strings.Count(perDay, "CREATE INDEX") != 4 {
		t.Errorf("indexes of a day's partition: %s", perDay)
	}
	// New records still number on from the old ones.
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT nextval('issuances_seq')`).Scan(&seq); err != nil || seq != 4 {
		t.Errorf("next seq: %d, %v; want 4", seq, err)
	}
}

// TestRefreshByFamilyMigration: refresh tokens stored by hash are kept,
// keyed by family and generation, when migration 18 is applied.
func TestRefreshByFamilyMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn := migratedBefore(t, ctx, dsn, 18)
	f, toks := storetest.RefreshBeforeMigration()
	if _, err := conn.Exec(ctx, `INSERT INTO refresh_families (id, client_id, subject, jkt, created_at, last_used, idle_expires_at, expires_at, current, revoked_at, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, '')`, f.ID, f.ClientID, f.Subject, f.JKT, f.CreatedAt.UnixNano(), f.LastUsed.UnixNano(),
		f.IdleExpiresAt.UnixNano(), f.ExpiresAt.UnixNano(), f.Current); err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if _, err := conn.Exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, source, used_at, used_from, retired_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tok.Hash, tok.FamilyID, tok.Generation, tok.IssuedAt.UnixNano(), tok.Source,
			sqlstore.Nanos(tok.UsedAt), tok.UsedFrom, sqlstore.Nanos(tok.RetiredAt)); err != nil {
			t.Fatal(err)
		}
	}
	s := reopen(t, conn, dsn)
	storetest.RefreshMigrated(t, s)
}

// TestUnionsServiceMigration: migration 19 drops the day unions made
// before services had theirs, so that maintenance makes them again.
func TestUnionsServiceMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn := migratedBefore(t, ctx, dsn, 19)
	day := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `INSERT INTO ledger_union_days (day, services, services_more) VALUES ($1, '[]', false)`, day.Unix()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO ledger_unions (day, namespace, dim, value, bucket_count, buckets, records)
		VALUES ($1, 'customer', '', '', 0, '\x00', NULL)`, day.Unix()); err != nil {
		t.Fatal(err)
	}
	s := reopen(t, conn, dsn)
	if days, err := s.LedgerUnionDays(ctx, time.Time{}, time.Time{}); err != nil || len(days) != 0 {
		t.Errorf("union days after the migration: %v, %v; want none", days, err)
	}
	if _, err := s.LedgerUnions(ctx, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimAll}); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("LedgerUnions of a day made before the migration: %v, want ErrNotFound", err)
	}
}
