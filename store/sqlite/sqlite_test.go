package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/sqlite"
	"github.com/mayflyhq/mayfly/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mayfly.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mayfly.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func closeStore(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)

type migration struct {
	version   int64
	appliedAt int64
}

// migrations reads schema_migrations directly, with the store closed.
func migrations(t *testing.T, path string) []migration {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []migration
	for rows.Next() {
		var m migration
		if err := rows.Scan(&m.version, &m.appliedAt); err != nil {
			t.Fatalf("scan schema_migrations: %v", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("schema_migrations: %v", err)
	}
	return out
}

// TestReopenKeepsDataAndMigrations: opening an existing database applies no
// migration again and loses nothing.
func TestReopenKeepsDataAndMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mayfly.db")
	s := open(t, path)
	p := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: epoch}
	if err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return s.CreatePrincipal(tx, p) }); err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	closeStore(t, s)
	before := migrations(t, path)
	if len(before) == 0 {
		t.Fatalf("schema_migrations after the first Open: got no rows, want the applied migrations")
	}

	for i := range 2 {
		s = open(t, path)
		got, err := s.Principal(ctx, "alice")
		if err != nil {
			t.Fatalf("reopen %d: Principal(alice): %v", i+1, err)
		}
		if got.ID != p.ID || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("reopen %d: Principal(alice) = %+v, want %+v", i+1, got, p)
		}
		closeStore(t, s)
		after := migrations(t, path)
		if len(after) != len(before) {
			t.Fatalf("reopen %d: schema_migrations got %v, want %v", i+1, after, before)
		}
		for j := range after {
			if after[j] != before[j] {
				t.Errorf("reopen %d: migration %d got %+v, want %+v (applied once, at first Open)", i+1, j, after[j], before[j])
			}
		}
	}
}

// TestFileMode: the database and the files SQLite keeps beside it are
// readable by the owner only, whatever the umask.
func TestFileMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "mayfly.db")
	s := open(t, path)
	defer s.Close()
	// A write makes sure the write-ahead log exists.
	err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
		return s.CreateRing(tx, &mayfly.Ring{Name: "main", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: epoch})
	})
	if err != nil {
		t.Fatalf("CreateRing: %v", err)
	}
	for _, name := range []string{"mayfly.db", "mayfly.db-wal", "mayfly.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if name != "mayfly.db" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode: got %#o, want 0600", name, got)
		}
	}
}

// TestDurableAcrossReopen: everything written before Close is there after
// reopening, including the revocation sequence.
func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mayfly.db")
	s := open(t, path)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Each change in a transaction of its own, as a running server commits them.
	write := func(what string, fn func(tx mayfly.Tx) error) {
		t.Helper()
		must(what, mayfly.Transact(ctx, s, fn))
	}
	write("CreatePrincipal", func(tx mayfly.Tx) error {
		return s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: epoch})
	})
	write("CreateRing", func(tx mayfly.Tx) error {
		return s.CreateRing(tx, &mayfly.Ring{Name: "main", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: epoch})
	})
	key := &mayfly.Key{KID: "kid-1", Ring: "main", Alg: mayfly.ES256, Public: []byte("pub"), Sealed: []byte("sealed"),
		CreatedAt: epoch, ActivateAt: epoch, DeactivateAt: epoch.Add(time.Hour), RetireAt: epoch.Add(2 * time.Hour)}
	write("SaveKeys", func(tx mayfly.Tx) error { return s.SaveKeys(tx, []*mayfly.Key{key}) })
	write("CreateClient", func(tx mayfly.Tx) error {
		return s.CreateClient(tx, &mayfly.Client{ID: "cli-1", Name: "c", OwnerID: "prn-1", Scopes: []string{"s"},
			Audiences: []string{"a"}, TokenTTL: time.Minute, Ring: "main", SecretHash: []byte("h"), CreatedAt: epoch})
	})
	jti, err := mayfly.NewJTI(epoch, zeroReader{})
	must("NewJTI", err)
	iat := epoch.Truncate(time.Second)
	write("RecordIssuances", func(tx mayfly.Tx) error {
		return s.RecordIssuances(tx, []mayfly.Issuance{{JTI: jti, KID: "kid-1", ClientID: "cli-1", PrincipalID: "prn-1",
			SourceIP: "10.0.0.1", IssuedAt: iat, ExpiresAt: iat.Add(time.Minute)}})
	})
	rev := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: jti, Until: epoch.Add(time.Hour), At: epoch}
	write("Revoke", func(tx mayfly.Tx) error { return s.Revoke(tx, rev) })
	must("UseAssertion", s.UseAssertion(ctx, "cli-1", "assert-1", epoch.Add(time.Hour)))
	write("CreateAdminCredential", func(tx mayfly.Tx) error {
		return s.CreateAdminCredential(tx, &mayfly.AdminCredential{ID: "adm-1", Name: "root", Role: mayfly.RoleAdmin, Hash: []byte("adm"), CreatedAt: epoch})
	})
	closeStore(t, s)

	s = open(t, path)
	defer s.Close()
	if _, err := s.Principal(ctx, "prn-1"); err != nil {
		t.Errorf("Principal after reopen: %v", err)
	}
	if _, err := s.Ring(ctx, "main"); err != nil {
		t.Errorf("Ring after reopen: %v", err)
	}
	if keys, err := s.Keys(ctx); err != nil || len(keys) != 1 || string(keys[0].Sealed) != "sealed" {
		t.Errorf("Keys after reopen: got %v, %v, want kid-1 with its sealed material", keys, err)
	}
	if c, err := s.Client(ctx, "cli-1"); err != nil || string(c.SecretHash) != "h" {
		t.Errorf("Client after reopen: got %+v, %v, want cli-1 with its secret hash", c, err)
	}
	if recs, err := s.Issuances(ctx, mayfly.IssuanceFilter{}); err != nil || len(recs) != 1 || recs[0].JTI != jti {
		t.Errorf("Issuances after reopen: got %v, %v, want the one record %s", recs, err, jti)
	}
	if revs, err := s.Revocations(ctx, 0, epoch); err != nil || len(revs) != 1 || revs[0].Seq != rev.Seq {
		t.Errorf("Revocations after reopen: got %v, %v, want seq %d", revs, err, rev.Seq)
	}
	if err := s.UseAssertion(ctx, "cli-1", "assert-1", epoch.Add(time.Hour)); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("UseAssertion reuse after reopen: got error %v, want ErrConflict", err)
	}
	if _, err := s.AdminCredentialByHash(ctx, []byte("adm")); err != nil {
		t.Errorf("AdminCredentialByHash after reopen: %v", err)
	}
	// The sequence continues where it was.
	next := &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: "cli-1", At: epoch}
	must("Revoke after reopen", mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return s.Revoke(tx, next) }))
	if next.Seq <= rev.Seq {
		t.Errorf("Seq after reopen: got %d, want > %d", next.Seq, rev.Seq)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestOneProcess: a database is open in one place at a time, since locks
// and change notices live in that process; closing it frees it.
func TestOneProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mayfly.db")
	s := open(t, path)
	if _, err := sqlite.Open(context.Background(), path); !errors.Is(err, mayfly.ErrConflict) {
		t.Fatalf("second Open of an open database: %v; want an error matching ErrConflict", err)
	}
	closeStore(t, s)
	closeStore(t, open(t, path))
}

