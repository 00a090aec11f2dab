package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
	"github.com/mayflyhq/mayfly/store/storetest"
)

// TestSuspensionBackfill: a database from before principals recorded who
// suspended them takes it from its audit log when it is migrated.
func TestSuspensionBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mayfly.db")
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
		if m.Version >= 6 {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, 0)`, m.Version); err != nil {
			t.Fatal(err)
		}
	}
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
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.SuspensionBackfilled(t, s, at)
}