// The ledger's suites on their own, so that -run Ledger finds them, with
// the checks that need two handles or the database itself.

func TestLedger(t *testing.T) {
	storetest.Ledger(t, func(t *testing.T) storetest.LedgerStore {
		return open(t, filepath.Join(t.TempDir(), "mayfly.db"))
	})
}

func TestLedgerShared(t *testing.T) {
	storetest.LedgerShared(t, func(t *testing.T) (storetest.LedgerStore, storetest.LedgerStore) {
		// One process holds a SQLite database: its goroutines share one
		// handle.
		s := open(t, filepath.Join(t.TempDir(), "mayfly.db"))
		t.Cleanup(func() { closeStore(t, s) })
		return s, s
	})
}

func TestLedgerDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mayfly.db")
	s := open(t, path)
	defer closeStore(t, s)
	storetest.LedgerDamaged(t, s, func(t *testing.T, records []byte) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`PRAGMA busy_timeout = 10000`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE ledger_buckets SET records = ?`, records); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLedgerJournal(t *testing.T) {
	storetest.LedgerJournal(t, func(t *testing.T) storetest.LedgerStore {
		return open(t, filepath.Join(t.TempDir(), "mayfly.db"))
	})
	storetest.LedgerJournalShared(t, func(t *testing.T) (storetest.LedgerStore, storetest.LedgerStore) {
		s := open(t, filepath.Join(t.TempDir(), "mayfly.db"))
		t.Cleanup(func() { closeStore(t, s) })
		return s, s
	})
}

// The alerts' suites on their own, so that -run Alerts finds them.

func TestAlerts(t *testing.T) {
	storetest.Alerts(t, func(t *testing.T) storetest.AlertStore {
		return open(t, filepath.Join(t.TempDir(), "mayfly.db"))
	})
}

func TestAlertsShared(t *testing.T) {
	storetest.AlertsShared(t, func(t *testing.T) (storetest.AlertStore, storetest.AlertStore) {
		s := open(t, filepath.Join(t.TempDir(), "mayfly.db"))
		t.Cleanup(func() { closeStore(t, s) })
		return s, s
	})
}

// TestDriverKeepsBlobs holds the driver to what the store's KeepsBlobs
// relies on: a blob scanned into a sql.RawBytes is not overwritten by the
// rows read after it, small or spilling over many pages, nor by closing.
func TestDriverKeepsBlobs(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "blobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE b (i INTEGER PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	blob := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }
	const rows = 6
	for i := range rows {
		n := 16 // the odd rows spill over into overflow pages
		if i%2 == 1 {
			n = 100_000
		}
		if _, err := db.Exec(`INSERT INTO b (i, v) VALUES (?, ?)`, i, blob(i, n)); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := db.Query(`SELECT v FROM b ORDER BY i`)
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	for rs.Next() {
		var v sql.RawBytes
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, v)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	if len(kept) != rows {
		t.Fatalf("read %d rows, want %d", len(kept), rows)
	}
	for i, v := range kept {
		if want := blob(i, len(v)); !bytes.Equal(v, want) || (i%2 == 1) != (len(v) == 100_000) {
			t.Errorf("row %d's blob changed after the rows after it were read: %d bytes beginning %q", i, len(v), v[:min(len(v), 8)])
		}
	}
}
